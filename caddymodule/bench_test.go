package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
)

// The handler's own cost per request, on the memory store with a no-op
// upstream: the read path (cookie, no update), the write path (one Set),
// and the no-cookie path.
func BenchmarkServeHTTP(b *testing.B) {
	h := newHandler(&testing.T{}, &Handler{})
	// As Caddy runs by default: at info. A bare context's logger is at
	// debug, and each request's debug lines would be measured instead.
	h.logger = h.logger.WithOptions(zap.IncreaseLevel(zap.InfoLevel))
	t := &testing.T{}
	cookie := login(t, h, `{"user":"bob","_auth_user_id":"7","cart":[1,2,3]}`)
	for _, bc := range []struct {
		name   string
		cookie *http.Cookie
		header http.Header
	}{
		{"read", cookie, nil},
		{"write", cookie, http.Header{"X-Session-Set": {`{"n":1}`}}},
		{"no-cookie", nil, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			up := &benchUpstream{header: bc.header}
			b.ReportAllocs()
			for b.Loop() {
				r := newRequest("GET", "/")
				if bc.cookie != nil {
					r.AddCookie(bc.cookie)
				}
				w := httptest.NewRecorder()
				if err := h.ServeHTTP(w, r, up); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type benchUpstream struct{ header http.Header }

func (u *benchUpstream) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	for k, v := range u.header {
		w.Header()[k] = v
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
