package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// counterValue is the current value of a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// histogramCount is how many observations a histogram holds.
func histogramCount(o prometheus.Observer) uint64 {
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

// metricSnapshot reads every series a flow on the memory store moves.
func metricSnapshot() map[string]float64 {
	m := &sessionMetrics
	const st = "memory"
	out := map[string]float64{
		"hit":          counterValue(m.loads.WithLabelValues(st, "hit")),
		"miss":         counterValue(m.loads.WithLabelValues(st, "miss")),
		"rejected":     counterValue(m.rejected.WithLabelValues(st, "malformed")),
		"interrupted":  counterValue(m.interrupted.WithLabelValues(st)),
		"keys refused": counterValue(m.refused.WithLabelValues(st, "max_update_keys")),
		"size refused": counterValue(m.refused.WithLabelValues(st, "max_session_size")),
		"load seconds": float64(histogramCount(m.storeSeconds.WithLabelValues(st, "load"))),
		"save seconds": float64(histogramCount(m.storeSeconds.WithLabelValues(st, "save"))),
		"size":         float64(histogramCount(m.sizeBytes.WithLabelValues(st))),
	}
	for _, op := range []string{saveCreate, saveUpdate, saveCycle, saveFlush, saveDelete} {
		out["save "+op] = counterValue(m.saves.WithLabelValues(st, op))
	}
	for _, r := range []string{endFlushed, endCleared, endInterrupted} {
		out["ended "+r] = counterValue(m.ended.WithLabelValues(st, r))
	}
	return out
}

// Each step of a session's life moves its metrics, and only its own.
func TestMetrics(t *testing.T) {
	h := newHandler(t, &Handler{CookieName: "metrics", MaxUpdateKeys: 2, MaxSessionSize: 200})
	t.Cleanup(func() { _ = h.Cleanup() })
	var cookie *http.Cookie
	step := func(name string, c *http.Cookie, answer http.Header, want map[string]float64) {
		t.Helper()
		before := metricSnapshot()
		r := newRequest("GET", "/")
		if c != nil {
			r.AddCookie(c)
		}
		w, _ := serve(t, h, r, nil, &upstream{header: answer})
		for _, rc := range w.Result().Cookies() {
			if rc.Name == "metrics" && rc.Value != "" {
				cookie = rc
			}
		}
		after := metricSnapshot()
		for k, v := range after {
			if d := v - before[k]; d != want[k] {
				t.Errorf("%s: %s moved by %v, want %v", name, k, d, want[k])
			}
		}
	}
	set := func(v string) http.Header { return http.Header{"X-Session-Set": {v}} }
	step("login", nil, set(`{"user":"bob"}`), map[string]float64{"save create": 1, "save seconds": 1})
	step("read", cookie, nil, map[string]float64{"hit": 1, "load seconds": 1, "size": 1})
	step("update", cookie, set(`{"n":1}`), map[string]float64{"hit": 1, "load seconds": 1, "size": 1, "save update": 1, "save seconds": 1})
	step("unknown cookie", &http.Cookie{Name: "metrics", Value: unknownKey()}, nil, map[string]float64{"miss": 1, "load seconds": 1})
	step("malformed cookie", &http.Cookie{Name: "metrics", Value: "not-a-key"}, nil, map[string]float64{"miss": 1})
	step("malformed update", cookie, set(`{"n":`), map[string]float64{"hit": 1, "load seconds": 1, "size": 1, "rejected": 1})
	step("too many keys", cookie, set(`{"a":1,"b":2,"c":3}`), map[string]float64{"hit": 1, "load seconds": 1, "size": 1, "keys refused": 1, "save seconds": 1})
	step("too big", cookie, set(`{"a":"`+strings.Repeat("x", 300)+`"}`), map[string]float64{"hit": 1, "load seconds": 1, "size": 1, "size refused": 1, "save seconds": 1})
	step("cycle", cookie, http.Header{"X-Session-Cycle-Key": {"1"}}, map[string]float64{"hit": 1, "load seconds": 1, "size": 1, "save cycle": 1, "save seconds": 1})
	step("emptied", cookie, http.Header{"X-Session-Delete": {`["user","n"]`}}, map[string]float64{"hit": 1, "load seconds": 1, "size": 1, "save delete": 1, "save seconds": 1, "ended cleared": 1})
	step("login again", nil, set(`{"user":"bob"}`), map[string]float64{"save create": 1, "save seconds": 1})
	step("flush", cookie, http.Header{"X-Session-Flush": {"1"}}, map[string]float64{"hit": 1, "load seconds": 1, "size": 1, "save flush": 1, "save seconds": 1, "ended flushed": 1})

	// A save that a concurrent logout interrupts.
	step("login for the race", nil, set(`{"user":"bob"}`), map[string]float64{"save create": 1, "save seconds": 1})
	before := metricSnapshot()
	r := newRequest("GET", "/")
	r.AddCookie(cookie)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		logout := newRequest("GET", "/")
		logout.AddCookie(cookie)
		if _, err := serve(t, h, logout, nil, &upstream{header: http.Header{"X-Session-Flush": {"1"}}}); err != nil {
			t.Errorf("logout: %v", err)
		}
		w.Header().Set("X-Session-Cycle-Key", "1")
		w.WriteHeader(http.StatusOK)
		return nil
	})
	if err := h.ServeHTTP(httptest.NewRecorder(), r, next); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("interrupted save: %v, want 400", err)
	}
	after := metricSnapshot()
	if d := after["interrupted"] - before["interrupted"]; d != 1 {
		t.Errorf("interrupted_saves moved by %v, want 1", d)
	}
	if d := after["ended interrupted"] - before["ended interrupted"]; d != 1 {
		t.Errorf("ended{interrupted} moved by %v, want 1", d)
	}
}

// A store that cannot be reached counts a load error of kind connection.
func TestMetricsStoreError(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testredis.FreePort(t)) // nothing listens there
	h := newHandler(t, &Handler{
		StoreRaw:     json.RawMessage(`{"backend":"redis","addresses":["` + addr + `"],"dial_timeout":1000000000}`),
		StoreTimeout: caddy.Duration(2 * time.Second),
	})
	t.Cleanup(func() { _ = h.Cleanup() })
	errs := sessionMetrics.storeErrors.WithLabelValues("redis", "load", "connection")
	loadErrs := sessionMetrics.loads.WithLabelValues("redis", "error")
	e0, l0 := counterValue(errs), counterValue(loadErrs)
	r := newRequest("GET", "/")
	r.AddCookie(&http.Cookie{Name: "sessionid", Value: unknownKey()})
	if _, err := serve(t, h, r, nil, &upstream{}); statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("store down: %v, want 503", err)
	}
	if d := counterValue(errs) - e0; d != 1 {
		t.Errorf("store_errors{load,connection} moved by %v, want 1", d)
	}
	if d := counterValue(loadErrs) - l0; d != 1 {
		t.Errorf("loads{error} moved by %v, want 1", d)
	}
}

// The metrics land in the config's registry: what Caddy's metrics endpoint
// exports.
func TestMetricsRegistered(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h := &Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"memory"}`)}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	h2 := &Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"memory"}`), CookieName: "second"}
	if err := h2.Provision(ctx); err != nil {
		t.Fatalf("a second handler in one config: %v", err)
	}
	t.Cleanup(func() { _ = h2.Cleanup() })
	login(t, h, `{"a":1}`)
	families, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		seen[f.GetName()] = true
	}
	for _, name := range []string{"caddy_session_saves_total", "caddy_session_store_duration_seconds"} {
		if !seen[name] {
			t.Errorf("%s is not in the config's registry", name)
		}
	}
}

func TestErrorKind(t *testing.T) {
	for want, err := range map[string]error{
		"timeout":  context.DeadlineExceeded,
		"canceled": context.Canceled,
		"other":    errString("redis: WRONGTYPE"),
	} {
		if got := errorKind(err); got != want {
			t.Errorf("errorKind(%v) = %s, want %s", err, got, want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// caddy_session_active_sessions counts the memory store's live sessions at
// each scrape, and forgets the store once no config uses it.
func TestActiveSessions(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h := &Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"memory"}`)}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	active := func() float64 {
		t.Helper()
		families, err := ctx.GetMetricsRegistry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "caddy_session_active_sessions" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("caddy_session_active_sessions is not in the config's registry")
		return 0
	}
	before := active() // other tests' memory stores may still be counted
	for range 3 {
		login(t, h, `{"a":1}`)
	}
	if got := active(); got != before+3 {
		t.Errorf("active sessions after 3 logins = %v; want %v", got, before+3)
	}
	// Unloading the config cleans its modules up, the store with them.
	_ = h.Cleanup()
	cancel()
	if got := active(); got != before {
		t.Errorf("active sessions after the store's last config went = %v; want %v", got, before)
	}
}
