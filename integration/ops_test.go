package integration

// Shared by the operations tests (placeholders_test.go, matcher_test.go,
// metrics_test.go, logs_test.go): a Go upstream whose answer each path
// scripts, a browser-like client, and a reader of the admin /metrics.
// Identifiers start with ops so as not to collide with the package's
// other files.

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// opsUpstream answers each path with the handler registered for it, and
// records the token and headers of the last request to each path.
type opsUpstream struct {
	srv  *httptest.Server
	host string // host:port

	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	seen   map[string]http.Header
	calls  map[string]int
}

func newOpsUpstream(t *testing.T) *opsUpstream {
	t.Helper()
	u := &opsUpstream{routes: map[string]http.HandlerFunc{}, seen: map[string]http.Header{}, calls: map[string]int{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen[r.URL.Path] = r.Header.Clone()
		u.calls[r.URL.Path]++
		h := u.routes[r.URL.Path]
		u.mu.Unlock()
		if h == nil {
			_, _ = io.WriteString(w, "upstream "+r.URL.Path)
			return
		}
		h(w, r)
	}))
	t.Cleanup(u.srv.Close)
	u.host = strings.TrimPrefix(u.srv.URL, "http://")
	return u
}

// handle scripts the answer to path.
func (u *opsUpstream) handle(path string, h http.HandlerFunc) {
	u.mu.Lock()
	u.routes[path] = h
	u.mu.Unlock()
}

// answer scripts path to answer 200 with the given session update headers.
func (u *opsUpstream) answer(path string, update ...string) {
	u.handle(path, func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(update); i += 2 {
			w.Header().Add(update[i], update[i+1])
		}
		_, _ = io.WriteString(w, "upstream "+path)
	})
}

// header is the last request to path as the upstream received it.
func (u *opsUpstream) header(path string) http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[path]
}

// called is how many requests to path reached the upstream.
func (u *opsUpstream) called(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[path]
}

// opsGet requests url with client and returns the status and body.
func opsGet(t *testing.T, client *http.Client, url string) (int, string, *http.Response) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(body), resp
}

// opsSID is the sid claim of the token in a request header.
func opsSID(t *testing.T, h http.Header) string {
	t.Helper()
	var claims struct {
		SID string `json:"sid"`
	}
	if err := decodePayload(h.Get("X-Session"), &claims); err != nil {
		t.Fatalf("token: %v", err)
	}
	return claims.SID
}

// opsMetrics scrapes the admin /metrics: every sample by its series (name
// and labels, as exposed), and the whole text.
func opsMetrics(t *testing.T, c *Caddy) (map[string]float64, string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(c.AdminPort) + "/metrics")
	if err != nil {
		t.Fatalf("reading metrics: %v", err)
	}
	defer resp.Body.Close()
	var text strings.Builder
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		text.WriteString(line + "\n")
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin /metrics: %s", resp.Status)
	}
	return out, text.String()
}

// opsJSONLines are the JSON log lines of a Caddy's output.
func opsJSONLines(logs string) []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// opsWaitLogs returns the Caddy's output once done holds for it. A line
// Caddy writes reaches the test through a pipe, and an access log line is
// written after its response: either may trail the response the test
// holds. It gives up after a minute, returning the output as it is, for
// the test's own assertions to report.
func opsWaitLogs(c *Caddy, done func(logs string) bool) string {
	deadline := time.Now().Add(time.Minute)
	for {
		logs := c.Logs()
		if done(logs) || time.Now().After(deadline) {
			return logs
		}
		time.Sleep(20 * time.Millisecond)
	}
}
