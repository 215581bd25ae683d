# frozen_string_literal: true

$LOAD_PATH.unshift File.expand_path('../lib', __dir__)
require_relative 'app'

# The adapter line (before the app is built):
require 'caddy_session/sinatra' if ENV['CADDY_SESSION']

run ExampleApp
