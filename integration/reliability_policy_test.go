package integration

// Issue 7, scenario 5: the store-failure policy. With the store stalled
// (redis-server stopped with SIGSTOP, so connections hang rather than fail
// fast), every request ends within store_timeout; on_store_error fail
// answers 503 without calling the upstream; on_store_error pass calls it
// with an empty session marked store_error and applies nothing; the admin
// endpoint reports the store down, then up again; and the session is
// intact once the store is back.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/relreport"
	"github.com/caddy-session/caddy-session/internal/testredis"
)

func TestReliabilityStorePolicy(t *testing.T) {
	rs := testredis.Start(t)
	up := newCtUpstream(t)
	store := "store redis {\n\taddress " + rs.Addr() + "\n\tdial_timeout 10s\n\ttimeout 10s\n}"
	site := fmt.Sprintf("handle /pass/* {\n%s\n\treverse_proxy %s\n}\nhandle {\n%s\n\treverse_proxy %s\n}",
		indent(ctSessionBlock(store, "on_store_error pass\nstore_timeout 1s")), up.host,
		indent(ctSessionBlock(store, "store_timeout 1s")), up.host)
	e := &ctEnv{caddy: startCaddy(t, "", site), up: up}
	c := newClient(t)
	e.write(t, c, "/pass/", "X-Session-Set", `{"user":"bob"}`)
	key := ctJarKey(t, e, c, "/pass/", "sessionid")

	health := func() (int, string) {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(e.caddy.AdminPort) + "/sessions/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := health(); code != http.StatusOK || !strings.Contains(body, `"state":"up"`) {
		t.Fatalf("health before the fault: %d %s", code, body)
	}

	raw := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	info, err := raw.Info(t.Context(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatal("no process_id in INFO server")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)

	// fail: 503 with Retry-After, within store_timeout, upstream not called.
	start := time.Now()
	r := e.do(t, ctRawClient(), ctCall{header: ctLines("Cookie", "sessionid="+key), answer: ctLines("X-Session-Set", `{"x":1}`)})
	failTook := time.Since(start)
	ctWantStatus(t, r, http.StatusServiceUnavailable)
	// A generous bound, far below the Redis client's own 10 s: this checks
	// that store_timeout applies, not how fast the machine is.
	if failTook >= 8*time.Second {
		t.Fatalf("a request with the store stalled took %v; store_timeout 1s did not bound it", failTook)
	}
	if r.resp.Header.Get("Retry-After") == "" || r.seen != nil {
		t.Fatalf("stalled store, on_store_error fail: Retry-After %q, upstream called %v", r.resp.Header.Get("Retry-After"), r.seen != nil)
	}

	// pass: the upstream is called with an empty session marked
	// store_error; what it answers about the session is dropped.
	start = time.Now()
	r = e.do(t, ctRawClient(), ctCall{path: "/pass/", header: ctLines("Cookie", "sessionid="+key), answer: ctLines("X-Session-Set", `{"user":"mallory"}`, "X-Session-Flush", "1")})
	passTook := time.Since(start)
	ctWantStatus(t, r, http.StatusOK)
	if passTook >= 8*time.Second {
		t.Fatalf("a request with the store stalled took %v under pass; store_timeout 1s did not bound it", passTook)
	}
	claims := ctToken(t, r)
	if !claims.New || len(claims.Data) != 0 || string(claims.raw["store_error"]) != "true" {
		t.Fatalf("on_store_error pass handed %s", r.seen.payload)
	}
	ctNoSetCookie(t, r.resp)
	ctNoFamily(t, r.resp, "X-Session")

	code, body := health()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"state":"down"`) {
		t.Fatalf("health while the store is stalled: %d %s", code, body)
	}
	var rep struct {
		Stores []struct {
			LastErrorMessage string `json:"last_error_message"`
		} `json:"stores"`
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Stores {
		if strings.Contains(s.LastErrorMessage, key) {
			t.Fatal("the health report shows a session key")
		}
	}

	resume()
	recovered := time.Now()
	ctEventually(t, 20*time.Second, "the store answering again", func() bool {
		r := e.do(t, ctRawClient(), ctCall{path: "/pass/", header: ctLines("Cookie", "sessionid="+key)})
		return r.resp.StatusCode == http.StatusOK && r.seen != nil && !r.seen.claims.New
	})
	recovery := time.Since(recovered)
	ctWantData(t, e.read(t, c, "/pass/"), map[string]string{"user": `"bob"`})
	if code, body := health(); code != http.StatusOK || !strings.Contains(body, `"state":"up"`) {
		t.Fatalf("health after the store is back: %d %s", code, body)
	}

	const sc = "5. Store-failure policy"
	relreport.Record(t, relreport.Figure{Scenario: sc, Name: "request with a stalled Redis, on_store_error fail (store_timeout 1s, Redis timeout 10s)", Value: failTook.Milliseconds(), Unit: "ms", Goal: "≤ store_timeout plus overhead", Met: relreport.Met(failTook < 2*time.Second), Note: "503 with Retry-After; the upstream was not called"})
	relreport.Record(t, relreport.Figure{Scenario: sc, Name: "request with a stalled Redis, on_store_error pass", Value: passTook.Milliseconds(), Unit: "ms", Note: "200; the upstream got data {} and store_error true; its Set and Flush were dropped; no cookie"})
	relreport.Record(t, relreport.Figure{Scenario: sc, Name: "first session read after SIGCONT", Value: recovery.Milliseconds(), Unit: "ms", Note: "the session was intact; /sessions/health went down (503) and back up (200)"})
}
