package integration

// The invariants of issue 15 as a user meets them through the real Caddy:
// max_session_size holds under concurrent writers (defect 8), a key hidden
// from an upstream is no key it may write (defect 7), and no update kind
// moves the handler's timeout fields (defect 3).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestInvariantsSizeUnderConcurrency: six requests of one user each load
// the session, then each add 1.5 KB. Before the fix every one answered 200
// and the stored 9 KB session logged its user out. Now at most the limit is
// stored, the losers get 502 with a log line, and the user stays logged in.
func TestInvariantsSizeUnderConcurrency(t *testing.T) {
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := startCtEnv(t, st.setup(t), "max_session_size 5120")
			c := newClient(t)
			e.write(t, c, "/login", "X-Session-Set", `{"_auth_user_id": "7"}`)

			// The upstream answers none until all six have been proxied,
			// so every one loaded the session before any saved.
			const writers = 6
			var arrived sync.WaitGroup
			arrived.Add(writers)
			barrier := func() { arrived.Done(); arrived.Wait() }
			value := `"` + strings.Repeat("x", 1500) + `"`
			statuses := make([]int, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					r := e.do(t, c, ctCall{path: "/cart", before: barrier,
						answer: ctLines("X-Session-Set", fmt.Sprintf(`{"f%d": %s}`, i, value))})
					statuses[i] = r.resp.StatusCode
				})
			}
			wg.Wait()
			ok, refused := 0, 0
			for _, s := range statuses {
				switch s {
				case http.StatusOK:
					ok++
				case http.StatusBadGateway:
					refused++
				default:
					t.Errorf("a writer got %d; want 200 or 502", s)
				}
			}
			if refused == 0 {
				t.Errorf("all %d writers answered 200; want those over the limit refused", writers)
			}

			got := e.read(t, c, "/check")
			if got.New || string(got.Data["_auth_user_id"]) != `"7"` {
				t.Fatalf("the user was logged out by the writers (new %v, data %d keys)", got.New, len(got.Data))
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, got.raw["data"]); err != nil {
				t.Fatal(err)
			}
			if n := compact.Len(); n > 5120 {
				t.Fatalf("the stored session is %d bytes, over max_session_size 5120", n)
			}
			if stored := len(got.Data) - 1; stored != ok {
				t.Errorf("%d of the writers' fields stored, %d writers answered 200", stored, ok)
			}
			if refused > 0 {
				ctLogLine(t, e.caddy, "session update refused whole", `"limit":"max_session_size"`)
			}
		})
	}
}

// TestInvariantsHiddenKeys: a route that hides a key (without deny_write)
// can neither set, delete nor increment it: 502, nothing persisted; its
// clear keeps it, as before.
func TestInvariantsHiddenKeys(t *testing.T) {
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			fx := st.setup(t)
			up := newCtUpstream(t)
			site := fmt.Sprintf("handle /django/* {\n%s\n\treverse_proxy %s\n}\nhandle /legacy/* {\n%s\n\treverse_proxy %s\n}\n",
				indent(ctSessionBlock(fx.line, "")), up.host,
				indent(ctSessionBlock(fx.line, "hide _auth_user_hash")), up.host)
			e := &ctEnv{caddy: startCaddy(t, "", site), up: up, store: fx}
			c := newClient(t)
			e.write(t, c, "/django/login", "X-Session-Set", `{"_auth_user_id": "7", "_auth_user_hash": "h1", "cart": []}`)

			for _, bad := range [][]string{
				{"X-Session-Set", `{"cart": [1], "_auth_user_hash": "forged"}`},
				{"X-Session-Delete", `["_auth_user_hash"]`},
				{"X-Session-Incr", `{"_auth_user_hash": 1}`},
			} {
				r := e.do(t, c, ctCall{path: "/legacy/x", answer: ctLines(bad...)})
				if r.resp.StatusCode != http.StatusBadGateway {
					t.Errorf("legacy %s: %s answered %d; want 502", bad[0], bad[1], r.resp.StatusCode)
				}
			}
			ctLogLine(t, e.caddy, "matches hide")
			e.write(t, c, "/legacy/logout", "X-Session-Clear", "1")
			full := e.read(t, c, "/django/check")
			if string(full.Data["_auth_user_hash"]) != `"h1"` {
				t.Fatalf("after the legacy app's updates Django sees _auth_user_hash %s; want \"h1\"", full.Data["_auth_user_hash"])
			}
			if _, ok := full.Data["cart"]; ok {
				t.Errorf("the legacy app's clear kept cart, which it sees")
			}
		})
	}
}

// TestInvariantsTimeoutFields: an upstream's X-Session-Incr (or Set) of
// _session_created cannot push absolute_timeout away, and a route without
// timeouts on the same store cannot either.
func TestInvariantsTimeoutFields(t *testing.T) {
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			fx := st.setup(t)
			up := newCtUpstream(t)
			site := fmt.Sprintf("handle /timed/* {\n%s\n\treverse_proxy %s\n}\nhandle {\n%s\n\treverse_proxy %s\n}\n",
				indent(ctSessionBlock(fx.line, "absolute_timeout 1h")), up.host,
				indent(ctSessionBlock(fx.line, "")), up.host)
			e := &ctEnv{caddy: startCaddy(t, "", site), up: up, store: fx}
			c := newClient(t)
			e.write(t, c, "/timed/login", "X-Session-Set", `{"_auth_user_id": "7"}`)
			created := string(e.read(t, c, "/timed/check").Data["_session_created"])
			if created == "" {
				t.Fatal("no _session_created after a login under absolute_timeout")
			}
			for _, path := range []string{"/timed/x", "/plain/x"} {
				for _, upd := range [][]string{
					{"X-Session-Incr", `{"_session_created": 9000000000}`},
					{"X-Session-Set", `{"_session_created": 99999999999}`},
					{"X-Session-Delete", `["_session_created"]`},
				} {
					e.write(t, c, path, upd...)
				}
			}
			e.write(t, c, "/plain/logout", "X-Session-Clear", "1", "X-Session-Set", `{"_auth_user_id": "7"}`)
			if got := string(e.read(t, c, "/timed/check").Data["_session_created"]); got != created {
				t.Fatalf("_session_created = %s after the upstreams' updates; want %s", got, created)
			}
		})
	}
}
