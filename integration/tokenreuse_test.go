package integration

// Token reuse (headers/reuse.go) through the built Caddy: the handler may
// hand an unchanged session's token out again for a few seconds, but the
// request right after the upstream changes the session, ends it or cycles
// its key always sees the change in its token.

import (
	"fmt"
	"testing"
)

func TestTokenReuseSeesChanges(t *testing.T) {
	for _, name := range []string{"memory", "redis"} {
		t.Run(name, func(t *testing.T) {
			var fx *ctStoreFixture
			for _, s := range ctStores {
				if s.name == name {
					fx = s.setup(t)
				}
			}
			e := startCtEnv(t, fx)
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"n":0}`)
			sid := e.read(t, c, "/").SID
			// Each change is in the very next request's token, however
			// quickly it follows.
			for i := 1; i <= 20; i++ {
				e.write(t, c, "/", "X-Session-Set", fmt.Sprintf(`{"n":%d}`, i))
				ctWantData(t, e.read(t, c, "/"), map[string]string{"n": fmt.Sprint(i)})
			}
			e.write(t, c, "/", "X-Session-Delete", `["n"]`, "X-Session-Set", `{"m":1}`)
			ctWantData(t, e.read(t, c, "/"), map[string]string{"m": "1"})
			e.write(t, c, "/", "X-Session-Expiry", "0")
			if got := e.read(t, c, "/"); !got.BrowserClose {
				t.Fatalf("after X-Session-Expiry 0: %s", got.raw)
			}
			e.write(t, c, "/", "X-Session-Cycle-Key", "1")
			if got := e.read(t, c, "/"); got.New || got.SID == sid || got.SID == "" {
				t.Fatalf("after cycle_key: sid %q, before %q", got.SID, sid)
			}
			e.write(t, c, "/", "X-Session-Flush", "1")
			if got := e.read(t, c, "/"); !got.New || got.has("sid") || len(got.Data) != 0 {
				t.Fatalf("after flush: %s", got.raw)
			}
		})
	}
}
