package integration

// Reliability scenario 3, Redis faults: real redis-server processes
// restarted, stalled, failed over and resharded under load from a few
// bounded client loops, each a browser that logs in once and then reads
// and writes its session through the real ./caddy. This file also holds
// the load harness (rel*) that scenario 4 (reliability_pg_test.go) shares.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/relreport"
	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

// ---------------------------------------------------------------------------
// The load harness.

// relUpstream is the app behind Caddy. It checks every token it is handed:
// a request of a logged-in client must carry that client's session, with
// at least the last write the client saw acknowledged.
type relUpstream struct {
	srv  *httptest.Server
	host string
	// emptyHanded counts requests of a logged-in client whose token held
	// no session or someone else's.
	emptyHanded atomic.Int64
	calls       atomic.Int64
}

func newRelUpstream(t *testing.T) *relUpstream {
	t.Helper()
	u := &relUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serveHTTP))
	t.Cleanup(u.srv.Close)
	u.host = strings.TrimPrefix(u.srv.URL, "http://")
	return u
}

// serveHTTP answers /login?c=<client> by logging the client in, and
// /read?c= and /write?c=&n= (of a logged-in client) by checking the
// session and, for a write, setting n. It echoes the n it was handed in
// X-Rel-N, so that the client can tell an acknowledged write went missing.
func (u *relUpstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	var claims struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := decodePayload(r.Header.Get("X-Session"), &claims); err != nil {
		http.Error(w, "rel upstream: "+err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	client := q.Get("c")
	if r.URL.Path == "/login" {
		w.Header().Set("X-Session-Set", fmt.Sprintf(`{"user":%q,"n":0}`, client))
		return
	}
	var user string
	var n int64
	_ = json.Unmarshal(claims.Data["user"], &user)
	if err := json.Unmarshal(claims.Data["n"], &n); err != nil || user != client {
		u.emptyHanded.Add(1)
		w.Header().Set("X-Rel-Empty", "1")
		n = -1
	}
	w.Header().Set("X-Rel-N", strconv.FormatInt(n, 10))
	if r.URL.Path == "/write" {
		w.Header().Set("X-Session-Set", `{"n":`+q.Get("n")+`}`)
	}
}

// relEvent is one request's outcome.
type relEvent struct {
	client     int
	start, end time.Time
	status     int // 0: the request itself failed (timeout, connection)
}

// relLoad is the load: clients logged in through one Caddy, looping until
// stopped.
type relLoad struct {
	t    *testing.T
	base string // Caddy's URL
	up   *relUpstream

	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	events []relEvent
	// Guarantee counters.
	cleared  atomic.Int64 // a Set-Cookie that deletes or replaces a live session
	lostAcks atomic.Int64 // acknowledged writes a later request did not see
	keys     []string     // each client's session key after login

	started time.Time         // when the loops started
	faults  []relreport.Fault // the faults injected, for the timeline
}

// fault notes a fault injected from from to to, for the report's timeline.
func (l *relLoad) fault(label string, from, to time.Time) {
	l.faults = append(l.faults, relreport.Fault{Label: label, From: from, To: to})
}

// startRelLoad logs n clients in (each retrying until it succeeds, within
// a deadline) and starts their loops. logs, for failure messages, is
// Caddy's.
func startRelLoad(t *testing.T, base string, up *relUpstream, n int, logs func() string) *relLoad {
	t.Helper()
	l := &relLoad{t: t, base: base, up: up, stop: make(chan struct{}), keys: make([]string, n)}
	clients := make([]*http.Client, n)
	for i := range n {
		clients[i] = newClient(t)
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := clients[i].Get(fmt.Sprintf("%s/login?c=%d", base, i))
			last := "" // the last answer, for the failure message
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				last = fmt.Sprintf("%s: %s", resp.Status, body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("client %d: no login within 30s: %v %s\n%s", i, err, last, relLastLines(logs(), 5))
			}
			time.Sleep(50 * time.Millisecond)
		}
		u, _ := url.Parse(base)
		for _, c := range clients[i].Jar.Cookies(u) {
			if c.Name == "sessionid" {
				l.keys[i] = c.Value
			}
		}
		if l.keys[i] == "" {
			t.Fatalf("client %d: no session cookie after login", i)
		}
	}
	l.started = time.Now()
	for i := range n {
		l.wg.Go(func() { l.loop(i, clients[i]) })
	}
	t.Cleanup(l.Stop)
	return l
}

// loop alternates a read and a write of client i's session until stopped.
func (l *relLoad) loop(i int, c *http.Client) {
	var seq, lastAcked int64
	var acked []int64 // acknowledged write values not yet seen lost
	for op := 0; ; op++ {
		select {
		case <-l.stop:
			return
		default:
		}
		path := fmt.Sprintf("/read?c=%d", i)
		if op%2 == 1 {
			seq++
			path = fmt.Sprintf("/write?c=%d&n=%d", i, seq)
		}
		ev := relEvent{client: i, start: time.Now()}
		resp, err := c.Get(l.base + path)
		ev.end = time.Now()
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ev.status = resp.StatusCode
			for _, ck := range resp.Cookies() {
				if ck.Name == "sessionid" && (ck.MaxAge < 0 || ck.Value != l.keys[i]) {
					l.cleared.Add(1)
				}
			}
			if seen := resp.Header.Get("X-Rel-N"); seen != "" && resp.StatusCode == http.StatusOK {
				n, _ := strconv.ParseInt(seen, 10, 64)
				// Every acknowledged write above what this request saw
				// is lost; count each once.
				lost := 0
				acked = slices.DeleteFunc(acked, func(a int64) bool {
					if a > n {
						lost++
					}
					return true
				})
				l.lostAcks.Add(int64(lost))
				if op%2 == 1 {
					lastAcked = seq
					acked = append(acked, lastAcked)
				}
			}
		}
		l.mu.Lock()
		l.events = append(l.events, ev)
		l.mu.Unlock()
	}
}

// Stop ends the loops and waits for them. Stopping twice is harmless.
func (l *relLoad) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// snapshot is a copy of the events so far.
func (l *relLoad) snapshot() []relEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// waitOK waits until every client has had k successful requests that
// started at or after since, and returns the end of the first successful
// request that ended at or after since. It fails the test after timeout.
func (l *relLoad) waitOK(since time.Time, k int, timeout time.Duration) time.Time {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		counts := make([]int, len(l.keys))
		var first time.Time
		for _, e := range l.snapshot() {
			if e.status != http.StatusOK || e.end.Before(since) {
				continue
			}
			if first.IsZero() || e.end.Before(first) {
				first = e.end
			}
			if !e.start.Before(since) {
				counts[e.client]++
			}
		}
		if slices.Min(counts) >= k {
			return first
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("clients' successful requests since the fault ended: %v after %s; want %d each", counts, timeout, k)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFailed waits until k requests that started at or after since have
// failed, or timeout passes; it reports whether they did.
func (l *relLoad) waitFailed(since time.Time, k int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n := 0
		for _, e := range l.snapshot() {
			if e.status != http.StatusOK && !e.start.Before(since) {
				n++
			}
		}
		if n >= k {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// relLastLines is the last n lines of s.
func relLastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// relStats sums up the events.
type relStats struct {
	total, ok, unavailable, other int
	// firstFail and lastFail bound the failed requests (by their end).
	firstFail, lastFail time.Time
}

func (l *relLoad) stats() relStats {
	var s relStats
	for _, e := range l.snapshot() {
		s.total++
		switch e.status {
		case http.StatusOK:
			s.ok++
			continue
		case http.StatusServiceUnavailable:
			s.unavailable++
		default:
			s.other++
		}
		if s.firstFail.IsZero() || e.end.Before(s.firstFail) {
			s.firstFail = e.end
		}
		if e.end.After(s.lastFail) {
			s.lastFail = e.end
		}
	}
	return s
}

// errorWindow is the time from the first to the last failed request.
func (s relStats) errorWindow() time.Duration {
	if s.firstFail.IsZero() {
		return 0
	}
	return s.lastFail.Sub(s.firstFail)
}

// recordGuarantees records and asserts what must hold through any fault:
// no logged-in client handed an empty session upstream, no session cookie
// cleared, nothing but 200 and 503; and records the 503s.
func (l *relLoad) recordGuarantees(scenario, what, method string) relStats {
	l.t.Helper()
	s := l.stats()
	empty, cleared := l.up.emptyHanded.Load(), l.cleared.Load()
	relreport.Record(l.t, relreport.Figure{Scenario: scenario, Name: "upstream handed an empty session for a session that exists, " + what,
		Value: empty, Goal: "0", Met: relreport.Met(empty == 0), Note: method + "; the upstream checks every token of a logged-in client for its user"})
	relreport.Record(l.t, relreport.Figure{Scenario: scenario, Name: "cookies cleared, " + what,
		Value: cleared, Goal: "0", Met: relreport.Met(cleared == 0), Note: method + "; any Set-Cookie of sessionid deleting or replacing a client's live session"})
	relreport.Record(l.t, relreport.Figure{Scenario: scenario, Name: "503 responses, " + what,
		Value: s.unavailable, Unit: fmt.Sprintf("of %d requests", s.total), Note: method})
	var events []relreport.Event
	for _, e := range l.snapshot() {
		events = append(events, relreport.Event{At: e.end, OK: e.status == http.StatusOK})
	}
	relreport.Record(l.t, relreport.Figure{Scenario: scenario, Name: "traffic over time, " + what,
		Value: s.total, Unit: "requests", Note: method + "; answers per second of all clients, the fault shaded",
		Timeline: relreport.NewTimeline(l.started, events, l.faults, "503 or a failed request")})
	if empty != 0 {
		l.t.Errorf("%s: the upstream was handed %d empty sessions of logged-in clients", what, empty)
	}
	if cleared != 0 {
		l.t.Errorf("%s: %d Set-Cookie headers cleared or replaced a live session", what, cleared)
	}
	if s.other != 0 {
		l.t.Errorf("%s: %d requests failed other than with 503", what, s.other)
	}
	return s
}

// relClients is how many client loops load a scenario.
func relClients() int { return relreport.Scale(4, 8) }

// relSteady is how long the load runs before a fault at full scale; at the
// short scale only until every client has succeeded a few times.
func (l *relLoad) steady() {
	l.t.Helper()
	l.waitOK(time.Time{}, 3, 30*time.Second)
	if relreport.Full() {
		time.Sleep(5 * time.Second)
	}
}

func relRedisLine(extra ...string) string {
	return "store redis {\n" + indent(strings.Join(extra, "\n")) + "\n\tdial_timeout 1s\n\ttimeout 1s\n}"
}

func startRelCaddy(t *testing.T, storeLine string) (*Caddy, *relUpstream) {
	t.Helper()
	up := newRelUpstream(t)
	c := startCaddy(t, "", ctSessionBlock(storeLine, "")+"\nreverse_proxy "+up.host)
	return c, up
}

// ---------------------------------------------------------------------------
// Scenario 3.

const relRedis = "3. Redis faults"

func TestReliabilityRedis(t *testing.T) {
	t.Parallel()
	testredis.Binary(t)
	t.Run("restart", func(t *testing.T) {
		t.Parallel()
		relRedisRestartOrStall(t, false)
	})
	t.Run("stall", func(t *testing.T) {
		t.Parallel()
		relRedisRestartOrStall(t, true)
	})
	t.Run("sentinel failover", func(t *testing.T) {
		t.Parallel()
		t.Run("without wait", func(t *testing.T) { t.Parallel(); relSentinelFailover(t, false) })
		t.Run("wait_replicas 1", func(t *testing.T) { t.Parallel(); relSentinelFailover(t, true) })
	})
	t.Run("cluster slot migration", func(t *testing.T) {
		t.Parallel()
		relClusterMigration(t)
	})
	t.Run("wait cost", func(t *testing.T) {
		t.Parallel()
		relWaitCost(t)
	})
}

// (a) a restart of a Redis that persists (AOF, fsync always), (b) a stall
// (SIGSTOP, then SIGCONT).
func relRedisRestartOrStall(t *testing.T, stall bool) {
	srv := testredis.Start(t, ctRedisDurable...)
	c, up := startRelCaddy(t, relRedisLine("address "+srv.Addr()))
	l := startRelLoad(t, c.URL, up, relClients(), c.Logs)
	l.steady()

	what, method := "Redis restart", "redis-server with appendonly yes, appendfsync always, killed and started again on its port under load from %d clients; down until %s"
	faultAt := time.Now()
	var back time.Time
	if stall {
		d := relreport.Scale(time.Second, 5*time.Second)
		what = fmt.Sprintf("Redis stalled %s", d)
		method = fmt.Sprintf("redis-server SIGSTOPped for %s, then SIGCONT, under load from %d clients (store timeout 1s)", d, relClients())
		srv.Pause()
		t.Cleanup(srv.Resume)
		time.Sleep(d) // the fault's length, not a wait for anything
		srv.Resume()
		back = time.Now()
		l.fault("Redis stalled (SIGSTOP to SIGCONT)", faultAt, back)
	} else {
		srv.Stop()
		// Down until clients have met it, or for 5 s at full scale.
		until := "8 requests failed"
		if relreport.Full() {
			time.Sleep(5 * time.Second)
			until = "5 s passed"
		}
		if !l.waitFailed(faultAt, 8, 30*time.Second) {
			t.Fatal("no request failed within 30s of stopping Redis")
		}
		method = fmt.Sprintf(method, relClients(), until)
		srv.Restart()
		back = time.Now()
		l.fault("Redis down (killed until restarted)", faultAt, back)
	}
	first := l.waitOK(back, 3, 30*time.Second)
	l.Stop()

	s := l.recordGuarantees(relRedis, what, method)
	lost := l.lostAcks.Load()
	relreport.Record(t, relreport.Figure{Scenario: relRedis, Name: "recovery time after " + what,
		Value: float64(first.Sub(back).Microseconds()) / 1000, Unit: "ms",
		Note: "from SIGCONT, or from the restarted server accepting connections, to the end of the first successful request after it"})
	relreport.Record(t, relreport.Figure{Scenario: relRedis, Name: "acknowledged writes lost, " + what,
		Value: lost, Goal: "0", Met: relreport.Met(lost == 0), Note: "writes answered 200 whose value a later request's session did not hold"})
	if lost != 0 {
		t.Errorf("%s: %d acknowledged writes lost", what, lost)
	}
	if s.unavailable == 0 && !stall {
		t.Errorf("%s: no 503 while Redis was down", what)
	}
}

// (c) a Sentinel failover (SENTINEL FAILOVER) under load, with and without
// wait_replicas.
func relSentinelFailover(t *testing.T, wait bool) {
	testredis.CLIBinary(t)
	t0 := time.Now()
	primary := testredis.Start(t)
	replica := testredis.StartReplica(t, primary)
	t.Logf("replica at %s", time.Since(t0))
	sentinels := testredis.StartSentinels(t, primary, "rel", 3, 2, 2*time.Second, 1)
	var addrs []string
	for _, s := range sentinels {
		addrs = append(addrs, s.Addr())
	}
	lines := []string{"address " + strings.Join(addrs, " "), "master_name rel"}
	what := "Sentinel failover, without wait_replicas"
	if wait {
		lines = append(lines, "wait_replicas 1 500ms")
		what = "Sentinel failover, wait_replicas 1 500ms"
	}
	c, up := startRelCaddy(t, relRedisLine(lines...))
	l := startRelLoad(t, c.URL, up, relClients(), c.Logs)
	l.steady()

	t.Logf("topology and load up at %s", time.Since(t0))
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0].Addr()})
	t.Cleanup(func() { _ = sc.Close() })
	failoverAt := time.Now()
	if err := sc.Failover(t.Context(), "rel").Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		addr, err := sc.GetMasterAddrByName(t.Context(), "rel").Result()
		if err == nil && len(addr) == 2 && addr[0]+":"+addr[1] == replica.Addr() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica %s not promoted within 60s: %v, %v", replica.Addr(), addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	promoted := time.Now()
	l.fault("SENTINEL FAILOVER until the replica is promoted", failoverAt, promoted)
	t.Logf("promoted at %s", time.Since(t0))
	// With wait_replicas, writes succeed again once the old primary has
	// rejoined as a replica, which Sentinel takes some 15 s to order.
	// Without, the next request of each client reads the promoted
	// replica, which tells any acknowledged write it never got.
	old := redis.NewClient(&redis.Options{Addr: primary.Addr()})
	t.Cleanup(func() { _ = old.Close() })
	for wait {
		info, err := old.Info(t.Context(), "replication").Result()
		if err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old primary not a synced replica within 60s: %q, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("old primary is a replica at %s", time.Since(t0))
	// Every client's writes land on the promoted replica from now on.
	promotedRC := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	t.Cleanup(func() { _ = promotedRC.Close() })
	n0 := make([]int64, len(l.keys))
	for i, k := range l.keys {
		n0[i], _ = promotedRC.HGet(t.Context(), "session:"+k, "n").Int64()
	}
	for i, k := range l.keys {
		for {
			n, _ := promotedRC.HGet(t.Context(), "session:"+k, "n").Int64()
			if n > n0[i] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("client %d's writes did not reach the promoted replica within 60s", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	l.waitOK(promoted, 3, 30*time.Second)
	// A read by each client after its writes reached the promoted replica
	// tells any acknowledged write that did not.
	l.waitOK(time.Now(), 2, 30*time.Second)
	t.Logf("recovered at %s", time.Since(t0))
	if relreport.Full() {
		time.Sleep(5 * time.Second)
	}
	l.Stop()

	method := fmt.Sprintf("primary + 1 replica + 3 sentinels, SENTINEL FAILOVER under load from %d clients", relClients())
	s := l.recordGuarantees(relRedis, what, method)
	lost := l.lostAcks.Load()
	relreport.Record(t, relreport.Figure{Scenario: relRedis, Name: "error window, " + what,
		Value: s.errorWindow().Milliseconds(), Unit: "ms", Note: method + "; first to last failed request"})
	f := relreport.Figure{Scenario: relRedis, Name: "acknowledged writes lost, " + what, Value: lost,
		Note: method + "; writes answered 200 whose value a later request's session did not hold"}
	if wait {
		f.Goal, f.Met = "0", relreport.Met(lost == 0)
		if lost != 0 {
			t.Errorf("%s: %d acknowledged writes lost", what, lost)
		}
	}
	relreport.Record(t, f)
}

// (d) a slot migration on a three-primary cluster, under load, of the slot
// holding a hot session.
func relClusterMigration(t *testing.T) {
	cluster := testredis.StartCluster(t, 3)
	c, up := startRelCaddy(t, relRedisLine("address "+strings.Join(cluster.Addrs(), " ")))
	l := startRelLoad(t, c.URL, up, relClients(), c.Logs)
	l.steady()

	ctx := t.Context()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs()})
	t.Cleanup(func() { _ = cc.Close() })
	key := "session:" + l.keys[0]
	slot, err := cc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	// The nodes' ids, and which one owns the slot.
	nodes := map[string]*redis.Client{} // id -> client
	var src, dst string
	for _, n := range cluster.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr()})
		t.Cleanup(func() { _ = rc.Close() })
		id, err := rc.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = rc
		if n, _ := rc.ClusterCountKeysInSlot(ctx, int(slot)).Result(); n > 0 {
			src = id
		}
	}
	for id := range nodes {
		if id != src {
			dst = id
			break
		}
	}
	if src == "" {
		t.Fatalf("no node holds %s", key)
	}
	dstAddr := strings.Split(nodes[dst].Options().Addr, ":")

	requestsOf := func() int {
		n := 0
		for _, e := range l.snapshot() {
			if e.client == 0 {
				n++
			}
		}
		return n
	}
	waitHot := func(k int) {
		t.Helper()
		n0 := requestsOf()
		deadline := time.Now().Add(30 * time.Second)
		for requestsOf() < n0+k {
			if time.Now().After(deadline) {
				t.Fatalf("the hot session's client made no %d requests in 30s", k)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	start := time.Now()
	must(nodes[dst].Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", src).Err(), "SETSLOT IMPORTING")
	must(nodes[src].Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst).Err(), "SETSLOT MIGRATING")
	waitHot(4) // served by the source while its key is still there
	moved := 0
	for {
		keys, err := nodes[src].ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		must(err, "GETKEYSINSLOT")
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", dstAddr[0], dstAddr[1], "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(nodes[src].Do(ctx, args...).Err(), "MIGRATE")
		moved += len(keys)
	}
	waitHot(4) // ASK: the key is on the target, the slot still migrating
	for _, n := range []string{dst, src} {
		must(nodes[n].Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dst).Err(), "SETSLOT NODE")
	}
	for id, n := range nodes {
		if id != dst && id != src {
			must(n.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dst).Err(), "SETSLOT NODE")
		}
	}
	done := time.Now()
	l.fault("slot migrating (SETSLOT to SETSLOT NODE)", start, done)
	waitHot(4) // MOVED: the slot is the target's
	l.waitOK(done, 3, 30*time.Second)
	l.Stop()

	what := "Cluster slot migration"
	method := fmt.Sprintf("3 primaries; slot %d of a hot session (%d keys) moved with SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE under load from %d clients, %s", slot, moved, relClients(), done.Sub(start).Round(time.Millisecond))
	s := l.recordGuarantees(relRedis, what, method)
	errs := s.total - s.ok
	relreport.Record(t, relreport.Figure{Scenario: relRedis, Name: "failed requests, " + what, Value: errs, Goal: "0", Met: relreport.Met(errs == 0),
		Unit: fmt.Sprintf("of %d requests", s.total), Note: method + "; go-redis follows ASK and MOVED"})
	if errs != 0 {
		t.Errorf("%s: %d of %d requests failed", what, errs, s.total)
	}
	if lost := l.lostAcks.Load(); lost != 0 {
		t.Errorf("%s: %d acknowledged writes lost", what, lost)
	}
}

// (e) what wait_replicas costs a write, at the store against a primary
// with one replica on this machine. The two variants alternate in rounds,
// so that both meet the same load from the tests running beside.
func relWaitCost(t *testing.T) {
	primary := testredis.Start(t)
	testredis.StartReplica(t, primary)
	rc := redis.NewClient(&redis.Options{Addr: primary.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	const writers = 4
	rounds, perRound := relreport.Scale(3, 20), relreport.Scale(50, 250)
	type variant struct {
		name    string
		store   *redisstore.Store
		lat     []time.Duration
		elapsed time.Duration
	}
	variants := []*variant{
		{name: "without WAIT", store: redisstore.New(rc, "cost")},
		{name: "with WAIT 1", store: redisstore.New(rc, "costw", redisstore.WaitReplicas(1, time.Second))},
	}
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for _, v := range variants {
		for w := range writers {
			if _, err := v.store.Save(ctx, fmt.Sprintf("w%d", w), session.Change{Mode: session.ModeCreate, ExpiresAt: exp, Set: session.Data{"n": []byte("0")}}); err != nil {
				t.Fatalf("%s: creating session: %v", v.name, err)
			}
		}
	}
	var errs atomic.Int64
	for range rounds {
		for _, v := range variants {
			lat := make([][]time.Duration, writers)
			var wg sync.WaitGroup
			begin := time.Now()
			for w := range writers {
				wg.Go(func() {
					for i := range perRound {
						t0 := time.Now()
						_, err := v.store.Save(ctx, fmt.Sprintf("w%d", w), session.Change{Mode: session.ModeUpdate, Set: session.Data{"n": []byte(strconv.Itoa(i))}})
						lat[w] = append(lat[w], time.Since(t0))
						if err != nil {
							errs.Add(1)
						}
					}
				})
			}
			wg.Wait()
			v.elapsed += time.Since(begin)
			v.lat = append(v.lat, slices.Concat(lat...)...)
		}
	}
	if errs.Load() != 0 {
		t.Fatalf("%d of %d writes failed", errs.Load(), 2*rounds*writers*perRound)
	}
	method := fmt.Sprintf("%d writers through session/redisstore to a local primary with one replica, %d rounds of %d updates each, the variants alternating", writers, rounds, perRound)
	for _, v := range variants {
		slices.Sort(v.lat)
		pct := func(p float64) float64 { return float64(v.lat[int(p*float64(len(v.lat)-1))].Microseconds()) / 1000 }
		relreport.Record(t, relreport.Figure{Scenario: relRedis, Name: "writes/s, " + v.name, Value: int(float64(len(v.lat)) / v.elapsed.Seconds()), Unit: "writes/s", Note: method})
		relreport.Record(t, relreport.Figure{Scenario: relRedis, Name: "write p50, " + v.name, Value: pct(0.50), Unit: "ms", Note: method})
		relreport.Record(t, relreport.Figure{Scenario: relRedis, Name: "write p99, " + v.name, Value: pct(0.99), Unit: "ms", Note: method})
	}
}
