package integration

// X-Session-Incr end to end (issue 11): counters that several requests,
// or several apps, increment at once lose nothing, on every store, and an
// increment of a field that holds no counter voids the whole update.

import (
	"net/http"
	"testing"
)

func TestIncr(t *testing.T) {
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := startCtEnv(t, st.setup(t))
			client := relClient(t)
			key := relLogin(t, e)

			// 100 requests at once, each answered X-Session-Incr {"n": 1}.
			const n = 100
			reqs := make([]*http.Request, n)
			for i := range n {
				reqs[i], _ = e.newRequest(t, &ctCall{
					header: ctLines("Cookie", "sessionid="+key),
					answer: ctLines("X-Session-Incr", `{"n": 1}`),
				})
			}
			status, errs := relFanOut(client, reqs)
			for _, err := range errs {
				t.Error(err)
			}
			for i, s := range status {
				if s != http.StatusOK {
					t.Errorf("increment %d answered %d; want 200", i, s)
				}
			}
			got := e.readWithCookie(t, "/", "sessionid", key)
			if string(got.Data["n"]) != "100" {
				t.Errorf("after %d concurrent increments n = %s; want 100", n, got.Data["n"])
			}

			// A field that is no counter: 502, and nothing of the update
			// is kept.
			r := e.do(t, ctRawClient(), ctCall{
				header: ctLines("Cookie", "sessionid="+key),
				answer: ctLines("X-Session-Set", `{"init": "text", "other": 2}`, "X-Session-Incr", `{"n": 1, "init": 1}`),
			})
			ctWantStatus(t, r, http.StatusBadGateway)
			after := e.readWithCookie(t, "/", "sessionid", key)
			if string(after.Data["n"]) != "100" || string(after.Data["init"]) != "1" || after.Data["other"] != nil {
				t.Errorf("after a refused increment the session is %s; want it unchanged (n 100, init 1)", after.raw["data"])
			}
		})
	}
}
