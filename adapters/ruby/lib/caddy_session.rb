# frozen_string_literal: true

# caddy-session for Rack, Sinatra and Rails: Rack's `session`, kept by
# Caddy's `session` handler. See CaddySession::Middleware and
# docs/adapters.md.
require_relative 'caddy_session/version'
require_relative 'caddy_session/values'
require_relative 'caddy_session/token'
require_relative 'caddy_session/session'
require_relative 'caddy_session/middleware'
