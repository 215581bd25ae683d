package integration

// A store's health is the shared store's: every handler on one store
// reports the same state, however each writes its config, and a handler
// on another store never reports its outage.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
)

func TestHealthSharedStore(t *testing.T) {
	failing, other := strictDir(t, 0o700), strictDir(t, 0o700)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Session-Set", `{"n":1}`)
	}))
	t.Cleanup(upstream.Close)
	// /a/ and /b/ are one store (one directory), written once through a
	// placeholder and once literally; /c/ is another directory.
	route := func(path, cookie, dir string) string {
		return fmt.Sprintf("handle_path /%s/* {\n\tsession {\n\t\tsecret {env.SESSION_SECRET}\n\t\tcookie_name %s\n\t\tstore file %s\n\t}\n\treverse_proxy %s\n}",
			path, cookie, dir, upstream.Listener.Addr())
	}
	c := startCaddy(t, "", route("a", "a", "{env.CT_HEALTH_DIR}")+"\n"+route("b", "b", failing)+"\n"+route("c", "c", other),
		"CT_HEALTH_DIR="+failing)
	clients := map[string]*http.Client{}
	for _, p := range []string{"a", "b", "c"} {
		clients[p] = newClient(t)
		resp, err := clients[p].Get(c.URL + "/" + p + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(resp.Cookies()) == 0 {
			t.Fatalf("GET /%s/: %d, cookies %v; want 200 and a new session", p, resp.StatusCode, resp.Cookies())
		}
	}

	// The outage: the directory is no longer one (a volume gone, a
	// mistaken deploy), so reading a session fails.
	if err := os.Rename(failing, failing+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(failing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := clients["a"].Get(c.URL + "/a/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET /a/ with its store failing: %d; want 503", resp.StatusCode)
	}

	resp, err = http.Get("http://127.0.0.1:" + strconv.Itoa(c.AdminPort) + "/sessions/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		Stores []healthEntry `json:"stores"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("GET /sessions/health: %v\n%s", err, body)
	}
	states := map[string]int{}
	for _, s := range got.Stores {
		states[s.State]++
	}
	// Two stores: the one /a/ and /b/ share, down (as /b/ would find it),
	// and /c/'s, up. Not a third entry for /b/ that still says "up".
	if resp.StatusCode != http.StatusServiceUnavailable || len(got.Stores) != 2 || states["down"] != 1 || states["up"] != 1 {
		t.Fatalf("GET /sessions/health: %d %s; want 503 and two stores, one down (a and b's) and one up (c's)", resp.StatusCode, body)
	}
}

type healthEntry struct {
	Store string `json:"store"`
	State string `json:"state"`
}
