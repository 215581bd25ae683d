# frozen_string_literal: true

require 'rack'
require_relative 'session'
require_relative 'token'
require_relative 'values'

module CaddySession
  # Rack middleware: `env['rack.session']` kept by Caddy's `session`
  # handler. It verifies the token Caddy sends (401 without calling the app
  # when it is missing, forged, expired or for another audience), gives the
  # app Rack's session hash and options, and when the app returns (where
  # Rack's own session middleware commits) answers only what the request
  # changed, as update headers.
  #
  #   use CaddySession::Middleware                          # config.ru, any Rack app
  #   set :session_store, CaddySession::Middleware          # Sinatra, with enable :sessions
  #   config.session_store CaddySession::Middleware         # Rails
  #
  # Options: token_secret: (HS256; default ENV['SESSION_SECRET']), jwks_url:
  # (EdDSA; ENV['SESSION_JWKS_URL']), public_key: (EdDSA, PEM;
  # ENV['SESSION_PUBLIC_KEY']), audience: (ENV['SESSION_AUDIENCE']),
  # header: (Caddy's `header`; ENV['CADDY_SESSION_HEADER'] or 'X-Session'),
  # logger: (an object with #error; default env['rack.errors']). Other
  # options (:secret, :key, :path, :domain, :expire_after, ...) are the
  # cookie store's: they stay in `session_options` for the app to read, and
  # the cookie itself is Caddy's.
  class Middleware
    UPDATES = %w[Flush Clear Delete Set Cycle-Key Expiry].freeze
    OWN_OPTIONS = %i[token_secret jwks_url public_key audience header logger].freeze
    CLAIMS = 'caddy_session.claims'

    def initialize(app, options = {})
      @app = app
      @verifier = Verifier.from_env(secret: options[:token_secret], jwks_url: options[:jwks_url],
                                    public_key: options[:public_key], audience: options[:audience])
      @base = options[:header] || ENV['CADDY_SESSION_HEADER'] || 'X-Session'
      @token_key = "HTTP_#{@base.upcase.tr('-', '_')}"
      @logger = options[:logger]
      @defaults = options.reject { |k, _| OWN_OPTIONS.include?(k) }.freeze
      # Rack 3 wants lower-case header names; Rack 2 keeps them as given.
      lower = Rack.release.split('.').first.to_i >= 3
      @names = UPDATES.to_h { |u| [u, lower ? "#{@base}-#{u}".downcase : "#{@base}-#{u}"] }.freeze
      @own = @names.values.map(&:downcase).freeze
    end

    def call(env)
      begin
        claims = @verifier.call(token(env))
      rescue InvalidToken => e
        log(env, "caddy-session: request refused: #{e.message}")
        return [401, { 'content-type' => 'text/plain' }, ["caddy-session: missing or invalid session token\n"]]
      end
      data = Values.decode(claims['data'])
      changes = Changes.new(data)
      options = Options[@defaults]
      session = SessionHash.new(data, claims, options)
      options[:id] = session.id
      env[CLAIMS] = claims
      env[Rack::RACK_SESSION] = session
      env[Rack::RACK_SESSION_OPTIONS] = options

      status, headers, body = @app.call(env)
      commit(env, changes, status, headers, body)
    end

    private

    # The token header, joined with X-Session-Part-2, -3, ... when Caddy
    # split a long token over several header lines (the signature covers
    # the whole, so a part missing or out of place fails verification).
    def token(env)
      token = env[@token_key]
      i = 2
      while token && (part = env["#{@token_key}_PART_#{i}"])
        token += part
        i += 1
      end
      token
    end

    # What Rack's Persisted#commit_session does, at the same moment: after
    # the app returned, before the body is iterated.
    def commit(env, changes, status, headers, body)
      session, options = current(env)
      begin
        updates = changes.headers(session, options)
      rescue UnstorableValue, ArgumentError => e
        body.close if body.respond_to?(:close)
        log(env, e.message)
        return [500, { 'content-type' => 'text/plain' }, ["caddy-session: the session could not be saved\n"]]
      end
      headers.keys.each { |k| headers.delete(k) if @own.include?(k.downcase) }
      updates.each { |suffix, value| headers[@names[suffix]] = value }

      # A change made while the body streams cannot be sent any more: Rack's
      # own stores lose it silently; say so.
      body = Rack::BodyProxy.new(body) do
        s, o = current(env)
        late = begin
          changes.headers(s, o) != updates
        rescue StandardError
          true
        end
        log(env, 'caddy-session: the session changed after the response headers were made; that change is lost') if late
      end
      [status, headers, body]
    end

    # The session and options as the app left them (it may have replaced
    # either with a plain Hash).
    def current(env)
      options = env[Rack::RACK_SESSION_OPTIONS] || {}
      session = env[Rack::RACK_SESSION]
      unless session.is_a?(SessionHash)
        session = SessionHash.new((session || {}).to_hash.transform_keys(&:to_s), env[CLAIMS], options)
      end
      [session, options]
    end

    def log(env, message)
      if @logger
        @logger.error(message)
      elsif env['rack.errors']
        env['rack.errors'].puts(message)
      end
    end
  end
end
