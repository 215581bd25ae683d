# frozen_string_literal: true

require_relative 'test_helper'
require 'date'
require 'stringio'

# Each session call through the middleware, and the exact update headers
# it answers with.
class MiddlewareTest < Minitest::Test
  include Rack::Test::Methods
  include Tokens

  UPDATE_HEADERS = %w[X-Session-Flush X-Session-Clear X-Session-Delete X-Session-Set X-Session-Cycle-Key X-Session-Expiry].freeze

  def setup
    @action = ->(_s, _o) {}
    @errors = StringIO.new
    @calls = 0
  end

  def app
    action = -> { @action }
    test = self
    inner = lambda do |env|
      test.instance_variable_set(:@calls, test.instance_variable_get(:@calls) + 1)
      out = action.call.call(env['rack.session'], env['rack.session.options'])
      [200, { 'content-type' => 'text/plain' }, [out.is_a?(String) ? out : 'ok']]
    end
    CaddySession::Middleware.new(inner, token_secret: SECRET, secret: 'a cookie store secret, not the token key')
  end

  # One request carrying data; the update headers it answered.
  def run_with(data = {}, &action)
    @action = action
    header 'X-Session', hs256(claims(data))
    get '/', {}, 'rack.errors' => @errors
    UPDATE_HEADERS.to_h { |h| [h, last_response.headers[h]] }.compact
  end

  def test_read_only_sends_nothing
    assert_equal({}, run_with('n' => 1, 'cart' => [1, 2]) { |s, _| s[:n] + s['cart'].size })
    assert_equal 200, last_response.status
  end

  def test_set
    assert_equal({ 'X-Session-Set' => '{"n":2}' }, run_with('n' => 1, 'other' => 'x') { |s, _| s[:n] += 1 })
  end

  def test_set_same_value_sends_nothing
    assert_equal({}, run_with('n' => 1) { |s, _| s['n'] = 1 })
  end

  def test_in_place_change
    assert_equal({ 'X-Session-Set' => '{"cart":[1,2,3]}' }, run_with('cart' => [1, 2]) { |s, _| s[:cart] << 3 })
  end

  def test_delete
    assert_equal({ 'X-Session-Delete' => '["a"]' }, run_with('a' => 1, 'b' => 2) { |s, _| s.delete(:a) })
  end

  def test_nil_deletes_as_rack_does
    assert_equal({ 'X-Session-Delete' => '["a"]' }, run_with('a' => 1) { |s, _| s[:a] = nil })
    assert_equal({}, run_with({}) { |s, _| s[:a] = nil })
  end

  def test_null_from_another_app_stays
    assert_equal({ 'X-Session-Set' => '{"n":1}' }, run_with('none' => nil) { |s, _| s[:n] = 1 })
  end

  def test_clear
    assert_equal({ 'X-Session-Clear' => '1', 'X-Session-Set' => '{"u":"bob"}' },
                 run_with('a' => 1) { |s, _| s.clear; s[:u] = 'bob' })
  end

  def test_destroy
    assert_equal({ 'X-Session-Flush' => '1' }, run_with('a' => 1) { |s, _| s.destroy })
    assert_equal({ 'X-Session-Flush' => '1', 'X-Session-Set' => '{"u":"bob"}' },
                 run_with('a' => 1) { |s, _| s.destroy; s[:u] = 'bob' })
  end

  def test_renew_cycles_the_key
    assert_equal({ 'X-Session-Set' => '{"user":"alice"}', 'X-Session-Cycle-Key' => '1' },
                 run_with('visits' => 2) { |s, o| o[:renew] = true; s[:user] = 'alice' })
  end

  def test_drop_flushes_and_writes_nothing
    assert_equal({ 'X-Session-Flush' => '1' }, run_with('a' => 1) { |s, o| s[:b] = 2; o[:drop] = true })
  end

  def test_skip_sends_nothing
    assert_equal({}, run_with('a' => 1) { |s, o| s[:a] = 2; o[:skip] = true })
  end

  def test_expire_after
    assert_equal({ 'X-Session-Set' => '{"u":"bob"}', 'X-Session-Expiry' => '2592000' },
                 run_with({}) { |s, o| s[:u] = 'bob'; o[:expire_after] = 30 * 86_400 })
    assert_equal({ 'X-Session-Expiry' => '0' }, run_with('u' => 'bob') { |_s, o| o[:expire_after] = nil })
    assert_equal({ 'X-Session-Expiry' => '60' }, run_with('u' => 'bob') { |_s, o| o[:max_age] = 60 })
  end

  def test_bad_expire_after
    assert_equal({}, run_with('u' => 'bob') { |s, o| s[:u] = 'eve'; o[:expire_after] = -1 })
    assert_equal 500, last_response.status
    assert_match(/expire_after/, @errors.string)
  end

  def test_session_options_and_id
    assert_equal 'sid-1|true|a cookie store secret, not the token key',
                 run_with('a' => 1) { |s, o| "#{s.id}|#{s.exists?}|#{o[:secret]}" } && last_response.body
  end

  def test_non_ascii_is_escaped
    assert_equal({ 'X-Session-Set' => '{"name":"zo\u00eb \u2603"}' }, run_with({}) { |s, _| s[:name] = "zoë ☃" })
  end

  def test_values_in_the_convention
    t = Time.new(2026, 12, 5, 8, 0, Rational(123_456_789, 1_000_000_000), '+01:00')
    got = run_with({}) do |s, _|
      s[:role] = :admin
      s[:at] = t
      s[:utc] = Time.utc(2026, 1, 2, 3, 4, 5)
      s[:key] = "\x00\xff\x10".b
      s[:bad_utf8] = "\xff".dup.force_encoding('UTF-8')
      s[:latin1] = 'é'.encode('ISO-8859-1')
      s[:user] = { id: 7, tags: %i[a b] }
      s[:looks_tagged] = { ' t' => [1] }
      s[:big] = 2**70
      s[:f] = 1.5
    end
    want = {
      'role' => { ' sym' => 'admin' },
      'at' => { ' tm' => '2026-12-05T08:00:00.123456789+01:00' },
      'utc' => { ' tm' => '2026-01-02T03:04:05.000000000Z' },
      'key' => { ' b' => 'AP8Q' },
      'bad_utf8' => { ' b' => '/w==' },
      'latin1' => 'é',
      'user' => { 'id' => 7, 'tags' => [{ ' sym' => 'a' }, { ' sym' => 'b' }] },
      'looks_tagged' => { ' di' => { ' t__' => [1] } },
      'big' => 2**70,
      'f' => 1.5
    }
    assert_equal want, JSON.parse(got.fetch('X-Session-Set'))
    assert_equal ['X-Session-Set'], got.keys
  end

  # Puma's request strings are ASCII-8BIT: one that is valid UTF-8 (a user
  # name from a form, a CSRF token) is text to the other languages.
  def test_binary_encoded_text_travels_as_text
    got = run_with({}) do |s, _|
      s[:user] = 'zoë'.b
      s[:token] = 'YWJj'.b
      s[:key] = "\x00\xff".b
    end
    assert_equal({ 'user' => 'zoë', 'token' => 'YWJj', 'key' => { ' b' => 'AP8=' } }, JSON.parse(got.fetch('X-Session-Set')))
  end

  def test_reads_every_tag
    data = {
      'b' => { ' b' => 'AP8Q' }, 't' => { ' t' => [1, { ' b' => 'AA==' }] }, 'u' => { ' u' => '5f3e6b1c-0000-4000-8000-000000000001' },
      'm' => { ' m' => '<b>x</b>' }, 'd' => { ' d' => 'Wed, 21 Oct 2015 07:28:00 GMT' },
      'tm' => { ' tm' => '2026-12-05T08:00:00.123456789+01:00' }, 'sym' => { ' sym' => 'admin' },
      'php' => { ' php' => { 'c' => 'Cart', 's' => 'O:4:"Cart":0:{}', 'h' => 'ab' } },
      'di' => { ' di' => { ' t__' => [1] } }, 'unknown' => { ' zz' => 1 }, 'bad' => { ' b' => '!!' }
    }
    seen = nil
    assert_equal({}, run_with(data) { |s, _| seen = s.to_hash })
    assert_equal "\x00\xff\x10".b, seen['b']
    assert_equal Encoding::BINARY, seen['b'].encoding
    assert_equal [1, "\x00".b], seen['t']
    assert_equal '5f3e6b1c-0000-4000-8000-000000000001', seen['u']
    assert_equal '<b>x</b>', seen['m']
    assert_equal Time.utc(2015, 10, 21, 7, 28, 0), seen['d']
    assert seen['d'].utc?
    assert_equal 123_456_789, seen['tm'].nsec
    assert_equal 3600, seen['tm'].utc_offset
    assert_equal :admin, seen['sym']
    assert_instance_of CaddySession::Foreign, seen['php']
    assert_equal({ ' t' => [1] }, seen['di'])
    assert_equal({ ' zz' => 1 }, seen['unknown'])
    assert_equal({ ' b' => '!!' }, seen['bad'])
  end

  # What Ruby writes, Ruby reads back identically (==, class, encoding,
  # offset, nanoseconds).
  def test_round_trip
    values = {
      'sym' => :admin, 'time' => Time.new(2026, 12, 5, 8, 0, Rational(123_456_789, 1_000_000_000), '-07:30'),
      'utc' => Time.at(1_700_000_000, 5, :nsec).utc, 'bin' => Random.new(1).bytes(32), 'text' => 'zoë',
      'nested' => { 'list' => [:a, 1, 2.5, nil, true, "\xfe".b] }, 'looks_tagged' => { ' sym' => 'not a symbol' },
      'php' => CaddySession::Foreign.new(' php', { 'c' => 'Cart', 's' => 's', 'h' => 'h' })
    }
    set = run_with({}) { |s, _| s.update(values) }.fetch('X-Session-Set')
    seen = nil
    assert_equal({}, run_with(JSON.parse(set)) { |s, _| seen = s.to_hash })
    values.each do |k, v|
      assert_equal v, seen[k], k
      assert_equal v.class, seen[k].class, k
    end
    assert_equal Encoding::BINARY, seen['bin'].encoding
    assert_equal(-27_000, seen['time'].utc_offset)
    assert seen['utc'].utc?
    assert_equal 5, seen['utc'].nsec
  end

  def test_unstorable_values_fail_naming_the_key
    {
      'a Proc' => proc {},
      'NaN' => Float::NAN,
      'an Infinity inside' => [1, Float::INFINITY],
      'an Integer-keyed Hash' => { 1 => 'a' },
      'a Date' => Date.new(2026, 12, 5),
      'a Struct' => Struct.new(:a).new(1),
      'an object' => Object.new
    }.each do |what, value|
      @errors = StringIO.new
      @calls = 0
      assert_equal({}, run_with('n' => 1) { |s, _| s[:n] = 2; s[:bad] = value }, what)
      assert_equal 500, last_response.status, what
      assert_match(/session\["bad"\]/, @errors.string, what)
      assert_equal 1, @calls
    end
  end

  def test_refuses_bad_tokens_without_calling_the_app
    ['', 'garbage', hs256(claims, secret: 'another-secret-0123456789abcdefghij'), hs256(claims(exp: Time.now.to_i - 1))].each do |token|
      header 'X-Session', token
      get '/', {}, 'rack.errors' => @errors
      assert_equal 401, last_response.status
      assert_equal({}, UPDATE_HEADERS.to_h { |h| [h, last_response.headers[h]] }.compact)
    end
    assert_equal 0, @calls
  end

  # Caddy splits a token over 8000 bytes into X-Session, X-Session-Part-2,
  # ...: joined in order it verifies; a part missing or out of order does not.
  def test_token_in_parts
    big = Random.new(1).bytes(15_000).unpack1('H*') # no two parts alike
    token = hs256(claims({ 'big' => big }))
    parts = token.scan(/.{1,8000}/m)
    assert_operator parts.size, :>=, 4
    seen = nil
    mw = CaddySession::Middleware.new(->(env) { seen = env['rack.session']['big']; [200, {}, ['ok']] }, token_secret: SECRET)
    env = { 'HTTP_X_SESSION' => parts[0], 'rack.errors' => @errors }
    parts.drop(1).each_with_index { |p, i| env["HTTP_X_SESSION_PART_#{i + 2}"] = p }
    assert_equal 200, mw.call(Rack::MockRequest.env_for('/', env))[0]
    assert_equal big, seen
    env.delete("HTTP_X_SESSION_PART_#{parts.size}")
    assert_equal 401, mw.call(Rack::MockRequest.env_for('/', env))[0]
    env["HTTP_X_SESSION_PART_#{parts.size}"] = parts[-1]
    env['HTTP_X_SESSION_PART_2'], env['HTTP_X_SESSION_PART_3'] = parts[2], parts[1]
    assert_equal 401, mw.call(Rack::MockRequest.env_for('/', env))[0]
  end

  def test_audience
    mw = CaddySession::Middleware.new(->(_env) { [200, {}, ['ok']] }, token_secret: SECRET, audience: 'app1')
    env = ->(aud) { Rack::MockRequest.env_for('/', 'HTTP_X_SESSION' => hs256(claims(aud: aud)), 'rack.errors' => @errors) }
    assert_equal 200, mw.call(env.call('app1'))[0]
    assert_equal 401, mw.call(env.call('app2'))[0]
  end

  def test_custom_header
    mw = CaddySession::Middleware.new(->(env) { env['rack.session'][:a] = 1; [200, {}, ['ok']] }, token_secret: SECRET, header: 'X-Sess')
    status, headers, = mw.call(Rack::MockRequest.env_for('/', 'HTTP_X_SESS' => hs256(claims)))
    assert_equal 200, status
    assert_equal({ 'X-Sess-Set' => '{"a":1}' }, headers)
  end

  # A middleware inside the session's (Rails' Flash, Rack::Protection)
  # that writes on the way out is seen: the update is made when the whole
  # stack below has returned, as Rack's own commit_session does.
  def test_writes_on_the_way_out_are_kept
    inner = ->(env) { env['rack.session'][:a] = 1; [200, {}, ['ok']] }
    on_the_way_out = lambda do |env|
      res = inner.call(env)
      env['rack.session']['flash'] = { 'notice' => 'saved' }
      res
    end
    mw = CaddySession::Middleware.new(on_the_way_out, token_secret: SECRET)
    status, headers, = mw.call(Rack::MockRequest.env_for('/', 'HTTP_X_SESSION' => hs256(claims)))
    assert_equal 200, status
    assert_equal({ 'X-Session-Set' => '{"a":1,"flash":{"notice":"saved"}}' }, headers)
  end

  # The update is made when the app returns (Rack's own commit); a change
  # while the body streams is logged as lost.
  def test_change_while_streaming_is_logged
    session = nil
    body = Object.new
    body.define_singleton_method(:each) { |&b| session[:late] = 1; b.call('x') }
    mw = CaddySession::Middleware.new(->(env) { session = env['rack.session']; session[:a] = 1; [200, {}, body] }, token_secret: SECRET)
    status, headers, proxy = mw.call(Rack::MockRequest.env_for('/', 'HTTP_X_SESSION' => hs256(claims), 'rack.errors' => @errors))
    assert_equal 200, status
    assert_equal({ 'X-Session-Set' => '{"a":1}' }, headers)
    proxy.each { |_| nil }
    proxy.close
    assert_match(/changed after the response headers were made; that change is lost/, @errors.string)
  end
end
