# frozen_string_literal: true

require_relative 'lib/caddy_session/version'

Gem::Specification.new do |s|
  s.name = 'caddy_session'
  s.version = CaddySession::VERSION
  s.summary = "Rack, Sinatra and Rails sessions kept by Caddy's session handler"
  s.description = "Rack middleware that gives Sinatra and Rails apps their usual `session`, kept by the " \
                  "caddy-session Caddy module: it verifies the module's signed token (HS256 or EdDSA) and " \
                  'answers only the keys a request changed.'
  s.authors = ['caddy-session']
  s.files = Dir['lib/**/*.rb'] + ['README.md']
  s.require_paths = ['lib']
  s.required_ruby_version = '>= 3.0'
  # Debian bookworm: ruby-rack 2.2 (tested); Rack 3's header rules are followed.
  s.add_runtime_dependency 'rack', '>= 2.2', '< 4'
  s.add_development_dependency 'minitest', '>= 5'
  s.add_development_dependency 'rack-test', '>= 1'
end
