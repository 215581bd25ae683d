# frozen_string_literal: true

require_relative 'test_helper'
require 'socket'

# The token: HS256 or EdDSA pinned by the key, exp required, aud checked.
class TokenTest < Minitest::Test
  include Tokens

  def hs
    CaddySession::Verifier.new(secret: SECRET, audience: 'app1')
  end

  def test_hs256_valid
    assert_equal({ 'n' => 1 }, hs.call(hs256(claims({ 'n' => 1 }, aud: 'app1')))['data'])
  end

  def test_hs256_refused
    valid = hs256(claims({ 'n' => 1 }, aud: 'app1'))
    h, _p, s = valid.split('.')
    other = hs256(claims({ 'n' => 1000 }, aud: 'app1')).split('.')[1]
    {
      'no token' => nil,
      'empty' => '',
      'garbage' => 'not-a-jwt',
      'wrong secret' => hs256(claims({}, aud: 'app1'), secret: 'another-secret-0123456789abcdefghij'),
      'expired' => hs256(claims({}, aud: 'app1', exp: Time.now.to_i - 1)),
      'wrong audience' => hs256(claims({}, aud: 'app2')),
      'no audience' => hs256(claims({})),
      'alg none' => "#{b64('{"alg":"none"}')}.#{valid.split('.')[1]}.",
      'alg HS512 claimed' => hs256(claims({}, aud: 'app1'), alg: 'HS512'),
      'payload swap' => "#{h}.#{other}.#{s}",
      'no signature' => "#{h}.#{valid.split('.')[1]}.",
      'two parts' => "#{h}.#{valid.split('.')[1]}",
      'no exp' => hs256(claims({}, aud: 'app1').tap { |c| c.delete('exp') }),
      'data not an object' => hs256(claims({}, aud: 'app1').merge('data' => [1]))
    }.each do |what, token|
      assert_raises(CaddySession::InvalidToken, what) { hs.call(token) }
    end
  end

  def test_no_key
    assert_raises(ArgumentError) { CaddySession::Verifier.from_env(env: {}) }
  end

  def test_env_eddsa_wins_over_secret
    key = OpenSSL::PKey.generate_key('ED25519')
    v = CaddySession::Verifier.from_env(env: { 'SESSION_SECRET' => SECRET, 'SESSION_PUBLIC_KEY' => key.public_to_pem })
    assert_equal 'EdDSA', v.algorithm
    assert_raises(CaddySession::InvalidToken) { v.call(hs256(claims)) }
  end

  def test_eddsa_public_key
    key = OpenSSL::PKey.generate_key('ED25519')
    other = OpenSSL::PKey.generate_key('ED25519')
    v = CaddySession::Verifier.new(public_key: key.public_to_pem, audience: 'app1')
    assert_equal({ 'n' => 2 }, v.call(eddsa(claims({ 'n' => 2 }, aud: 'app1'), key))['data'])
    {
      'another key' => eddsa(claims({}, aud: 'app1'), other),
      'expired' => eddsa(claims({}, aud: 'app1', exp: Time.now.to_i - 1), key),
      'wrong audience' => eddsa(claims({}, aud: 'app2'), key),
      'HS256 with the secret' => hs256(claims({}, aud: 'app1')),
      'HS256 keyed with the PEM' => hs256(claims({}, aud: 'app1'), secret: key.public_to_pem),
      'EdDSA signature, alg HS256' => eddsa(claims({}, aud: 'app1'), key, alg: 'HS256')
    }.each do |what, token|
      assert_raises(CaddySession::InvalidToken, what) { v.call(token) }
    end
  end

  def test_eddsa_public_key_escaped_newlines
    key = OpenSSL::PKey.generate_key('ED25519')
    v = CaddySession::Verifier.new(public_key: key.public_to_pem.gsub("\n", '\n'))
    assert_equal({}, v.call(eddsa(claims, key))['data'])
  end

  def test_not_ed25519
    rsa = OpenSSL::PKey::RSA.new(2048)
    assert_raises(ArgumentError) { CaddySession::Verifier.new(public_key: rsa.public_to_pem) }
  end

  # The JWKS: keys by kid; an unknown kid fetches the set again at once (a
  # rotation); a kid the set does not name is refused.
  def test_eddsa_jwks_rotation
    k1 = OpenSSL::PKey.generate_key('ED25519')
    k2 = OpenSSL::PKey.generate_key('ED25519')
    jwks = { 'keys' => [{ 'kty' => 'OKP', 'crv' => 'Ed25519', 'x' => jwk_x(k1), 'kid' => 'k1', 'alg' => 'EdDSA', 'use' => 'sig' }] }
    url, fetches = serve { JSON.generate(jwks) }
    v = CaddySession::Verifier.new(jwks_url: url, audience: 'app1')
    assert_equal({ 'a' => 1 }, v.call(eddsa(claims({ 'a' => 1 }, aud: 'app1'), k1, kid: 'k1'))['data'])
    v.call(eddsa(claims({}, aud: 'app1'), k1, kid: 'k1'))
    assert_equal 1, fetches.size, 'a known kid is served from the cache'

    assert_raises(CaddySession::InvalidToken) { v.call(eddsa(claims({}, aud: 'app1'), k2, kid: 'k2')) }
    jwks['keys'].unshift('kty' => 'OKP', 'crv' => 'Ed25519', 'x' => jwk_x(k2), 'kid' => 'k2')
    assert_equal({ 'b' => 2 }, v.call(eddsa(claims({ 'b' => 2 }, aud: 'app1'), k2, kid: 'k2'))['data'])
    assert_raises(CaddySession::InvalidToken) { v.call(eddsa(claims({}, aud: 'app1'), k2, kid: 'k1')) }
    assert_raises(CaddySession::InvalidToken) { v.call(eddsa(claims({}, aud: 'app2'), k2, kid: 'k2')) }
  end

  # A one-route HTTP server on a free port; the block gives each answer.
  def serve(&answer)
    server = TCPServer.new('127.0.0.1', 0)
    fetches = Queue.new
    thread = Thread.new do
      loop do
        conn = server.accept
        conn.gets("\r\n\r\n")
        fetches << 1
        body = answer.call
        conn.write("HTTP/1.1 200 OK\r\nContent-Type: application/jwk-set+json\r\nContent-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}")
        conn.close
      end
    end
    Minitest.after_run { thread.kill }
    ["http://127.0.0.1:#{server.addr[1]}/.well-known/jwks.json", fetches]
  end
end
