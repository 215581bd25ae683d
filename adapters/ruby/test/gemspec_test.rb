# frozen_string_literal: true

require_relative 'test_helper'
require 'rubygems/package'
require 'tmpdir'

# `gem build` works, and the gem holds what `require 'caddy_session'` and
# `require 'caddy_session/sinatra'` load.
class GemspecTest < Minitest::Test
  ROOT = File.expand_path('..', __dir__)

  def test_gem_builds
    Dir.chdir(ROOT) do
      spec = Gem::Specification.load('caddy_session.gemspec')
      spec.validate(false, false)
      Dir.mktmpdir do |dir|
        file = File.join(dir, 'caddy_session.gem')
        Gem::Package.build(spec, true, false, file)
        files = Gem::Package.new(file).contents
        %w[lib/caddy_session.rb lib/caddy_session/sinatra.rb lib/caddy_session/middleware.rb].each do |f|
          assert_includes files, f
        end
        refute files.any? { |f| f.start_with?('test/', 'example/') }, files.inspect
      end
    end
  end
end
