# frozen_string_literal: true

# Every Sinatra app that enables sessions keeps them in Caddy, with no
# change to its code: require this before the app is built (in config.ru,
# or RUBYOPT=-rcaddy_session/sinatra). The app's own `set :session_store`
# still wins.
require_relative '../caddy_session'
require 'sinatra/base'

Sinatra::Base.set :session_store, CaddySession::Middleware
