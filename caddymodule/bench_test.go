package caddymodule

import (
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
)

// The handler's own cost per request, on the memory store with a no-op
// upstream: the read path (cookie, no update), the write path (one Set),
// and the no-cookie path. `baseline` is the same harness with no handler
// (the request, its replacer, the response writer and the upstream): a line's own
// cost is its figures less the baseline's, which the benchmark report
// (internal/bench) prints against issue 16's targets.
func BenchmarkServeHTTP(b *testing.B) {
	h := newHandler(&testing.T{}, &Handler{})
	// As Caddy runs by default: at info. A bare context's logger is at
	// debug, and each request's debug lines would be measured instead.
	h.logger = h.logger.WithOptions(zap.IncreaseLevel(zap.InfoLevel))
	t := &testing.T{}
	cookie := login(t, h, `{"user":"bob","_auth_user_id":"7","cart":[1,2,3]}`)
	// The Cookie header line, built once: the harness adds it to each
	// request without an allocation, as a server's parsed request holds
	// it already. The handler never writes into it (removeCookie replaces
	// the header's value).
	cookieLine := []string{(&http.Cookie{Name: cookie.Name, Value: cookie.Value}).String()}
	for _, bc := range []struct {
		name    string
		handler bool
		cookie  bool
		header  http.Header
	}{
		{"baseline", false, true, nil},
		{"read", true, true, nil},
		{"write", true, true, http.Header{"X-Session-Set": {`{"n":1}`}}},
		{"no-cookie", true, false, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			up := &benchUpstream{header: bc.header}
			b.ReportAllocs()
			for b.Loop() {
				r := newRequest("GET", "/")
				if bc.cookie {
					r.Header["Cookie"] = cookieLine
				}
				w := newBenchWriter()
				var err error
				if bc.handler {
					err = h.ServeHTTP(w, r, up)
				} else {
					err = up.ServeHTTP(w, r)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchWriter is the response as a server holds it: a header that Caddy
// has already given its Server field, and a status. Unlike
// httptest.ResponseRecorder it takes no snapshot of the header on
// WriteHeader, which a server does not either: the harness's cost stays
// the same whatever the handler adds.
type benchWriter struct {
	header http.Header
	status int
}

func newBenchWriter() *benchWriter {
	return &benchWriter{header: http.Header{"Server": {"Caddy"}}}
}

func (w *benchWriter) Header() http.Header         { return w.header }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }

type benchUpstream struct{ header http.Header }

func (u *benchUpstream) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	for k, v := range u.header {
		w.Header()[k] = v
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// The read path when no token can be reused (each request comes more than
// token_ttl/10 after the session's last token): what a session pays once
// per window, or on every request when its requests are further apart.
// BenchmarkServeHTTP's read reuses the token.
func BenchmarkServeHTTPReadUnreused(b *testing.B) {
	h := newHandler(&testing.T{}, &Handler{})
	h.logger = h.logger.WithOptions(zap.IncreaseLevel(zap.InfoLevel))
	cookie := login(&testing.T{}, h, `{"user":"bob","_auth_user_id":"7","cart":[1,2,3]}`)
	cookieLine := []string{(&http.Cookie{Name: cookie.Name, Value: cookie.Value}).String()}
	t0 := time.Now()
	var at time.Duration
	tokenClock = func() time.Time { return t0.Add(at) }
	b.Cleanup(func() { tokenClock = nil })
	up := &benchUpstream{}
	b.ReportAllocs()
	for b.Loop() {
		at += 7 * time.Second // past 60s/10
		r := newRequest("GET", "/")
		r.Header["Cookie"] = cookieLine
		if err := h.ServeHTTP(newBenchWriter(), r, up); err != nil {
			b.Fatal(err)
		}
	}
}
