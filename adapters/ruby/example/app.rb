# frozen_string_literal: true

# A small app written for Sinatra's session and nothing else. It runs
# unchanged on Sinatra's own cookie session and behind Caddy's `session`
# handler: the only difference is the adapter line in config.ru.
#
#   puma -e production -b tcp://127.0.0.1:PORT config.ru                                 cookie session
#   CADDY_SESSION=1 SESSION_SECRET=... puma -e production -b tcp://127.0.0.1:PORT config.ru  behind Caddy
#
#   GET  /            count visits: {"visits": n, "user": name|null}
#   POST /login       user=<name>[&remember=1]: a new session id with the same
#                     data (session_options[:renew]), 302 to /; remember:
#                     session_options[:expire_after] = 30 days
#   POST /logout      session.destroy, 302 to /
#   GET  /put?k=&v=   session[k] = v (an integer)
#   POST /set         merge a JSON object into the session
#   GET  /dump        the session as JSON (without Rack::Protection's own
#                     csrf and tracking keys)
#   POST /ruby        keep a Symbol, a Time and a binary String
#   GET  /ruby        what they read back as: class, value, encoding, offset
#   GET  /bad         count a visit and keep a Date, which the session cannot
#                     store: 500, and nothing of the request is kept

require 'date'
require 'json'
require 'sinatra/base'
require 'time'

class ExampleApp < Sinatra::Base
  enable :sessions
  # Redirects as the browser flows expect them: `302 Location: /`.
  disable :absolute_redirects

  REMEMBER = 30 * 86_400
  PROTECTION_KEYS = %w[csrf tracking].freeze

  before { content_type :json }

  get '/' do
    session[:visits] = (session[:visits] || 0) + 1
    JSON.generate(visits: session[:visits], user: session[:user])
  end

  post '/login' do
    halt 400, JSON.generate(error: 'user is required') if params['user'].to_s.empty?
    # A login gets a new session id and keeps the data (Rack's :renew).
    request.session_options[:renew] = true
    request.session_options[:expire_after] = REMEMBER if params['remember']
    session[:user] = params['user']
    redirect '/', 302
  end

  post '/logout' do
    session.destroy
    redirect '/', 302
  end

  get '/put' do
    session[params['k'] || 'k'] = Integer(params['v'] || '1')
    JSON.generate(ok: true)
  end

  post '/set' do
    session.update(JSON.parse(request.body.read))
    JSON.generate(ok: true)
  end

  get '/dump' do
    JSON.generate(session.to_hash.reject { |k, _| PROTECTION_KEYS.include?(k) })
  end

  post '/ruby' do
    session[:role] = :admin
    session[:at] = Time.new(2026, 12, 5, 8, 0, Rational(123_456_789, 1_000_000_000), '+01:00')
    session[:key] = (0..255).map(&:chr).join.b
    session[:prefs] = { theme: :dark, since: Time.at(1_700_000_000, 5, :nsec).utc }
    JSON.generate(ok: true)
  end

  get '/bad' do
    session[:visits] = (session[:visits] || 0) + 1
    session[:when] = Date.new(2026, 12, 5)
    JSON.generate(ok: true)
  end

  get '/ruby' do
    describe = lambda do |v|
      case v
      when Symbol then "Symbol #{v.inspect}"
      when Time then "Time #{v.strftime('%Y-%m-%dT%H:%M:%S.%N')} offset #{v.utc_offset} utc #{v.utc?}"
      when String then "String #{v.encoding} #{v.bytesize} bytes #{v == (0..255).map(&:chr).join.b}"
      when Hash then v.to_h { |k, x| [k, describe.call(x)] }
      else "#{v.class} #{v.inspect}"
      end
    end
    JSON.generate(%w[role at key prefs].to_h { |k| [k, describe.call(session[k])] })
  end
end
