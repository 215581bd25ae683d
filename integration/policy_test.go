package integration

// Least privilege for upstreams (issue 11, item 1): a Django route and a
// legacy route share one session on one store; the legacy route's handler
// hides _auth_user_hash, denies writes to _auth_*, and may not flush.

import (
	"fmt"
	"net/http"
	"testing"
)

func TestPolicy(t *testing.T) {
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			fx := st.setup(t)
			up := newCtUpstream(t)
			site := fmt.Sprintf("handle /django/* {\n%s\n\treverse_proxy %s\n}\nhandle /legacy/* {\n%s\n\treverse_proxy %s\n}\n",
				indent(ctSessionBlock(fx.line, "")), up.host,
				indent(ctSessionBlock(fx.line, "hide _auth_user_hash\ndeny_write _auth_*\nallow_flush off")), up.host)
			e := &ctEnv{caddy: startCaddy(t, "", site), up: up, store: fx}

			// Django logs the user in.
			c := newClient(t)
			e.write(t, c, "/django/login", "X-Session-Set", `{"_auth_user_id": "7", "_auth_user_hash": "h1", "cart": []}`)

			// The legacy app never sees the hidden key.
			legacy := e.read(t, c, "/legacy/page")
			if _, ok := legacy.Data["_auth_user_hash"]; ok {
				t.Error("the legacy upstream's token holds _auth_user_hash")
			}
			if string(legacy.Data["_auth_user_id"]) != `"7"` {
				t.Errorf("legacy sees _auth_user_id %s; want \"7\" (hidden is only the hash)", legacy.Data["_auth_user_id"])
			}

			// It cannot set, delete or increment _auth_*, nor flush, clear
			// or cycle the key: 502, and the session is as it was.
			for _, bad := range [][]string{
				{"X-Session-Set", `{"cart": [1], "_auth_user_id": "1"}`},
				{"X-Session-Delete", `["_auth_user_id"]`},
				{"X-Session-Incr", `{"_auth_logins": 1}`},
				{"X-Session-Flush", "1"},
				{"X-Session-Clear", "1"},
				{"X-Session-Cycle-Key", "1"},
			} {
				r := e.do(t, c, ctCall{path: "/legacy/x", answer: ctLines(bad...)})
				if r.resp.StatusCode != http.StatusBadGateway {
					t.Errorf("legacy %s: %s answered %d; want 502", bad[0], bad[1], r.resp.StatusCode)
				}
			}
			full := e.read(t, c, "/django/check")
			if string(full.Data["_auth_user_id"]) != `"7"` || string(full.Data["_auth_user_hash"]) != `"h1"` || string(full.Data["cart"]) != `[]` {
				t.Fatalf("after the legacy app's refused updates Django sees %s; want them unchanged", full.raw["data"])
			}

			// Django changes its keys; the legacy app's own updates keep
			// them intact.
			e.write(t, c, "/django/password", "X-Session-Set", `{"_auth_user_hash": "h2"}`)
			e.write(t, c, "/legacy/cart", "X-Session-Set", `{"cart": [42]}`)
			full = e.read(t, c, "/django/check")
			if string(full.Data["_auth_user_hash"]) != `"h2"` || string(full.Data["_auth_user_id"]) != `"7"` || string(full.Data["cart"]) != `[42]` {
				t.Errorf("Django sees %s; want _auth_user_hash h2, _auth_user_id 7, cart [42]", full.raw["data"])
			}
		})
	}
}
