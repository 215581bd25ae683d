package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy/fastcgi"
	"go.uber.org/zap"
)

// fastcgiMaxSessionSize is the default max_session_size when the session's
// upstream is FastCGI (php_fastcgi): FastCGI parameters have no header line
// limit, and a token longer than one parameter record travels in parts
// (headers.SetToken), so the session may be as large as PHP apps keep.
const fastcgiMaxSessionSize = 64 << 10

// followTransport sets the default max_session_size from the transport
// that serves this handler's requests, once, on the handler's first
// request: by then every route of the server is provisioned, which it is
// not while this handler is. Without a max_session_size of the operator's,
// the default is fastcgiMaxSessionSize when every reverse_proxy that can
// follow this handler speaks FastCGI, and defaultMaxSessionSize (a token
// that fits an HTTP server's header line) otherwise.
func (h *Handler) followTransport(r *http.Request) {
	if h.MaxSessionSize > 0 {
		return
	}
	h.sizeOnce.Do(func() {
		srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
		if srv == nil {
			return
		}
		found, up := upstreamsAfter(srv.Routes, h)
		if !found && srv.Errors != nil {
			found, up = upstreamsAfter(srv.Errors.Routes, h)
		}
		if up.fastcgi > 0 && up.other == 0 {
			// Written before any load or commit of this handler reads it:
			// every one of them runs after this Do returns.
			h.manager.Config.MaxSize = fastcgiMaxSessionSize
		}
		h.logger.Info("max_session_size follows the upstream's transport",
			zap.String("store", h.storeLabel), zap.Int("max_session_size", h.manager.Config.MaxSize),
			zap.Int("fastcgi_upstreams", up.fastcgi), zap.Int("http_upstreams", up.other))
	})
}

// upstreams counts reverse_proxy handlers by transport.
type upstreams struct{ fastcgi, other int }

func (u *upstreams) add(v upstreams) { u.fastcgi += v.fastcgi; u.other += v.other }

// upstreamsAfter finds h in rl and counts the reverse_proxy handlers that
// can run after it: those after it in the innermost route list that holds
// it (nested subroutes included); when that list has none, those after it
// in the enclosing lists. So one site's php_fastcgi is what counts for the
// session handler in that site's block, not another site's proxies.
func upstreamsAfter(rl caddyhttp.RouteList, h *Handler) (found bool, u upstreams) {
	for _, rt := range rl {
		for _, mh := range rt.Handlers {
			if found {
				u.add(proxiesIn(mh))
				continue
			}
			if mh == caddyhttp.MiddlewareHandler(h) {
				found = true
				continue
			}
			if sr, ok := mh.(*caddyhttp.Subroute); ok {
				var inner upstreams
				if found, inner = upstreamsAfter(sr.Routes, h); found && inner != (upstreams{}) {
					return true, inner
				}
			}
		}
	}
	return found, u
}

// proxiesIn counts the reverse_proxy handlers in mh, a subroute's at any
// depth.
func proxiesIn(mh caddyhttp.MiddlewareHandler) (u upstreams) {
	switch v := mh.(type) {
	case *reverseproxy.Handler:
		if _, ok := v.Transport.(*fastcgi.Transport); ok {
			u.fastcgi++
		} else {
			u.other++
		}
	case *caddyhttp.Subroute:
		for _, rt := range v.Routes {
			for _, inner := range rt.Handlers {
				u.add(proxiesIn(inner))
			}
		}
	}
	return u
}
