package caddymodule

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy/fastcgi"
	"go.uber.org/zap"
)

func routes(handlers ...caddyhttp.MiddlewareHandler) caddyhttp.RouteList {
	var rl caddyhttp.RouteList
	for _, h := range handlers {
		rl = append(rl, caddyhttp.Route{Handlers: []caddyhttp.MiddlewareHandler{h}})
	}
	return rl
}

func subroute(handlers ...caddyhttp.MiddlewareHandler) *caddyhttp.Subroute {
	return &caddyhttp.Subroute{Routes: routes(handlers...)}
}

// The default max_session_size follows the transport of the proxies that
// can run after the handler, found in the server's provisioned routes as
// php_fastcgi and reverse_proxy lay them out.
func TestDefaultSizeFollowsTransport(t *testing.T) {
	php := func() caddyhttp.MiddlewareHandler {
		return &reverseproxy.Handler{Transport: &fastcgi.Transport{}}
	}
	proxy := func() caddyhttp.MiddlewareHandler {
		return &reverseproxy.Handler{Transport: &reverseproxy.HTTPTransport{}}
	}
	for _, tc := range []struct {
		name   string
		routes func(h *Handler) caddyhttp.RouteList
		max    int
	}{
		{"php_fastcgi after it", func(h *Handler) caddyhttp.RouteList {
			return routes(subroute(h, subroute(&caddyhttp.StaticResponse{}), php()))
		}, fastcgiMaxSessionSize},
		{"reverse_proxy after it", func(h *Handler) caddyhttp.RouteList {
			return routes(subroute(h, proxy()))
		}, defaultMaxSessionSize},
		{"php_fastcgi and an HTTP proxy after it", func(h *Handler) caddyhttp.RouteList {
			return routes(subroute(h, subroute(proxy()), php()))
		}, defaultMaxSessionSize},
		{"another site's HTTP proxy after its site", func(h *Handler) caddyhttp.RouteList {
			return routes(subroute(h, php()), subroute(&Handler{}, proxy()))
		}, fastcgiMaxSessionSize},
		{"an HTTP proxy before it", func(h *Handler) caddyhttp.RouteList {
			return routes(proxy(), subroute(h, php()))
		}, fastcgiMaxSessionSize},
		{"the proxy in the enclosing list", func(h *Handler) caddyhttp.RouteList {
			return routes(subroute(h), php())
		}, fastcgiMaxSessionSize},
		{"no proxy", func(h *Handler) caddyhttp.RouteList {
			return routes(h, &caddyhttp.StaticResponse{})
		}, defaultMaxSessionSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandler(t, &Handler{})
			srv := &caddyhttp.Server{Routes: tc.routes(h)}
			r := httptest.NewRequest("GET", "/", nil)
			r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ServerCtxKey, srv))
			if _, _, err := h.load(r, ""); err != nil {
				t.Fatal(err)
			}
			if got := h.manager.Config.MaxSize; got != tc.max {
				t.Errorf("max_session_size %d, want %d", got, tc.max)
			}
		})
	}

	t.Run("the operator's max_session_size stands", func(t *testing.T) {
		h := newHandler(t, &Handler{MaxSessionSize: 1000})
		srv := &caddyhttp.Server{Routes: routes(h, php())}
		r := httptest.NewRequest("GET", "/", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ServerCtxKey, srv))
		if _, _, err := h.load(r, ""); err != nil {
			t.Fatal(err)
		}
		if got := h.manager.Config.MaxSize; got != 1000 {
			t.Errorf("max_session_size %d, want 1000", got)
		}
	})
}

// A token longer than one header line reaches the upstream in parts that
// join to a token that verifies.
func TestLongTokenInParts(t *testing.T) {
	h := newHandler(t, &Handler{MaxSessionSize: 64 << 10})
	cookie := login(t, h, `{"cart":"`+strings.Repeat("x", 60000)+`"}`)
	r := newRequest("GET", "/")
	r.AddCookie(cookie)
	up := &upstream{}
	if _, err := serve(t, h, r, nil, up); err != nil {
		t.Fatal(err)
	}
	if up.got.Header.Get("X-Session-Part-2") == "" {
		t.Fatalf("a token for a 60 KB session came in one header")
	}
	for k, v := range up.got.Header {
		if line := len(k) + 2 + len(v[0]) + 2; line > 8190 {
			t.Errorf("%s is a %d-byte line", k, line)
		}
	}
	joined := h.names.JoinToken(up.got.Header)
	up.got.Header = map[string][]string{"X-Session": {joined}}
	if d := claimsOf(t, up.got)["data"].(map[string]any); len(d["cart"].(string)) != 60000 {
		t.Errorf("the joined token carries %d bytes of cart", len(d["cart"].(string)))
	}
}

// The read path's cost by session size: at the HTTP default (one token
// header) and at the FastCGI default (the token in 11 parts).
func BenchmarkServeHTTPBySize(b *testing.B) {
	h := newHandler(&testing.T{}, &Handler{MaxSessionSize: fastcgiMaxSessionSize})
	h.logger = h.logger.WithOptions(zap.IncreaseLevel(zap.InfoLevel))
	for _, size := range []int{defaultMaxSessionSize, fastcgiMaxSessionSize} {
		// {"cart":"xxx…"} is 11 bytes plus the x's.
		cookie := login(&testing.T{}, h, `{"cart":"`+strings.Repeat("x", size-11)+`"}`)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := newRequest("GET", "/")
				r.AddCookie(cookie)
				if err := h.ServeHTTP(httptest.NewRecorder(), r, &benchUpstream{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
