package caddymodule

import (
	"net/http"
	"testing"

	"go.uber.org/zap"
)

// The handler's own allocations per request, on a request as Caddy's
// server prepares it (caddyRequest) and the benchmark's response writer,
// less the same harness without the handler: issue 16's targets are 12 on
// a read and 6 without a cookie. Allocations are deterministic, so this
// holds the line where a time could not.
func TestHandlerAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocates")
	}
	h := newHandler(t, &Handler{})
	// at info, as Caddy runs by default (see BenchmarkServeHTTP)
	h.logger = h.logger.WithOptions(zap.IncreaseLevel(zap.InfoLevel))
	cookie := login(t, h, `{"user":"bob","_auth_user_id":"7","cart":[1,2,3]}`)
	run := func(handler bool, c *http.Cookie, up *benchUpstream) float64 {
		return testing.AllocsPerRun(200, func() {
			r := caddyRequest("GET", "/", c)
			w := newBenchWriter()
			var err error
			if handler {
				err = h.ServeHTTP(w, r, up)
			} else {
				err = up.ServeHTTP(w, r)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		header http.Header
		max    float64
	}{
		{"read", cookie, nil, 6},
		{"no cookie", nil, nil, 5},
		// a write on the memory store: measured 15 (21 before the
		// store took the Manager's view and stopped copying on load)
		{"write", cookie, http.Header{"X-Session-Set": {`{"n":1}`}}, 16},
	} {
		up := &benchUpstream{header: tc.header}
		own := run(true, tc.cookie, up) - run(false, tc.cookie, up)
		t.Logf("%s: %v allocations", tc.name, own)
		if own > tc.max {
			t.Errorf("%s: %v allocations, want at most %v", tc.name, own, tc.max)
		}
	}
}
