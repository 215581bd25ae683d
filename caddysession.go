// Package caddysession plugs the session handler into Caddy. Build Caddy
// with it:
//
//	xcaddy build --with github.com/caddy-session/caddy-session
//
// and, for the db and cached_db stores (PostgreSQL, SQLite, MySQL), with
// their drivers too, which the default build leaves out:
//
//	xcaddy build --with github.com/caddy-session/caddy-session \
//		--with github.com/caddy-session/caddy-session/sqlstores
//
// The handler lives in caddymodule, the session model in session, and the
// wire format in headers.
package caddysession

import _ "github.com/caddy-session/caddy-session/caddymodule" // registers the modules
