# frozen_string_literal: true

module CaddySession
  VERSION = '0.1.0'
end
