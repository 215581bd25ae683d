# frozen_string_literal: true

require 'base64'
require 'json'
require 'time'

module CaddySession
  # A session value no convention covers (a Proc, a Date, a NaN, a Hash
  # keyed by integers): raised, naming the session key, before any update
  # header is made, so nothing of the request is kept.
  class UnstorableValue < TypeError; end

  # A value another language stored that Ruby cannot use but must give back
  # as it came (a PHP object: `{" php": {...}}`). Written back unchanged.
  class Foreign
    attr_reader :tag, :value

    def initialize(tag, value)
      @tag = tag
      @value = value
      freeze
    end

    def ==(other)
      other.is_a?(Foreign) && other.tag == tag && other.value == value
    end
    alias eql? ==

    def hash
      [Foreign, tag, value].hash
    end

    def inspect
      "#<CaddySession::Foreign #{tag.strip}>"
    end
  end

  # The JSON convention every adapter reads and writes (docs/adapters.md,
  # "Values that are not JSON"): plain JSON travels as itself; what JSON
  # cannot hold travels as a one-key object whose key is a tag starting
  # with a space, Flask's TaggedJSONSerializer scheme.
  module Values
    BINARY = ' b'
    TUPLE = ' t'
    UUID = ' u'
    MARKUP = ' m'
    HTTP_DATE = ' d'
    TIME = ' tm'
    SYMBOL = ' sym'
    PHP = ' php'
    ESCAPE = ' di'
    # The tags whose one-key objects a writer must escape (Flask escapes
    # its own tags; an unknown tag reads back as a plain object anyway).
    TAGS = [ESCAPE, BINARY, TUPLE, UUID, MARKUP, HTTP_DATE, TIME, SYMBOL, PHP].freeze

    module_function

    # The JSON text of a session value, in the convention, ASCII only (a
    # header carries it). key names the session key in errors.
    def dump(value, key)
      JSON.generate(encode(value, key), ascii_only: true)
    rescue JSON::GeneratorError => e
      raise UnstorableValue, "caddy-session: session[#{key.inspect}] cannot be stored (#{e.message}); the session was not saved"
    end

    # The value with everything JSON cannot hold turned into its tag.
    def encode(value, key)
      case value
      when nil, true, false, Integer
        value
      when Float
        unless value.finite?
          raise UnstorableValue, "caddy-session: session[#{key.inspect}] holds #{value}, which JSON cannot hold; the session was not saved"
        end
        value
      when String
        encode_string(value)
      when Symbol
        { SYMBOL => encode_string(value.name) }
      when Time
        { TIME => rfc3339(value) }
      when Array
        value.map { |v| encode(v, key) }
      when Hash
        encode_hash(value, key)
      when Foreign
        { value.tag => value.value }
      else
        if defined?(ActiveSupport::TimeWithZone) && value.is_a?(ActiveSupport::TimeWithZone)
          { TIME => rfc3339(value.to_time) }
        else
          raise UnstorableValue, "caddy-session: session[#{key.inspect}] holds a #{value.class}, which the session " \
                                 'cannot store (JSON, binary strings, symbols and times only); the session was not saved'
        end
      end
    end

    def encode_hash(hash, key)
      out = {}
      hash.each do |k, v|
        name = case k
               when String then k
               when Symbol then k.name # Rack and Rails stringify keys
               else
                 raise UnstorableValue, "caddy-session: session[#{key.inspect}] has a #{k.class} key (#{k.inspect}); " \
                                        'session hashes are keyed by strings or symbols; the session was not saved'
               end
        name = encode_string(name)
        unless name.is_a?(String)
          raise UnstorableValue, "caddy-session: session[#{key.inspect}] has a key that is not valid UTF-8; the session was not saved"
        end
        out[name] = encode(v, key)
      end
      # A one-key object whose key is a tag would read back as that tag:
      # escape it as Flask does, the key suffixed with "__".
      out = { ESCAPE => { "#{out.keys.first}__" => out.values.first } } if out.size == 1 && TAGS.include?(out.keys.first)
      out
    end

    # Text travels as a JSON string; bytes (not valid in their encoding,
    # or ASCII-8BIT that is not valid UTF-8) as " b". Text in another
    # encoding becomes UTF-8. An ASCII-8BIT string that is valid UTF-8
    # travels as text: Puma hands the app every request string (params,
    # headers, the path) as ASCII-8BIT, and a user name or a CSRF token
    # taken from them is text to the other apps sharing the session, not
    # bytes. It reads back in Ruby as a UTF-8 String.
    def encode_string(str)
      if str.encoding == Encoding::BINARY
        text = str.dup.force_encoding(Encoding::UTF_8)
        return text.valid_encoding? ? text : { BINARY => Base64.strict_encode64(str) }
      end
      if !str.valid_encoding?
        { BINARY => Base64.strict_encode64(str) }
      elsif str.encoding == Encoding::UTF_8 || str.encoding == Encoding::US_ASCII
        str
      else
        begin
          str.encode(Encoding::UTF_8)
        rescue EncodingError
          { BINARY => Base64.strict_encode64(str) }
        end
      end
    end

    # RFC 3339 with nanoseconds and the time's own offset ("Z" for UTC).
    def rfc3339(time)
      time.strftime('%Y-%m-%dT%H:%M:%S.%N') + (time.utc? ? 'Z' : time.strftime('%:z'))
    end

    # The Ruby value of parsed JSON in the convention. A tag whose payload
    # is not what the tag says stays a plain Hash, as an unknown tag does.
    def decode(value)
      case value
      when Array
        value.map { |v| decode(v) }
      when Hash
        return decode_tag(value) if value.size == 1 && value.keys.first.start_with?(' ')

        value.transform_values { |v| decode(v) }
      else
        value
      end
    end

    def decode_tag(hash)
      tag, payload = hash.first
      case tag
      when BINARY
        return Base64.strict_decode64(payload).force_encoding(Encoding::BINARY) if payload.is_a?(String)
      when TUPLE
        return payload.map { |v| decode(v) } if payload.is_a?(Array)
      when UUID, MARKUP
        return payload if payload.is_a?(String)
      when HTTP_DATE
        return Time.httpdate(payload).utc if payload.is_a?(String)
      when TIME
        return Time.iso8601(payload) if payload.is_a?(String)
      when SYMBOL
        return payload.to_sym if payload.is_a?(String)
      when PHP
        return Foreign.new(tag, payload)
      when ESCAPE
        if payload.is_a?(Hash) && payload.size == 1
          k, v = payload.first
          return { k.delete_suffix('__') => decode(v) }
        end
      end
      hash.transform_values { |v| decode(v) }
    rescue ArgumentError
      # A malformed payload (bad base64, an unparsable time): a plain Hash.
      hash.transform_values { |v| decode(v) }
    end
  end
end
