#!/bin/sh
# The Ruby adapter's own tests: minitest and rack-test from Debian's ruby
# (ruby-minitest, ruby-rack-test, ruby-sinatra), no Gemfile, no network.
set -eu
cd "$(dirname "$0")"
exec ruby -w -Ilib -e 'Dir["test/*_test.rb"].sort.each { |f| require_relative f }' "$@"
