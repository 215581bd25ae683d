# frozen_string_literal: true

$LOAD_PATH.unshift File.expand_path('../lib', __dir__)
require 'base64'
require 'json'
require 'openssl'
require 'minitest/autorun'
require 'rack/test'
require 'caddy_session'

SECRET = 'ruby-adapter-test-secret-0123456789abcdef'

# Tokens as Caddy signs them.
module Tokens
  module_function

  def b64(bytes)
    Base64.urlsafe_encode64(bytes, padding: false)
  end

  def claims(data = {}, exp: Time.now.to_i + 60, **more)
    { 'data' => data, 'iat' => Time.now.to_i, 'exp' => exp, 'new' => data.empty?, 'sid' => 'sid-1' }
      .merge(more.transform_keys(&:to_s))
  end

  def hs256(claims, secret: SECRET, alg: 'HS256')
    input = "#{b64(JSON.generate('alg' => alg, 'typ' => 'JWT'))}.#{b64(JSON.generate(claims))}"
    "#{input}.#{b64(OpenSSL::HMAC.digest('SHA256', secret, input))}"
  end

  def eddsa(claims, key, kid: 'k1', alg: 'EdDSA')
    input = "#{b64(JSON.generate('alg' => alg, 'kid' => kid, 'typ' => 'JWT'))}.#{b64(JSON.generate(claims))}"
    "#{input}.#{b64(key.sign(nil, input))}"
  end

  # The JWK's x: the raw 32-byte public key, the tail of its DER.
  def jwk_x(key)
    b64(key.public_to_der[-32..])
  end
end
