# frozen_string_literal: true

require 'base64'
require 'digest'
require 'json'
require 'net/http'
require 'openssl'
require 'uri'

module CaddySession
  # The token is missing or invalid: the request did not come through
  # Caddy's session handler (or was forged, expired, or meant for another
  # app). The middleware answers 401 without calling the app.
  class InvalidToken < StandardError; end

  # Verifies Caddy's session token with the one algorithm its key is for,
  # never the token's own choice: HS256 with Caddy's secret, or EdDSA
  # (Ed25519) with Caddy's public keys, from its JWKS or one PEM key.
  # `exp` is required and checked; `aud` when an audience is configured.
  class Verifier
    JWKS_TTL = 300 # seconds, as Caddy's Cache-Control says
    # The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the
    # JWK's 32-byte x follows it.
    ED25519_SPKI_PREFIX = ['302a300506032b6570032100'].pack('H*').freeze

    attr_reader :algorithm

    # One of secret: (HS256), jwks_url: or public_key: (EdDSA); audience:
    # checks `aud` when given.
    def initialize(secret: nil, jwks_url: nil, public_key: nil, audience: nil)
      @audience = audience.nil? || audience.empty? ? nil : audience
      if jwks_url && !jwks_url.empty?
        @algorithm = 'EdDSA'
        @jwks_uri = URI(jwks_url)
        @jwks = {}
        @jwks_at = nil
        @lock = Mutex.new
      elsif public_key && !public_key.empty?
        @algorithm = 'EdDSA'
        @public_key = ed25519_key(OpenSSL::PKey.read(public_key.gsub('\n', "\n")))
      elsif secret && !secret.empty?
        @algorithm = 'HS256'
        @secret = secret.b
      else
        raise ArgumentError, 'caddy-session: no key: set SESSION_SECRET (HS256), or SESSION_JWKS_URL or ' \
                             'SESSION_PUBLIC_KEY (EdDSA), or pass token_secret:, jwks_url: or public_key:'
      end
    end

    # The environment's keys when no argument gives one; a key given as an
    # argument is used alone. A JWKS URL or public key wins over a
    # SESSION_SECRET also present.
    def self.from_env(secret: nil, jwks_url: nil, public_key: nil, audience: nil, env: ENV)
      unless secret || jwks_url || public_key
        jwks_url = env['SESSION_JWKS_URL']
        public_key = env['SESSION_PUBLIC_KEY']
        secret = env['SESSION_SECRET'] if blank?(jwks_url) && blank?(public_key)
      end
      new(secret: secret, jwks_url: jwks_url, public_key: public_key, audience: audience || env['SESSION_AUDIENCE'])
    end

    def self.blank?(s)
      s.nil? || s.empty?
    end

    # The claims of a valid token; InvalidToken otherwise.
    def call(token, now: Time.now.to_i)
      if token.nil? || token.empty?
        raise InvalidToken, "no session token: the request did not come through Caddy's session handler"
      end

      parts = token.split('.', -1)
      raise InvalidToken, 'malformed token' unless parts.size == 3 && parts.all? { |p| p.match?(/\A[A-Za-z0-9_-]+\z/) }

      header = json_object(b64(parts[0]), 'header')
      raise InvalidToken, "token algorithm #{header['alg'].inspect}, want #{@algorithm}" unless header['alg'] == @algorithm

      input = "#{parts[0]}.#{parts[1]}"
      raise InvalidToken, 'bad signature' unless signed?(header, input, b64(parts[2]))

      claims = json_object(b64(parts[1]), 'payload')
      check(claims, now)
    end

    private

    def check(claims, now)
      exp = claims['exp']
      raise InvalidToken, 'token without exp' unless exp.is_a?(Numeric)
      raise InvalidToken, 'token expired' if now >= exp
      raise InvalidToken, 'token not valid yet' if claims['nbf'].is_a?(Numeric) && now < claims['nbf']
      if @audience
        aud = claims['aud']
        ok = aud.is_a?(Array) ? aud.include?(@audience) : aud == @audience
        raise InvalidToken, 'token for another audience' unless ok
      end
      raise InvalidToken, 'token without data' unless claims['data'].is_a?(Hash)

      claims
    end

    def signed?(header, input, sig)
      if @algorithm == 'HS256'
        return false unless sig.bytesize == 32

        OpenSSL.fixed_length_secure_compare(OpenSSL::HMAC.digest('SHA256', @secret, input), sig)
      else
        return false unless sig.bytesize == 64

        key = @public_key || jwks_key(header['kid'])
        key.verify(nil, sig, input)
      end
    rescue OpenSSL::PKey::PKeyError
      false
    end

    def b64(part)
      Base64.urlsafe_decode64(part)
    rescue ArgumentError
      raise InvalidToken, 'malformed token'
    end

    def json_object(bytes, what)
      value = JSON.parse(bytes.force_encoding(Encoding::UTF_8))
      raise InvalidToken, "token #{what} is not a JSON object" unless value.is_a?(Hash)

      value
    rescue JSON::ParserError
      raise InvalidToken, "token #{what} is not JSON"
    end

    def ed25519_key(pkey)
      raise ArgumentError, 'caddy-session: the public key is not an Ed25519 key' unless pkey.oid == 'ED25519'

      pkey
    end

    # The JWKS key for kid: the cached set, fetched again at once when the
    # kid is unknown (a key rotation) and after JWKS_TTL otherwise.
    def jwks_key(kid)
      raise InvalidToken, 'token without kid' unless kid.is_a?(String)

      @lock.synchronize do
        fresh = @jwks_at && Process.clock_gettime(Process::CLOCK_MONOTONIC) - @jwks_at < JWKS_TTL
        fetch_jwks unless fresh && @jwks.key?(kid)
        @jwks[kid] or raise InvalidToken, 'token signed by an unknown key'
      end
    end

    def fetch_jwks
      res = Net::HTTP.get_response(@jwks_uri)
      raise InvalidToken, "fetching the JWKS: status #{res.code}" unless res.is_a?(Net::HTTPSuccess)

      keys = {}
      Array(JSON.parse(res.body)['keys']).each do |jwk|
        next unless jwk.is_a?(Hash) && jwk['kty'] == 'OKP' && jwk['crv'] == 'Ed25519' && jwk['x'].is_a?(String)
        next if jwk['use'] && jwk['use'] != 'sig'

        x = Base64.urlsafe_decode64(jwk['x'])
        next unless x.bytesize == 32

        kid = jwk['kid'].is_a?(String) ? jwk['kid'] : thumbprint(jwk['x'])
        keys[kid] = OpenSSL::PKey.read(ED25519_SPKI_PREFIX + x)
      end
      @jwks = keys
      @jwks_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    rescue SystemCallError, IOError, Timeout::Error, JSON::ParserError, ArgumentError, OpenSSL::PKey::PKeyError => e
      raise InvalidToken, "fetching the JWKS: #{e.class}: #{e.message}"
    end

    # RFC 7638: the key's id when the JWK names none.
    def thumbprint(x)
      Base64.urlsafe_encode64(Digest::SHA256.digest(%({"crv":"Ed25519","kty":"OKP","x":"#{x}"})), padding: false)
    end
  end
end
