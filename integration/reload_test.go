package integration

// Config reloads: stores are shared across reloads through a caddy.UsagePool,
// so sessions in the memory store survive a reload and the redis store keeps
// one client (no connection leak) however often the config is reloaded.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// reload posts the Caddy's own Caddyfile to its admin API, as
// `caddy reload` does.
func (c *Caddy) reload(t *testing.T) {
	t.Helper()
	body, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	// "Cache-Control: must-revalidate" makes Caddy reload even though the
	// config is unchanged.
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(c.AdminPort)+"/load", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reloading: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("reloading: %s: %s", resp.Status, msg)
	}
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
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body)
}

func TestReload(t *testing.T) {
	t.Run("memory store keeps sessions", func(t *testing.T) {
		c := startCaddy(t, "", "session {\n\tsecret {env.SESSION_SECRET}\n\tstore memory\n}\nreverse_proxy "+counterUpstream(t))
		client := newClient(t)
		visit(t, client, c.URL)
		visit(t, client, c.URL)
		c.reload(t)
		if got := visit(t, client, c.URL); got != "3" {
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

		client := newClient(t)
		visit(t, client, c.URL)
		before := clients()
		for i := range 5 {
			c.reload(t)
			if got, want := visit(t, client, c.URL), strconv.Itoa(i+2); got != want {
				t.Fatalf("visits after reload %d = %s, want %s", i+1, got, want)
			}
		}
		if after := clients(); after > before {
			t.Fatalf("Redis connections grew from %d to %d over 5 reloads: clients leak", before, after)
		}
	})
}
