# frozen_string_literal: true

require 'securerandom'
require_relative 'values'

module CaddySession
  # `env['rack.session.options']`: Rack's per-request session options, a
  # Hash that remembers whether the app assigned the cookie's lifetime
  # (`:expire_after`, `:max_age`) during the request.
  class Options < Hash
    LIFETIME = %i[expire_after max_age].freeze

    def lifetime_set?
      @lifetime_set || false
    end

    def []=(key, value)
      @lifetime_set = true if LIFETIME.include?(key)
      super
    end
    alias store []=

    def update(*others, &block)
      @lifetime_set = true if others.any? { |h| LIFETIME.any? { |k| h.key?(k) } }
      super
    end
    alias merge! update

    def delete(key, &block)
      @lifetime_set = true if LIFETIME.include?(key) && key?(key)
      super
    end
  end

  # `env['rack.session']`: Rack's session hash (Rack::Session::Abstract::
  # SessionHash's API, which Sinatra's and Rails' `session` are), with the
  # data from Caddy's token. Keys are strings; a Symbol key means its name.
  class SessionHash
    include Enumerable

    Unspecified = Object.new.freeze

    # The verified token's claims: new, sid, expires_at, store_error, ...
    attr_reader :claims
    attr_writer :id

    def initialize(data, claims, options)
      @data = data
      @claims = claims
      @options = options
      @id = claims['sid'].is_a?(String) ? claims['sid'] : SecureRandom.hex(16)
      # What the request did besides changing keys.
      @destroyed = false
      @cleared = false
    end

    # The token's sid: opaque, stable for one session key, never the cookie.
    attr_reader :id

    def options
      @options
    end

    def each(&block)
      @data.each(&block)
    end

    def [](key)
      @data[key.to_s]
    end

    def dig(key, *keys)
      @data.dig(key.to_s, *keys)
    end

    def fetch(key, default = Unspecified, &block)
      if default.equal?(Unspecified)
        @data.fetch(key.to_s, &block)
      else
        @data.fetch(key.to_s, default, &block)
      end
    end

    def has_key?(key)
      @data.key?(key.to_s)
    end
    alias key? has_key?
    alias include? has_key?

    def []=(key, value)
      @data[key.to_s] = value
    end
    alias store []=

    # Data gone, key kept: Rack's clear (X-Session-Clear).
    def clear
      @data.clear
      @cleared = true unless @destroyed
    end

    # Data and key gone: Rack's destroy, Rails' reset_session
    # (X-Session-Flush). Values set afterwards start a new session.
    def destroy
      @data.clear
      @destroyed = true
      @cleared = false
      @id = SecureRandom.hex(16)
    end

    def to_hash
      @data.dup
    end
    alias to_h to_hash

    def update(hash)
      @data.update(stringify_keys(hash))
    end
    alias merge! update

    def replace(hash)
      @data.replace(stringify_keys(hash))
    end

    def delete(key, &block)
      @data.delete(key.to_s, &block)
    end

    def inspect
      @data.inspect
    end

    def exists?
      !@claims['new']
    end

    def loaded?
      true
    end

    def enabled?
      true
    end

    def empty?
      @data.empty?
    end

    def keys
      @data.keys
    end

    def values
      @data.values
    end

    def destroyed?
      @destroyed
    end

    def cleared?
      @cleared
    end

    private

    def stringify_keys(other)
      other.to_hash.transform_keys(&:to_s)
    end
  end

  # The update headers for what a request did to its session, compared
  # key by key with what the token brought: only the keys it changed.
  class Changes
    # Each key's JSON as the token brought it (nil: JSON cannot write the
    # value back, e.g. a number past Float's range; unchanged unless set).
    def initialize(data)
      @base = {}
      @original = {}
      data.each do |k, v|
        @original[k] = v
        @base[k] = begin
          Values.dump(v, k)
        rescue UnstorableValue
          nil
        end
      end
    end

    # [[suffix, value], ...] in the order Caddy applies them. Raises
    # UnstorableValue (or ArgumentError for a bad lifetime), naming the
    # key, before any header is made.
    def headers(session, options)
      return [] if options[:skip]
      # Rack: a dropped session is deleted and nothing is written.
      return [%w[Flush 1]] if options[:drop]

      base = session.destroyed? || session.cleared? ? {} : @base
      set = []
      now = {}
      session.each do |k, v|
        if v.nil?
          # Rack writes no nil value: setting one removes the key. A null
          # another app stored, left alone, stays.
          now[k] = true if base.key?(k) && base[k] == 'null'
          next
        end
        now[k] = true
        next if base.key?(k) && base[k].nil? && v.equal?(@original[k])

        json = Values.dump(v, k)
        set << "#{JSON.generate(k, ascii_only: true)}:#{json}" unless base[k] == json
      end
      deleted = base.keys.reject { |k| now.key?(k) }

      out = []
      out << %w[Flush 1] if session.destroyed?
      out << %w[Clear 1] if session.cleared?
      out << ['Delete', JSON.generate(deleted, ascii_only: true)] unless deleted.empty?
      out << ['Set', "{#{set.join(',')}}"] unless set.empty?
      # A destroyed session gets a new key anyway.
      out << %w[Cycle-Key 1] if options[:renew] && !session.destroyed?
      out << ['Expiry', expiry(options[:max_age] || options[:expire_after])] if options.is_a?(Options) && options.lifetime_set?
      out
    end

    private

    # Rack's cookie lifetime in seconds (nil: until the browser closes),
    # as Caddy's X-Session-Expiry.
    def expiry(life)
      return '0' if life.nil?
      unless life.is_a?(Numeric) && life >= 0
        raise ArgumentError, "caddy-session: session_options[:expire_after] must be seconds >= 0 or nil, not #{life.inspect}"
      end

      life.round.to_s
    end
  end
end
