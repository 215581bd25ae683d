package integration

// Reliability scenario 9, "Soak": mixed session reads and writes at a fixed
// rate for a long while (full: 10 minutes; short: 5 seconds) on the memory,
// redis and db stores, sampling Caddy's resident memory and goroutines and
// the requests' latency. At full scale, unbounded growth fails the test.

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/relreport"
)

// relRSS is the resident memory of the Caddy process in MiB.
func relRSS(c *Caddy) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("reading Caddy's status: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in Caddy's status")
}

// relSample is one reading of Caddy's process.
type relSample struct {
	at         time.Duration // since the soak started
	rss        float64       // MiB
	goroutines float64
}

// relSlope is the least-squares slope of y over the samples, per minute.
func relSlope(samples []relSample, y func(relSample) float64) float64 {
	if len(samples) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(samples))
	for _, s := range samples {
		x := s.at.Minutes()
		sx, sy, sxx, sxy = sx+x, sy+y(s), sxx+x*x, sxy+x*y(s)
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// relPercentile is the p-th percentile (0..1) of sorted durations.
func relPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func TestReliabilitySoak(t *testing.T) {
	duration := relreport.Scale(5*time.Second, 10*time.Minute)
	every := relreport.Scale(time.Second, 10*time.Second)    // sampling period
	window := relreport.Scale(duration, time.Minute)         // latency window
	warmup := relreport.Scale(time.Duration(0), time.Minute) // before the start values
	const rate = 40                                          // requests per second per store
	const sessions, workers = 20, 8

	// The stores soak at the same time, each in its own Caddy, not as
	// parallel subtests: go test runs only GOMAXPROCS of those at once.
	// The subtests then wait for their store's soak and report it.
	var reports []func(t *testing.T)
	var names []string
	for _, st := range ctStores {
		if st.name != "memory" && st.name != "redis" && st.name != "db" {
			continue
		}
		names = append(names, st.name)
		reports = append(reports, func() func(t *testing.T) {
			fx := st.setup(t)
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/w/") {
					w.Header().Set("X-Session-Set", fmt.Sprintf(`{"n": %d, "pad": %q}`, rand.IntN(1e6), strings.Repeat("x", rand.IntN(512))))
				}
				io.WriteString(w, "ok")
			}))
			t.Cleanup(up.Close)
			c := startCaddy(t, "\tmetrics", ctSessionBlock(fx.line, "")+"\nreverse_proxy "+strings.TrimPrefix(up.URL, "http://"))

			clients := make([]*http.Client, sessions)
			for i := range clients {
				clients[i] = newClient(t)
			}
			type result struct {
				at  time.Duration
				lat time.Duration
				ok  bool
			}
			jobs := make(chan int, workers)
			var mu sync.Mutex
			var results []result
			var skipped, failures atomic.Int64
			start := time.Now()
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range jobs {
						path := "/r/"
						if rand.IntN(10) < 3 {
							path = "/w/"
						}
						t0 := time.Now()
						resp, err := clients[i%sessions].Get(c.URL + path)
						ok := err == nil
						if ok {
							_, err = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							ok = err == nil && resp.StatusCode == http.StatusOK
						}
						if !ok {
							failures.Add(1)
							t.Logf("soak request: %v", err)
						}
						mu.Lock()
						results = append(results, result{at: t0.Sub(start), lat: time.Since(t0), ok: ok})
						mu.Unlock()
					}
				}()
			}

			var samples []relSample
			var sampleErr error
			sample := func() {
				rss, err := relRSS(c)
				var gr float64
				if err == nil {
					gr, err = relMetricErr(c, "go_goroutines")
				}
				if err != nil {
					sampleErr = err
					return
				}
				samples = append(samples, relSample{at: time.Since(start), rss: rss, goroutines: gr})
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				sample()
				tick := time.NewTicker(time.Second / rate)
				nextSample := every
				for n := 0; time.Since(start) < duration; n++ {
					<-tick.C
					select {
					case jobs <- n:
					default:
						skipped.Add(1) // the workers are behind: keep the rate, count it
					}
					if time.Since(start) >= nextSample {
						sample()
						nextSample += every
					}
				}
				tick.Stop()
				close(jobs)
				wg.Wait()
				sample()
			}()

			return func(t *testing.T) {
				<-done
				if sampleErr != nil {
					t.Fatalf("sampling Caddy: %v", sampleErr)
				}
				if len(samples) == 0 {
					t.Fatal("no samples")
				}

				// Start values: the first sample after the warm-up.
				first := samples[0]
				for _, s := range samples {
					if s.at >= warmup {
						first = s
						break
					}
				}
				last := samples[len(samples)-1]
				steady := slices.DeleteFunc(slices.Clone(samples), func(s relSample) bool { return s.at < first.at })
				rssSlope := relSlope(steady, func(s relSample) float64 { return s.rss })
				grSlope := relSlope(steady, func(s relSample) float64 { return s.goroutines })

				var windows []string
				var firstWin, lastWin string
				for w := time.Duration(0); w < duration; w += window {
					var lats []time.Duration
					for _, r := range results {
						if r.ok && r.at >= w && r.at < w+window {
							lats = append(lats, r.lat)
						}
					}
					slices.Sort(lats)
					p50, p99 := relPercentile(lats, 0.50), relPercentile(lats, 0.99)
					lastWin = fmt.Sprintf("p50 %s, p99 %s", p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
					if w == 0 {
						firstWin = lastWin
					}
					windows = append(windows, fmt.Sprintf("%s-%s: p50 %s p99 %s (%d)", w, w+window, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), len(lats)))
				}
				t.Logf("latency per window: %s", strings.Join(windows, "; "))

				name := func(what string) string {
					return fmt.Sprintf("%s over a %s soak at %d requests/s, %s", what, duration, rate, st.name)
				}
				note := fmt.Sprintf("%d sessions, 30%% writes of up to 0.5 KiB, 70%% reads, %d connections; sampled every %s, start values after a %s warm-up", sessions, workers, every, warmup)
				fail := failures.Load()
				for _, f := range []relreport.Figure{
					{Name: name("requests answered"), Value: len(results), Unit: "requests", Note: fmt.Sprintf("%d ticks skipped because all connections were busy", skipped.Load())},
					{Name: name("failed requests"), Value: fail, Unit: "requests", Goal: "0", Met: relreport.Met(fail == 0), Note: "errors and statuses other than 200"},
					{Name: name("Caddy RSS start -> end"), Value: fmt.Sprintf("%.1f -> %.1f", first.rss, last.rss), Unit: "MiB", Note: note + "; VmRSS of /proc/<pid>/status"},
					{Name: name("Caddy RSS slope"), Value: fmt.Sprintf("%.2f", rssSlope), Unit: "MiB/min", Note: "least squares over the samples after the warm-up"},
					{Name: name("Caddy goroutines start -> end"), Value: fmt.Sprintf("%.0f -> %.0f", first.goroutines, last.goroutines), Unit: "goroutines", Note: note + "; go_goroutines of the admin /metrics"},
					{Name: name("Caddy goroutines slope"), Value: fmt.Sprintf("%.2f", grSlope), Unit: "goroutines/min", Note: "least squares over the samples after the warm-up"},
					{Name: name("latency, first window -> last window"), Value: firstWin + " -> " + lastWin, Note: "per window of " + window.String() + ": " + strings.Join(windows, "; ")},
				} {
					f.Scenario = "9. Soak"
					relreport.Record(t, f)
				}
				if fail > 0 {
					t.Errorf("%d of %d soak requests failed", fail, len(results))
				}
				if relreport.Full() {
					if last.rss > 2*first.rss {
						t.Errorf("Caddy's RSS grew from %.1f to %.1f MiB over the soak: unbounded growth", first.rss, last.rss)
					}
					if last.goroutines > 2*first.goroutines && last.goroutines-first.goroutines > 50 {
						t.Errorf("Caddy's goroutines grew from %.0f to %.0f over the soak: unbounded growth", first.goroutines, last.goroutines)
					}
				}
			}
		}())
	}
	for i, report := range reports {
		t.Run(names[i], report)
	}
}
