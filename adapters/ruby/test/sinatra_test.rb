# frozen_string_literal: true

require_relative 'test_helper'
require 'caddy_session/sinatra'

ENV['SESSION_SECRET'] = SECRET # the one line an operator adds: the key from the environment

# An unchanged Sinatra app (enable :sessions, Rack::Protection on) with
# caddy_session/sinatra required: its `session` is Caddy's.
class SinatraTest < Minitest::Test
  include Rack::Test::Methods
  include Tokens

  class App < Sinatra::Base
    enable :sessions
    set :environment, :production # Rack::Protection and no ShowExceptions, as deployed

    get '/' do
      session[:visits] = (session[:visits] || 0) + 1
      "visits=#{session[:visits]}"
    end

    post '/login' do
      request.session_options[:renew] = true
      request.session_options[:expire_after] = 30 * 86_400 if params['remember']
      session[:user] = params['user']
      redirect '/'
    end

    post '/logout' do
      session.destroy
      redirect '/'
    end
  end

  def app
    App
  end

  def test_visit
    header 'X-Session', hs256(claims({ 'visits' => 41, 'csrf' => 'c', 'tracking' => { 'HTTP_USER_AGENT' => '' } }))
    get '/'
    assert_equal 'visits=42', last_response.body
    assert_equal '{"visits":42}', last_response.headers['X-Session-Set']
    refute last_response.headers.key?('Set-Cookie'), 'no cookie of its own: the cookie is Caddy\'s'
  end

  def test_first_visit_keeps_protection_keys
    header 'X-Session', hs256(claims({}))
    get '/'
    assert_equal 'visits=1', last_response.body
    assert_equal({ 'visits' => 1, 'csrf' => String, 'tracking' => Hash },
                 JSON.parse(last_response.headers['X-Session-Set']).transform_values { |v| v.is_a?(Integer) ? v : v.class })
  end

  def test_login_and_logout
    header 'X-Session', hs256(claims({ 'visits' => 2, 'csrf' => 'c', 'tracking' => { 'HTTP_USER_AGENT' => '' } }))
    post '/login', 'user' => 'alice', 'remember' => '1'
    assert_equal 302, last_response.status
    assert_equal '{"user":"alice"}', last_response.headers['X-Session-Set']
    assert_equal '1', last_response.headers['X-Session-Cycle-Key']
    assert_equal '2592000', last_response.headers['X-Session-Expiry']

    post '/logout'
    assert_equal '1', last_response.headers['X-Session-Flush']
    assert_nil last_response.headers['X-Session-Delete']
  end

  def test_no_token
    get '/'
    assert_equal 401, last_response.status
  end
end
