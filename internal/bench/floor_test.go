package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func usList(xs ...float64) []time.Duration {
	var out []time.Duration
	for _, x := range xs {
		out = append(out, time.Duration(x*1000))
	}
	return out
}

// floorCombos is a run's lines as the report gets them: plain, three read
// lines with CPU targets, a write and signed_cookies (no floor), and the
// floor lines of the two sizes, with the added CPU of three rounds.
func floorCombos() []*combo {
	cs := []*combo{
		{Config: "plain", Store: "plain reverse_proxy", Path: "read", runs: []wrkResult{{ReqPerSec: 10000, Requests: 1000, CaddyCPU: 120 * time.Millisecond}}},
		{Config: "redis", Store: "redis (1 k)", Path: "read", Size: small, CPUTarget: 20 * time.Microsecond, addedCPU: usList(30, 34, 32),
			runs: []wrkResult{{ReqPerSec: 8000, Requests: 1000, CaddyCPU: 152 * time.Millisecond}}},
		{Config: "memory", Store: "memory", Path: "read", Size: small, CPUTarget: 8 * time.Microsecond, addedCPU: usList(16, 15, 17),
			runs: []wrkResult{{ReqPerSec: 9000, Requests: 1000, CaddyCPU: 136 * time.Millisecond}}},
		{Config: "redis", Store: "redis (1 k)", Path: "read", Size: large, CPUTarget: 40 * time.Microsecond, addedCPU: usList(120, 125, 118),
			runs: []wrkResult{{ReqPerSec: 6000, Requests: 1000, CaddyCPU: 240 * time.Millisecond}}},
		{Config: "redis", Store: "redis (1 k)", Path: "write", Size: small, addedCPU: usList(80, 90, 85)},
		{Config: "signed_cookies", Store: "signed_cookies", Path: "read", Size: small, addedCPU: usList(20, 20, 20)},
		{Config: "floor-100", Store: floorStore, Path: "read", Size: small, addedCPU: usList(10, 14, 12)},
		{Config: "floor-4096", Store: floorStore, Path: "read", Size: large, addedCPU: usList(50, 60, 58)},
	}
	for _, c := range cs {
		c.ratios = []float64{1}
		c.addedP99 = []time.Duration{0}
		if c.addedCPU == nil {
			c.addedCPU = []time.Duration{0}
		}
		if c.runs == nil {
			c.runs = []wrkResult{{ReqPerSec: 5000, Requests: 1000, CaddyCPU: 200 * time.Millisecond}}
		}
	}
	return cs
}

// Each read line's added CPU splits into its size's floor line and the
// rest (the module's own, the same round's difference); the write,
// signed_cookies and the floor lines themselves are not split.
func TestFloorSplits(t *testing.T) {
	splits := floorSplits(floorCombos())
	if len(splits) != 3 {
		t.Fatalf("%d splits, want redis, memory and redis 4 KiB: %+v", len(splits), splits)
	}
	want := []struct {
		label              string
		added, floor, own  float64
		asWritten, overFlr bool
	}{
		{"redis (1 k) read ~100 B", 32, 12, 20, false, true},  // own per round: 20, 20, 20
		{"memory read ~100 B", 16, 12, 5, false, true},        // own per round: 6, 1, 5
		{"redis (1 k) read 4 KiB", 120, 58, 65, false, false}, // own per round: 70, 65, 60
	}
	for i, s := range splits {
		w := want[i]
		if s.Line.label() != w.label || s.Added != time.Duration(w.added*1000) || s.FloorAdded != time.Duration(w.floor*1000) || s.Own != time.Duration(w.own*1000) {
			t.Errorf("split %d: %s added %s floor %s own %s, want %s %v %v %v", i, s.Line.label(), s.Added, s.FloorAdded, s.Own, w.label, w.added, w.floor, w.own)
		}
		if s.metAsWritten() != w.asWritten || s.metOverFloor() != w.overFlr {
			t.Errorf("%s: met as written %v, over the floor %v; want %v, %v", w.label, s.metAsWritten(), s.metOverFloor(), w.asWritten, w.overFlr)
		}
	}
}

// The floor line's site adds, as fillers of the same length, exactly the
// headers the session's request reached the upstream with and plain's did
// not, and removes the cookie the handler removed.
func TestFloorSite(t *testing.T) {
	token := strings.Repeat("t", 331)
	sess := http.Header{"X-Session": {token}, "Via": {"1.1 Caddy"}, "Accept-Encoding": {"gzip"}}
	plain := http.Header{"Via": {"1.1 Caddy"}, "Accept-Encoding": {"gzip"}}
	site, n := floorSite("127.0.0.1:9", sess, plain)
	if n != len("X-Session: \r\n")+331 {
		t.Errorf("%d bytes, want %d", n, len("X-Session: \r\n")+331)
	}
	for _, want := range []string{"reverse_proxy 127.0.0.1:9 {", "header_up -Cookie", `header_up X-Session "` + filler(331) + `"`} {
		if !strings.Contains(site, want) {
			t.Errorf("site lacks %q:\n%s", want, site)
		}
	}
	if strings.Contains(site, "Via") || strings.ContainsAny(filler(331), "{}\" ") || len(filler(331)) != 331 {
		t.Errorf("site copies a header plain has too, or the filler is not plain text:\n%s", site)
	}
	// A session whose cookie is passed (pass_cookie) keeps it.
	sess["Cookie"] = []string{"sessionid=x"}
	if site, _ := floorSite("127.0.0.1:9", sess, plain); strings.Contains(site, "-Cookie") {
		t.Errorf("cookie removed though the session's request kept it:\n%s", site)
	}
}

// `go tool pprof -traces`: each sample goes to the first category its
// stack matches; labels and the preamble are not samples.
func TestCategorize(t *testing.T) {
	traces := `File: caddy
Type: cpu
Duration: 6s, Total samples = 100ms (1.67%)
-----------+-------------------------------------------------------
      40ms   syscall.Syscall
             internal/poll.(*FD).Write
             github.com/redis/go-redis/v9/internal/pool.(*Conn).WithWriter
             github.com/caddy-session/caddy-session/caddymodule.(*Handler).ServeHTTP
-----------+-------------------------------------------------------
         bytes:  64B
      20ms   runtime.mallocgc
             github.com/redis/go-redis/v9/internal/proto.(*Reader).ReadReply
-----------+-------------------------------------------------------
      10ms   crypto/sha256.block
             crypto/hmac.(*hmac).Sum
             github.com/caddy-session/caddy-session/session.Sign
-----------+-------------------------------------------------------
      20ms   syscall.Syscall
             internal/poll.(*FD).Write
             net/http.(*persistConn).writeLoop
-----------+-------------------------------------------------------
      10ms   runtime.memmove
             net/http.(*conn).serve
-----------+-------------------------------------------------------
      20ms   runtime.memmove
             github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy.copyHeader
             github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy.(*Handler).ServeHTTP
             github.com/caddyserver/caddy/v2/modules/caddyhttp.HandlerFunc.ServeHTTP
             github.com/caddy-session/caddy-session/caddymodule.(*Handler).ServeHTTP
-----------+-------------------------------------------------------
      20ms   github.com/caddyserver/caddy/v2/modules/caddyhttp.HandlerFunc.ServeHTTP
             github.com/caddy-session/caddy-session/caddymodule.(*Handler).ServeHTTP
-----------+-------------------------------------------------------
      20ms   github.com/caddy-session/caddy-session/caddymodule.(*Handler).ServeHTTP
             net/http.(*conn).serve
-----------+-------------------------------------------------------
`
	shares, err := categorize(traces)
	if err != nil {
		t.Fatal(err)
	}
	// reverse_proxy and Caddy's route wrappers below the handler are not
	// the module's own code; the handler's own frame is.
	want := map[string]float64{
		"store round trips: socket syscalls of the store client":   0.25,
		"allocation (mallocgc, any caller)":                        0.125,
		"token and cookie: HMAC-SHA256":                            0.0625,
		"HTTP sockets: syscalls (client and upstream connections)": 0.125,
		"headers: parse, copy, write (net/http, reverse_proxy)":    0.125,
		"the module's other code":                                  0.125,
		restCategory:                                               0.1875,
	}
	for k, v := range want {
		if d := shares[k] - v; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: %.3f, want %.3f (all: %v)", k, shares[k], v, shares)
		}
	}
	if _, err := categorize("File: caddy\n"); err == nil {
		t.Error("no error for traces without samples")
	}
	costs := addedByCategory(shares, 200*time.Microsecond, map[string]float64{restCategory: 0.5, "HTTP sockets: syscalls (client and upstream connections)": 0.5}, 100*time.Microsecond)
	if costs[0].Name != "store round trips: socket syscalls of the store client" || costs[0].Added != 50*time.Microsecond {
		t.Errorf("largest added %s %s, want the store's syscalls, 50 µs", costs[0].Name, costs[0].Added)
	}
	var sum time.Duration
	for _, c := range costs {
		sum += c.Added
	}
	if sum < 99*time.Microsecond || sum > 101*time.Microsecond {
		t.Errorf("categories add up to %s, want the 100 µs difference", sum)
	}
}

// The report splits each read line's added CPU into floor and own, judges
// a missed target also against floor + target (saying the rule), and says
// for each missed target by how much and, from the profile, what bounds it.
func TestReportFloorAndBounds(t *testing.T) {
	combos := floorCombos()
	res := &results{opts: options{rounds: 3, duration: 6 * time.Second, command: "./scripts/bench.sh", png: filepath.Join(t.TempDir(), "b.png"), figures: "b.json"},
		started: time.Now(), combos: combos, floorBytes: map[int]int{small: 404, large: 5732}}
	shares := map[string]float64{restCategory: 0.5, "HTTP sockets: syscalls (client and upstream connections)": 0.5}
	res.plainProfile = &profileResult{Label: combos[0].label(), Line: combos[0], Shares: shares}
	res.profiles = []profileResult{{Label: combos[3].label(), Line: combos[3], Shares: map[string]float64{
		restCategory: 0.25, "HTTP sockets: syscalls (client and upstream connections)": 0.25,
		"go-redis client (commands, RESP parse, pipelining)": 0.3, "token: base64": 0.2,
	}}, {Label: combos[7].label(), Line: combos[7], Shares: map[string]float64{
		restCategory: 0.3, "HTTP sockets: syscalls (client and upstream connections)": 0.4, "headers: parse, copy, write (net/http, reverse_proxy)": 0.3,
	}}}
	out := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := writeReport(out, res, "alt", "alt"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	report := string(b)
	for _, want := range []string{
		"| redis (1 k) read ~100 B | 32.0 µs | 12.0 µs | 20.0 µs | 20.0 µs | **not met** | **met** |",
		"| redis (1 k) read 4 KiB | 120.0 µs | 58.0 µs | 65.0 µs | 40.0 µs | **not met** | **not met** |",
		"404 B for a ~100 B session, 5732 B for a 4 KiB session",
		"The rule: a CPU target is judged as issue 16 writes it",
		"| the same against floor + target: added Caddy CPU per request less the token floor, redis (1 k) read ~100 B ≤ 20.0 µs | 20.0 µs | **met** |",
		"- **redis (1 k) read 4 KiB**: adds 120.0 µs against a target of 40.0 µs, missed by 80.0 µs. Carrying its token costs 58.0 µs (the floor); the module's own is 65.0 µs, 25.0 µs over the target even against floor + target. In the profile the added CPU goes to go-redis client +72.0 µs; token: base64 +48.0 µs.",
		"- **memory read ~100 B**: adds 16.0 µs against a target of 8.0 µs, missed by 8.0 µs. Carrying its token costs 12.0 µs (the floor); the module's own is 5.0 µs, within the target: against floor + target it is **met**.",
		"| go-redis client (commands, RESP parse, pipelining) | 0.0 µs | 72.0 µs | 0.0 µs |",
		"- **plain reverse_proxy + token floor read 4 KiB** (the floor itself, no target): adds 58.0 µs. In the profile the added CPU goes to headers: parse, copy, write +60.0 µs; HTTP sockets: syscalls +20.0 µs.",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(report)
	}
}

// The charts' alt texts name the fastest session read and the read that
// adds most CPU; a floor line is neither (it has no session handler).
func TestAltTextsSkipFloorLines(t *testing.T) {
	f := chartFigures{Lines: []chartLine{
		{Store: "plain reverse_proxy", Path: "read", Size: "–", RPS: 10000, Ratio: 1, P50Ms: 1, P99Ms: 2, CPUUs: 60},
		{Store: "memory", Path: "read", Size: "~100 B", RPS: 9000, Ratio: 0.9, Target: 0.95, P50Ms: 1, P99Ms: 2, CPUUs: 70, AddedCPUUs: 10},
		{Store: floorStore, Path: "read", Size: "~100 B", RPS: 9800, Ratio: 0.98, P50Ms: 1, P99Ms: 2, CPUUs: 62, AddedCPUUs: 2},
		{Store: floorStore, Path: "read", Size: "4 KiB", RPS: 8000, Ratio: 0.8, P50Ms: 1, P99Ms: 2, CPUUs: 90, AddedCPUUs: 30},
	}}
	altT, _, err := drawCharts(f, filepath.Join(t.TempDir(), "b.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(altT, "fastest read: memory") {
		t.Errorf("throughput alt text %q: the fastest read is not memory's", altT)
	}
	if alt := cpuAlt(f); !strings.Contains(alt, "most added on a read: memory") {
		t.Errorf("CPU alt text %q: the read adding most is not memory's", alt)
	}
}
