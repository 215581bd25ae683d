# frozen_string_literal: true

require_relative 'test_helper'

begin
  require 'rails'
  require 'action_controller/railtie'
rescue LoadError
  # scripts/install-deps.sh installs Debian's ruby-railties and
  # ruby-actionpack; a gem user without Rails skips this file, CI does not.
  raise if ENV['CI'] == 'true'

  warn 'rails_test.rb: skipped, no Rails (apt-get install ruby-railties ruby-actionpack)'
  return
end

# A Rails app with `config.session_store CaddySession::Middleware`: its
# controllers' session, reset_session, flash and CSRF token.
class RailsTestApp < Rails::Application
  config.eager_load = false
  config.logger = Logger.new(nil)
  config.secret_key_base = 'a' * 64
  config.hosts.clear if config.respond_to?(:hosts)
  config.session_store CaddySession::Middleware, token_secret: SECRET
  config.action_controller.allow_forgery_protection = true
end

class VisitsController < ActionController::Base
  protect_from_forgery with: :exception

  def index
    session[:visits] = (session[:visits] || 0) + 1
    render plain: "visits=#{session[:visits]} user=#{session[:user]} notice=#{flash[:notice]}"
  end

  def form
    render plain: form_authenticity_token
  end

  def login
    reset_session
    session[:user] = params[:user]
    flash[:notice] = 'welcome'
    redirect_to '/'
  end

  def renew
    request.session_options[:renew] = true
    session[:user] = params[:user]
    head :no_content
  end
end

RailsTestApp.initialize!
RailsTestApp.routes.draw do
  get '/' => 'visits#index'
  get '/form' => 'visits#form'
  post '/login' => 'visits#login'
  get '/renew' => 'visits#renew'
end

class RailsTest < Minitest::Test
  include Rack::Test::Methods
  include Tokens

  UPDATES = %w[X-Session-Flush X-Session-Clear X-Session-Delete X-Session-Set X-Session-Cycle-Key X-Session-Expiry].freeze

  def app
    RailsTestApp
  end

  def updates
    UPDATES.to_h { |h| [h, last_response.headers[h]] }.compact
  end

  def test_session_and_flash
    header 'X-Session', hs256(claims({ 'visits' => 1 }))
    get '/'
    assert_equal 'visits=2 user= notice=', last_response.body
    assert_equal({ 'X-Session-Set' => '{"visits":2}' }, updates)
    refute last_response.headers.key?('Set-Cookie'), 'the cookie is Caddy\'s'

    # The flash written by the Flash middleware on the way out, read and
    # dropped at the next request.
    header 'X-Session', hs256(claims({ 'visits' => 2, 'flash' => { 'discard' => [], 'flashes' => { 'notice' => 'hi' } } }))
    get '/'
    assert_equal 'visits=3 user= notice=hi', last_response.body
    assert_equal({ 'X-Session-Delete' => '["flash"]', 'X-Session-Set' => '{"visits":3}' }, updates)
  end

  def test_login_resets_the_session_with_csrf
    header 'X-Session', hs256(claims({ 'visits' => 1 }))
    get '/form'
    token = last_response.body
    csrf = JSON.parse(updates.fetch('X-Session-Set')).fetch('_csrf_token')

    header 'X-Session', hs256(claims({ 'visits' => 1, '_csrf_token' => csrf }))
    post '/login', 'user' => 'alice', 'authenticity_token' => token
    assert_equal 302, last_response.status
    assert_equal '1', updates['X-Session-Flush']
    set = JSON.parse(updates.fetch('X-Session-Set'))
    assert_equal 'alice', set['user']
    assert_equal({ 'discard' => [], 'flashes' => { 'notice' => 'welcome' } }, set['flash'])
    assert_equal %w[X-Session-Flush X-Session-Set], updates.keys

    header 'X-Session', hs256(claims({ 'visits' => 1, '_csrf_token' => csrf }))
    post '/login', 'user' => 'mallory', 'authenticity_token' => 'forged'
    assert_equal 422, last_response.status
    assert_equal({}, updates)
  end

  def test_renew
    header 'X-Session', hs256(claims({ 'visits' => 1 }))
    get '/renew', 'user' => 'bob'
    assert_equal 204, last_response.status
    assert_equal({ 'X-Session-Set' => '{"user":"bob"}', 'X-Session-Cycle-Key' => '1' }, updates)
  end
end
