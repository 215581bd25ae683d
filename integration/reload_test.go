package integration

// Config reloads: stores are shared across reloads through a caddy.UsagePool,
// so sessions in the memory store survive a reload and the redis store keeps
// one client (no connection leak) however often the config is reloaded.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// reload posts the Caddy's own Caddyfile to its admin API, as
// `caddy reload` does. Caddy replaces its admin server on every load: the
// old one closes the connection that carried the load once it has
// answered, and, like the site's old server (see visitAfterReload), may
// drop a connection made while it shuts down. So each load goes on a new
// connection (Go never resends a POST on a kept-alive one that fails),
// and a load dropped without any response is posted again once: the
// dropped one was never handled, and loading the same config twice is
// harmless. Any response other than 200 fails the test.
func (c *Caddy) reload(t *testing.T) {
	t.Helper()
	body, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	post := func() (*http.Response, error) {
		// "Cache-Control: must-revalidate" makes Caddy reload even
		// though the config is unchanged.
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(c.AdminPort)+"/load", bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/caddyfile")
		req.Header.Set("Cache-Control", "must-revalidate")
		req.Close = true
		return http.DefaultClient.Do(req)
	}
	resp, err := post()
	if droppedByReload(err) {
		t.Logf("reloading: %v; posting again once on a new connection", err)
		resp, err = post()
	}
	if err != nil {
		t.Fatalf("reloading: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("reloading: %s: %s", resp.Status, msg)
	}
}

// droppedByReload reports whether err is a connection closed without any
// response, as a server shutting down for a reload closes one: EOF or a
// reset. A refused connection (no server at all), a timeout or any
// response is something else.
func droppedByReload(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// counterUpstream counts visits in the session, trusting the token's data
// without verifying it (the contract suite verifies tokens).
func counterUpstream(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := visitsIn(t, r.Header.Get("X-Session"))
		w.Header().Set("X-Session-Set", fmt.Sprintf(`{"visits": %d}`, n+1))
		fmt.Fprint(w, n+1)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func visitsIn(t *testing.T, token string) int {
	var claims struct {
		Data struct {
			Visits int `json:"visits"`
		} `json:"data"`
	}
	if err := decodePayload(token, &claims); err != nil {
		t.Errorf("decoding token: %v", err)
	}
	return claims.Data.Visits
}

func visit(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return readVisit(t, resp, url)
}

// visitAfterReload is visit for the first request after a reload, made
// the way a browser would. Caddy v2.11.9 itself, whatever the handler,
// now and then drops that request on a busy machine (with `respond` alone,
// in 0.2 to 0.7% of reloads on 2 busy cores): the old server, shutting
// down, closes a connection it has just read a request from without
// answering (net/http's conn.serve), or its listening socket closes with
// connections still queued on it (SO_REUSEPORT hands new connections to
// the old and the new socket alike). It also closes the idle kept-alive
// connection; Go resends a GET once when that one fails, but not when the
// new connection it resends on is dropped too.
//
// So the idle connections are closed first, and a GET whose connection was
// closed without any response (EOF or reset) is sent again once, on a new
// connection, as a browser does. Once is enough: the old server closes its
// listening socket as its shutdown begins, before it can drop anything, so
// the new connection reaches the new server. Any response at all is final:
// a 5xx, a lost session or a wrong count still fails, as does a second
// drop. A dropped request never reached the handler; had one done so and
// been lost only on the way back, the retry would count the visit twice
// and fail the test.
func visitAfterReload(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	client.CloseIdleConnections()
	resp, err := client.Get(url)
	if droppedByReload(err) {
		t.Logf("GET %s after a reload: %v; sending it again once on a new connection", url, err)
		client.CloseIdleConnections()
		resp, err = client.Get(url)
	}
	if err != nil {
		t.Fatal(err)
	}
	return readVisit(t, resp, url)
}

func readVisit(t *testing.T, resp *http.Response, url string) string {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body)
}

// reloadClient is newClient with a transport of its own, so that closing
// its idle connections touches no other client.
func reloadClient(t *testing.T) *http.Client {
	t.Helper()
	client := newClient(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client.Transport = tr
	return client
}

func TestReload(t *testing.T) {
	t.Run("memory store keeps sessions", func(t *testing.T) {
		c := startCaddy(t, "", "session {\n\tsecret {env.SESSION_SECRET}\n\tstore memory\n}\nreverse_proxy "+counterUpstream(t))
		client := reloadClient(t)
		visit(t, client, c.URL)
		visit(t, client, c.URL)
		c.reload(t)
		if got := visitAfterReload(t, client, c.URL); got != "3" {
			t.Fatalf("visits after a reload = %s, want 3: the memory store was not kept", got)
		}
	})

	t.Run("redis store keeps one client", func(t *testing.T) {
		rs := testredis.Start(t)
		c := startCaddy(t, "", "session {\n\tsecret {env.SESSION_SECRET}\n\tstore redis {\n\t\taddress "+rs.Addr()+"\n\t}\n}\nreverse_proxy "+counterUpstream(t))
		raw := redis.NewClient(&redis.Options{Addr: rs.Addr()})
		t.Cleanup(func() { _ = raw.Close() })
		clients := func() int {
			// CLIENT LIST counts every connection, our own included.
			list, err := raw.ClientList(t.Context()).Result()
			if err != nil {
				t.Fatal(err)
			}
			return strings.Count(list, "\n")
		}

		client := reloadClient(t)
		visit(t, client, c.URL)
		before := clients()
		for i := range 5 {
			c.reload(t)
			if got, want := visitAfterReload(t, client, c.URL), strconv.Itoa(i+2); got != want {
				t.Fatalf("visits after reload %d = %s, want %s", i+1, got, want)
			}
		}
		if after := clients(); after > before {
			t.Fatalf("Redis connections grew from %d to %d over 5 reloads: clients leak", before, after)
		}
	})
}
