package integration

// Reliability scenario 7, "Reloads": config reloads while clients keep
// writing and reading their sessions, on the memory, redis and db stores,
// with a plain reverse_proxy route (no session handler) in the same Caddy
// under the same reloads for comparison. A dropped connection is resent
// once, as a browser does, and counted; a lost session fails the test.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/relreport"
)

// relMetric reads an unlabelled metric (e.g. go_goroutines) from the
// Caddy's admin /metrics endpoint.
func relMetric(t *testing.T, c *Caddy, name string) float64 {
	t.Helper()
	v, err := relMetricErr(c, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// relMetricErr is relMetric for goroutines other than the test's.
func relMetricErr(c *Caddy, name string) (float64, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(c.AdminPort) + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("reading metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("metric %s: %w", name, err)
			}
			return f, nil
		}
	}
	return 0, fmt.Errorf("metric %s not found at the admin /metrics (status %s)", name, resp.Status)
}

// relTally counts what one kind of route saw under reloads.
type relTally struct {
	requests atomic.Int64 // answered with 200
	dropped  atomic.Int64 // connections closed without a response, resent once
	errors   atomic.Int64 // anything else: a status other than 200, a second drop, a refusal
	lost     atomic.Int64 // sessions whose count started over
	skewed   atomic.Int64 // counts off by other than a restart

	mu     sync.Mutex
	events []relreport.Event // every answer, for the report's timeline
}

func (tally *relTally) answered(ok bool) {
	tally.mu.Lock()
	tally.events = append(tally.events, relreport.Event{At: time.Now(), OK: ok})
	tally.mu.Unlock()
}

// relGet is one GET as a browser makes it across a reload: a connection
// dropped without any response is resent once on a new connection.
func relGet(client *http.Client, url string, tally *relTally) (string, bool) {
	resp, err := client.Get(url)
	if droppedByReload(err) {
		tally.dropped.Add(1)
		client.CloseIdleConnections()
		resp, err = client.Get(url)
	}
	if err != nil {
		tally.errors.Add(1)
		tally.answered(false)
		return "", false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tally.errors.Add(1)
		tally.answered(false)
		return "", false
	}
	tally.requests.Add(1)
	tally.answered(true)
	return string(body), true
}

func TestReliabilityReloads(t *testing.T) {
	reloads := relreport.Scale(5, 100)
	const sessionClients, plainClients = 4, 2
	for _, st := range ctStores {
		if st.name != "memory" && st.name != "redis" && st.name != "db" {
			continue
		}
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			fx := st.setup(t)
			plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
			t.Cleanup(plain.Close)
			site := fmt.Sprintf("handle /s/* {\n%s\n\treverse_proxy %s\n}\nhandle /p/* {\n\treverse_proxy %s\n}",
				indent(ctSessionBlock(fx.line, "")), counterUpstream(t), strings.TrimPrefix(plain.URL, "http://"))
			c := startCaddy(t, "", site)

			var redisClients func() int
			if fx.redis != nil {
				raw := redis.NewClient(&redis.Options{Addr: fx.redis.Addr()})
				t.Cleanup(func() { _ = raw.Close() })
				redisClients = func() int {
					list, err := raw.ClientList(t.Context()).Result()
					if err != nil {
						t.Fatal(err)
					}
					return strings.Count(list, "\n")
				}
			}

			var sess, prox relTally
			var clientsMu sync.Mutex
			var clients []*http.Client
			newLoadClient := func() *http.Client {
				client := reloadClient(t)
				clientsMu.Lock()
				clients = append(clients, client)
				clientsMu.Unlock()
				return client
			}
			stop := make(chan struct{})
			loadStarted := time.Now()
			var wg sync.WaitGroup
			for i := range sessionClients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					client := newLoadClient()
					want := 0
					for {
						select {
						case <-stop:
							return
						default:
						}
						body, ok := relGet(client, c.URL+"/s/", &sess)
						if !ok {
							continue
						}
						n, err := strconv.Atoi(body)
						switch {
						case err != nil:
							sess.errors.Add(1)
							t.Errorf("session client %d: body %q", i, body)
						case n == want+1:
						case n == 1:
							sess.lost.Add(1)
							t.Errorf("session client %d: count started over at 1 after %d: the session was lost", i, want)
						default:
							sess.skewed.Add(1)
							t.Logf("session client %d: count %d after %d", i, n, want)
						}
						want = n
					}
				}()
			}
			for range plainClients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					client := newLoadClient()
					for {
						select {
						case <-stop:
							return
						default:
						}
						relGet(client, c.URL+"/p/", &prox)
					}
				}()
			}
			stopLoad := sync.OnceFunc(func() {
				close(stop)
				wg.Wait()
			})
			defer stopLoad()

			// progress waits until every client has made requests since
			// the last call: the reloads happen under load, not between.
			done := func() int64 {
				return sess.requests.Load() + sess.errors.Load() + prox.requests.Load() + prox.errors.Load()
			}
			last := done()
			progress := func() {
				deadline := time.Now().Add(30 * time.Second)
				for done() < last+2*(sessionClients+plainClients) {
					if time.Now().After(deadline) {
						t.Fatalf("the load made no progress in 30s")
					}
					time.Sleep(5 * time.Millisecond)
				}
				last = done()
			}

			progress()
			goroutinesBefore := relMetric(t, c, "go_goroutines")
			redisBefore := 0
			if redisClients != nil {
				redisBefore = redisClients()
			}
			var faults []relreport.Fault
			for range reloads {
				from := time.Now()
				c.reload(t)
				faults = append(faults, relreport.Fault{Label: "config reload (POST /load until it answered)", From: from, To: time.Now()})
				progress()
			}
			goroutinesLoaded := relMetric(t, c, "go_goroutines")
			stopLoad()
			for _, client := range clients {
				client.CloseIdleConnections()
			}
			goroutinesAfter := relMetric(t, c, "go_goroutines")

			note := fmt.Sprintf("%d reloads through the admin API while %d clients loop on their sessions and %d on a plain reverse_proxy route of the same Caddy", reloads, sessionClients, plainClients)
			relreport.Record(t, relreport.Figure{Scenario: "7. Reloads", Name: fmt.Sprintf("traffic over time, %d reloads, %s", reloads, st.name),
				Value: sess.requests.Load() + prox.requests.Load(), Unit: "requests answered 200", Note: note + "; answers per second of both routes, each reload shaded",
				Timeline: relreport.NewTimeline(loadStarted, append(sess.events, prox.events...), faults, "not 200 after one resend")})
			for _, f := range []struct {
				name, unit string
				n          int64
				goal       bool
			}{
				{fmt.Sprintf("lost sessions across %d reloads, %s", reloads, st.name), "sessions", sess.lost.Load(), true},
				{fmt.Sprintf("session counts off by other than a restart across %d reloads, %s", reloads, st.name), "sessions", sess.skewed.Load(), true},
				{fmt.Sprintf("HTTP errors after one resend, session route, %d reloads, %s", reloads, st.name), "requests", sess.errors.Load(), true},
				{fmt.Sprintf("HTTP errors after one resend, plain reverse_proxy route, %d reloads, %s", reloads, st.name), "requests", prox.errors.Load(), true},
				{fmt.Sprintf("connections dropped by Caddy and resent once, session route (of %d requests), %s", sess.requests.Load(), st.name), "requests", sess.dropped.Load(), false},
				{fmt.Sprintf("connections dropped by Caddy and resent once, plain reverse_proxy route (of %d requests), %s", prox.requests.Load(), st.name), "requests", prox.dropped.Load(), false},
			} {
				fig := relreport.Figure{Scenario: "7. Reloads", Name: f.name, Value: f.n, Unit: f.unit, Note: note}
				if f.goal {
					fig.Goal, fig.Met = "0", relreport.Met(f.n == 0)
				}
				relreport.Record(t, fig)
			}
			relreport.Record(t, relreport.Figure{
				Scenario: "7. Reloads", Name: fmt.Sprintf("Caddy goroutines before and after %d reloads under load, %s", reloads, st.name),
				Value: fmt.Sprintf("%.0f -> %.0f", goroutinesBefore, goroutinesAfter), Unit: "goroutines",
				Note: fmt.Sprintf("go_goroutines from the admin /metrics under load before the first reload, and after the last once the clients closed their connections (%.0f while open); the difference includes the replaced configs' reverse_proxy keep-alive connections, which Caddy closes on their idle timeout; goleak in caddymodule fails on leaked goroutines", goroutinesLoaded),
			})
			if redisClients != nil {
				redisAfter := redisClients()
				relreport.Record(t, relreport.Figure{
					Scenario: "7. Reloads", Name: fmt.Sprintf("Redis connections before and after %d reloads under load, %s", reloads, st.name),
					Value: fmt.Sprintf("%d -> %d", redisBefore, redisAfter), Unit: "connections",
					Goal: "no growth per reload", Met: relreport.Met(redisAfter <= redisBefore+sessionClients),
					Note: "CLIENT LIST line count, the test's own connection included; the pool may open up to one more connection per concurrent client",
				})
				if redisAfter > redisBefore+sessionClients {
					t.Errorf("Redis connections grew from %d to %d over %d reloads: clients leak", redisBefore, redisAfter, reloads)
				}
			}
			if n := sess.lost.Load(); n > 0 {
				t.Errorf("%d sessions lost across %d reloads", n, reloads)
			}
		})
	}
}
