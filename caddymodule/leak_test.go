package caddymodule

// Reliability scenario 7, "Reloads", in process: every config reload
// provisions the handler and cleans up the previous one. Doing so many
// times with the memory and redis stores, sessions served in between, must
// leave no goroutine behind (goleak fails the test with their stacks).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/goleak"

	"github.com/caddy-session/caddy-session/internal/relreport"
	"github.com/caddy-session/caddy-session/internal/testredis"
)

func TestReliabilityProvisionCleanupLeaksNoGoroutines(t *testing.T) {
	rounds := relreport.Scale(20, 200)
	srv := testredis.Start(t)
	stores := []struct {
		name string
		raw  json.RawMessage
	}{
		{"memory", json.RawMessage(`{"backend":"memory"}`)},
		{"redis", json.RawMessage(fmt.Sprintf(`{"backend":"redis","addresses":[%q]}`, srv.Addr()))},
	}
	// One round first, so that what Caddy and the stores start once per
	// process (not per config) is running before the snapshot.
	round := func(raw json.RawMessage) {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		defer cancel() // runs the modules' Cleanup, as a reload does
		h := &Handler{Secret: goodSecret, StoreRaw: raw}
		if err := h.Provision(ctx); err != nil {
			t.Fatalf("Provision: %v", err)
		}
		w, err := serve(t, h, newRequest("GET", "/"), nil, &upstream{header: http.Header{"X-Session-Set": {`{"a": 1}`}}})
		if err != nil || w.Code != http.StatusOK {
			t.Fatalf("login: %d %v", w.Code, err)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == "sessionid" && c.Value != "" {
				if got := readClaims(t, h, c)["data"]; fmt.Sprint(got) != "map[a:1]" {
					t.Fatalf("session read back = %v", got)
				}
			}
		}
	}
	for _, st := range stores {
		round(st.raw)
	}
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	for _, st := range stores {
		for range rounds {
			round(st.raw)
		}
	}
	goleak.VerifyNone(t, opts...)
	relreport.Record(t, relreport.Figure{
		Scenario: "7. Reloads", Name: fmt.Sprintf("goroutines leaked over %d handler provision/cleanup cycles per store (memory, redis)", rounds),
		Value: 0, Unit: "goroutines", Goal: "0", Met: relreport.Met(!t.Failed()),
		Note: "in process, go.uber.org/goleak after provisioning, serving and cleaning up the handler as a reload does; any leftover goroutine fails the test",
	})
}
