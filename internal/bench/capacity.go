package main

// The capacity run (issue 16, item 6): what one request costs in Caddy's
// CPU and in the store server's, how many round trips it makes, and how
// many bytes a session takes in each store, measured through the real
// ./caddy with wrk, for the cost model of docs/capacity.md.
//
//	./scripts/capacity.sh                     # 8 to 9 minutes on 2 cores: 5 rounds of 5 s
//	CAPACITY_QUICK=1 ./scripts/capacity.sh    # seconds per line, to check the driver
//	go run ./internal/bench -capacity docs/capacity.md -capacity-render  # the doc again from docs/capacity.json

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

var (
	capacityDoc    = flag.String("capacity", "", "run the capacity measurement instead of the benchmark and write this doc (docs/capacity.md)")
	capacityJSON   = flag.String("capacity-json", "docs/capacity.json", "with -capacity: the figures the doc is written from")
	capacityRender = flag.Bool("capacity-render", false, "with -capacity: write the doc from -capacity-json without measuring")
)

// capacityMain runs the capacity mode and returns the exit status.
func capacityMain(o options) int {
	if *capacityRender {
		f, err := readCapFigures(*capacityJSON)
		if err == nil {
			err = writeCapDoc(*capacityDoc, *capacityJSON, f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench -capacity:", err)
			return 1
		}
		return 0
	}
	o.setRuns(5 * time.Second)
	if p, err := filepath.Abs(o.caddy); err == nil {
		o.caddy = p
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		cleanup()
		os.Exit(130)
	}()
	f, err := runCapacity(o)
	if err == nil {
		err = writeCapFigures(*capacityJSON, f)
	}
	if err == nil {
		err = writeCapDoc(*capacityDoc, *capacityJSON, f)
	}
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench -capacity:", err)
		return 1
	}
	logf("wrote %s and %s", *capacityDoc, *capacityJSON)
	return 0
}

// capTarget is one line's Caddy and, if any, its store server.
type capTarget struct {
	name  string // the Caddy configuration
	label string
	c     *caddy
	pid   int
	// serverCPU snapshots the store server's processes; nil in process.
	serverCPU func() map[int]time.Duration
	server    string
	sessions  int // pre-loaded sessions in its store
	reads     []string
	writes    []string
}

type capRun struct {
	caddy, server time.Duration
	w             wrkResult
}

func runCapacity(o options) (*capFigures, error) {
	f := &capFigures{
		Date:     time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Machine:  machine(),
		Command:  *capacityCommand,
		Rounds:   o.rounds,
		Duration: o.duration.String(),
		Quick:    o.quick,
		LoadAt:   loadAvg(),
		Assume:   defaultAssumptions,
	}
	started := time.Now()
	for _, tool := range []string{"wrk", "redis-server", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: scripts/install-deps.sh bench installs it", tool)
		}
	}
	if _, err := os.Stat(o.caddy); err != nil {
		return nil, fmt.Errorf("no Caddy at %s: build it with ./xcaddy.sh", o.caddy)
	}
	dir, err := os.MkdirTemp("", "caddy-capacity-")
	if err != nil {
		return nil, err
	}
	atExit(func() { _ = os.RemoveAll(dir) })
	up, err := startUpstream()
	if err != nil {
		return nil, err
	}

	nSmall, nBig := 1000, 1000000
	if o.quick {
		nBig = 20000
	}
	f.Big = nBig
	keys := session.NewRealm([]byte(secret))

	// Redis: one server with the small pre-load, one with the big; the big
	// one's INFO memory before and after its pre-load is the "1 M" check.
	redisSmall, err := startRedis(dir, "redis")
	if err != nil {
		return nil, err
	}
	redisBig, err := startRedis(dir, "redis-big")
	if err != nil {
		return nil, err
	}
	smallRedisKeys, err := preloadRedisRealm(redisSmall, nSmall, keys)
	if err != nil {
		return nil, err
	}
	before, err := redisInt(redisBig, "memory", "used_memory")
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	bigRedisKeys, err := preloadRedisRealm(redisBig, nBig, keys)
	if err != nil {
		return nil, err
	}
	after, err := redisInt(redisBig, "memory", "used_memory")
	if err != nil {
		return nil, err
	}
	f.Preloads = append(f.Preloads, fmt.Sprintf("%d sessions in Redis, %s", nBig, time.Since(t0).Round(100*time.Millisecond)))
	f.Sizes = append(f.Sizes, capSize{Store: "redis", Label: fmt.Sprintf("redis, %s pre-loaded", countLabel(nBig)), Sessions: int64(nBig),
		BytesPerSession: float64(after-before) / float64(nBig), How: "INFO memory `used_memory` before and after the pre-load"})

	// PostgreSQL: a cluster of its own, two databases.
	pg, err := startOwnPG()
	if err != nil {
		return nil, err
	}
	pgSmall, err := pg.createDB("capacity_small", nSmall)
	if err != nil {
		return nil, err
	}
	t0 = time.Now()
	pgBig, err := pg.createDB("capacity_big", nBig)
	if err != nil {
		return nil, err
	}
	f.Preloads = append(f.Preloads, fmt.Sprintf("%d sessions in PostgreSQL (generate_series), %s", nBig, time.Since(t0).Round(100*time.Millisecond)))
	if b, rows, err := pgTableBytes(pgBig); err != nil {
		return nil, err
	} else {
		f.Sizes = append(f.Sizes, capSize{Store: "postgres", Label: fmt.Sprintf("db PostgreSQL, %s pre-loaded", countLabel(int(rows))), Sessions: rows,
			BytesPerSession: float64(b) / float64(rows), How: "`pg_total_relation_size('django_session')` (table, TOAST, both indexes) / rows"})
	}
	postmaster, err := pg.postmaster()
	if err != nil {
		return nil, err
	}
	pgCPU := func() map[int]time.Duration { return treeCPU(postmaster) }
	redisPID := func(addr string) (func() map[int]time.Duration, error) {
		m, err := redisInfo(addr, "server")
		if err != nil {
			return nil, err
		}
		pid, err := strconv.Atoi(m["process_id"])
		if err != nil {
			return nil, fmt.Errorf("redis %s: process_id: %w", addr, err)
		}
		return func() map[int]time.Duration { return treeCPU(pid) }, nil
	}

	// Relays that count round trips, each in front of its own Caddy.
	relayRedis, err := startTurnRelay(redisSmall)
	if err != nil {
		return nil, err
	}
	relayPG, err := startTurnRelay(fmt.Sprintf("127.0.0.1:%d", pg.port))
	if err != nil {
		return nil, err
	}

	proxy := "\treverse_proxy " + up.addr
	sess := func(store string) string {
		return "\tsession {\n\t\tsecret {env.SESSION_SECRET}\n\t\tstore " + store + "\n\t}\n" + proxy
	}
	redisStore := func(addr string) string { return "redis {\n\t\t\taddress " + addr + "\n\t\t}" }
	dbStore := func(dsn string) string { return "db {\n\t\t\tdsn " + dsn + "\n\t\t}" }
	if err := os.MkdirAll(filepath.Join(dir, "sqlite"), 0o700); err != nil {
		return nil, err
	}
	sqlitePath := filepath.Join(dir, "sqlite", "sessions.db")
	fileDir := filepath.Join(dir, "sessions")
	relayPGDSN := strings.Replace(pgSmall, fmt.Sprintf(":%d/", pg.port), ":"+strings.Split(relayPG.addr, ":")[1]+"/", 1)
	bigLabel := countLabel(nBig)
	targets := []*capTarget{
		{name: "plain", label: "plain reverse_proxy"},
		{name: "memory", label: "memory"},
		{name: "file", label: "file"},
		{name: "sqlite", label: "db SQLite"},
		{name: "redis", label: "redis (1 k)", server: "redis-server", sessions: nSmall},
		{name: "redis-big", label: "redis (" + bigLabel + ")", server: "redis-server", sessions: nBig},
		{name: "redis-cc", label: "redis (1 k), client_cache", server: "redis-server", sessions: nSmall},
		{name: "postgres", label: "db PostgreSQL (1 k)", server: "postgres", sessions: nSmall},
		{name: "postgres-big", label: "db PostgreSQL (" + bigLabel + ")", server: "postgres", sessions: nBig},
	}
	sites := map[string]string{
		"plain":        proxy,
		"memory":       sess("memory"),
		"file":         sess("file " + fileDir),
		"sqlite":       sess(dbStore(sqlitePath)),
		"redis":        sess(redisStore(redisSmall)),
		"redis-big":    sess(redisStore(redisBig)),
		"redis-cc":     sess("redis {\n\t\t\taddress " + redisSmall + "\n\t\t\tclient_cache\n\t\t}"),
		"postgres":     sess(dbStore(pgSmall)),
		"postgres-big": sess(dbStore(pgBig)),
		"redis-rt":     sess(redisStore(relayRedis.addr)),
		"postgres-rt":  sess(dbStore(relayPGDSN)),
	}
	caddies := map[string]*caddy{}
	for _, name := range []string{"plain", "memory", "file", "sqlite", "redis", "redis-big", "redis-cc", "postgres", "postgres-big", "redis-rt", "postgres-rt"} {
		c, err := startCaddy(o.caddy, dir, name, sites[name])
		if err != nil {
			return nil, err
		}
		caddies[name] = c
	}
	for _, t := range targets {
		t.c = caddies[t.name]
		if t.pid, err = pidByCmdline(filepath.Join(dir, "caddy-"+t.name, "Caddyfile")); err != nil {
			return nil, err
		}
		switch t.name {
		case "redis", "redis-cc":
			t.serverCPU, err = redisPID(redisSmall)
		case "redis-big":
			t.serverCPU, err = redisPID(redisBig)
		case "postgres", "postgres-big":
			t.serverCPU = pgCPU
		}
		if err != nil {
			return nil, err
		}
	}
	logf("%d Caddy configurations up", len(caddies))

	// The sessions each line reads and writes: capSessions sessions made
	// through Caddy; on the pre-loaded stores, pre-loaded sessions spread
	// over the whole key space instead, so that reads and writes touch
	// what the store holds rather than one hot key.
	pick := func(all []string, n int) []string {
		out := make([]string, 0, n)
		for i := range n {
			out = append(out, "sessionid="+all[(i*len(all))/n])
		}
		return out
	}
	pgKeys := func(n int) []string {
		ks := make([]string, n)
		for i := range ks {
			ks[i] = preloadKey(i)
		}
		return ks
	}
	for _, t := range targets {
		switch t.name {
		case "plain":
			continue
		case "redis", "redis-cc":
			t.reads = pick(smallRedisKeys, capSessions)
		case "redis-big":
			t.reads = pick(bigRedisKeys, capSessions)
		case "postgres":
			t.reads = pick(pgKeys(nSmall), capSessions)
		case "postgres-big":
			t.reads = pick(pgKeys(nBig), capSessions)
		default:
			for range capSessions {
				v, err := seed(t.c, small)
				if err != nil {
					return nil, err
				}
				t.reads = append(t.reads, v)
			}
		}
		t.writes = t.reads
		// A pre-loaded session must read as one: a write to it keeps its
		// key (a missing one would get a new key).
		for _, ck := range []string{t.reads[0], t.reads[len(t.reads)-1]} {
			if err := checkStored(t.c, ck); err != nil {
				return nil, fmt.Errorf("%s: %w", t.label, err)
			}
		}
	}
	for _, name := range []string{"redis-rt", "postgres-rt"} {
		t := &capTarget{name: name, c: caddies[name]}
		for range capSessions {
			v, err := seed(t.c, small)
			if err != nil {
				return nil, err
			}
			t.reads = append(t.reads, v)
		}
		targets = append(targets, t)
	}

	// The measured rounds: every line in turn, plain first, so drift of the
	// machine hits them alike.
	type lineKey struct{ name, path string }
	runs := map[lineKey][]capRun{}
	var order []lineKey
	for _, t := range targets {
		if strings.HasSuffix(t.name, "-rt") {
			continue
		}
		order = append(order, lineKey{t.name, "read"})
		if t.name != "plain" {
			order = append(order, lineKey{t.name, "write"})
		}
	}
	byName := map[string]*capTarget{}
	for _, t := range targets {
		byName[t.name] = t
	}
	measure := func(t *capTarget, path string, cookies []string, d time.Duration) (capRun, error) {
		var srv0 map[int]time.Duration
		if t.serverCPU != nil {
			srv0 = t.serverCPU()
		}
		c0, err := procCPU(t.pid)
		if err != nil {
			return capRun{}, err
		}
		w, err := capWrk(dir, t.c.url+path, cookies, d, 2, 32)
		if err != nil {
			return capRun{}, err
		}
		c1, err := procCPU(t.pid)
		if err != nil {
			return capRun{}, err
		}
		r := capRun{caddy: c1 - c0, w: w}
		if t.serverCPU != nil {
			r.server = cpuSince(srv0, t.serverCPU())
		}
		return r, nil
	}
	cpu0 := readCPUTimes()
	logf("%d runs of %s (%d lines × %d rounds)", len(order)*o.rounds, o.duration, len(order), o.rounds)
	for r := range o.rounds {
		for _, k := range order {
			t := byName[k.name]
			path, cookies := "/read", t.reads
			if k.path == "write" {
				path, cookies = "/write", t.writes
			}
			run, err := measure(t, path, cookies, o.duration)
			if err != nil {
				return nil, err
			}
			runs[k] = append(runs[k], run)
			n := float64(max(1, run.w.Requests))
			logf("round %d/%d %-28s %-5s %8.0f req/s  Caddy %6.1f µs/req  server %6.1f µs/req  bad %d", r+1, o.rounds, t.label, k.path,
				run.w.ReqPerSec, usExact(run.caddy)/n, usExact(run.server)/n, run.w.Bad)
		}
	}
	f.Busy = busySince(cpu0, readCPUTimes())
	for _, k := range order {
		t := byName[k.name]
		l := capLine{Store: t.name, Label: t.label, Path: k.path, Sessions: t.sessions, Server: t.server}
		var caddyUS, addedUS, serverUS, rps []float64
		for i, r := range runs[k] {
			n := float64(max(1, r.w.Requests))
			caddyUS = append(caddyUS, usExact(r.caddy)/n)
			serverUS = append(serverUS, usExact(r.server)/n)
			rps = append(rps, r.w.ReqPerSec)
			p := runs[lineKey{"plain", "read"}][i]
			addedUS = append(addedUS, usExact(r.caddy)/n-usExact(p.caddy)/float64(max(1, p.w.Requests)))
			l.Requests += r.w.Requests
			l.Bad += r.w.Bad
		}
		l.CaddyUS, l.AddedUS, l.ReqPerSec = median(caddyUS), median(addedUS), median(rps)
		l.CaddyMin, l.CaddyMax = minMax(caddyUS)
		if t.server != "" {
			l.ServerUS = median(serverUS)
		}
		f.Lines = append(f.Lines, l)
	}

	// Round trips per request, through the counting relays: at one
	// connection, and at the measured lines' 32.
	for _, rt := range []struct{ name, store string }{{"redis-rt", "redis"}, {"postgres-rt", "postgres"}} {
		relay := relayRedis
		if rt.name == "postgres-rt" {
			relay = relayPG
		}
		t := byName[rt.name]
		for _, conns := range []int{1, 32} {
			for _, path := range []string{"read", "write"} {
				turns0 := relay.turns.Load()
				w, err := capWrk(dir, t.c.url+"/"+path, t.reads, min(o.duration, 2*time.Second), min(2, conns), conns)
				if err != nil {
					return nil, err
				}
				turns := relay.turns.Load() - turns0
				f.RoundTrips = append(f.RoundTrips, capRT{Store: rt.store, Path: path, Conns: conns, Requests: w.Requests, PerRequest: float64(turns) / float64(max(1, w.Requests))})
				logf("round trips %s %s, %d connections: %d over %d requests", rt.store, path, conns, turns, w.Requests)
			}
		}
	}

	// New sessions: wrk without a cookie on /seed, so that every request
	// makes one; CPU per new session, and the store's growth per session.
	// footprint is a store's size in bytes and its sessions (-1: count
	// wrk's answers instead).
	type footprint func() (int64, int64, error)
	heap := func(c *caddy) footprint {
		return func() (int64, int64, error) { b, err := caddyHeap(c.admin); return b, -1, err }
	}
	rc := redis.NewClient(&redis.Options{Addr: redisSmall})
	defer rc.Close()
	creates := []struct {
		name, how string
		size      footprint
	}{
		{"memory", "Caddy's live heap after a collection (`/debug/pprof/heap?gc=1`, then `go_memstats_alloc_bytes`), before and after; sessions: wrk's 200 answers", heap(caddies["memory"])},
		{"file", "bytes on disk (allocated blocks) of the session directory, before and after; sessions: its files", func() (int64, int64, error) { return dirBytes(fileDir) }},
		{"sqlite", "the database's pages in use (`page_count - freelist_count`, WAL included) × `page_size`, before and after; sessions: its rows", func() (int64, int64, error) { return sqliteBytes(sqlitePath) }},
		{"redis", "INFO memory `used_memory`, before and after; sessions: `DBSIZE`", func() (int64, int64, error) {
			b, err := redisInt(redisSmall, "memory", "used_memory")
			if err != nil {
				return 0, 0, err
			}
			n, err := rc.DBSize(context.Background()).Result()
			return b, n, err
		}},
		{"postgres", "`pg_total_relation_size('django_session')`, before and after; sessions: its rows", func() (int64, int64, error) { return pgTableBytes(pgSmall) }},
	}
	for _, c := range creates {
		t := byName[c.name]
		s0, n0, err := c.size()
		if err != nil {
			return nil, fmt.Errorf("%s size: %w", c.name, err)
		}
		run, err := measure(t, "/seed?size="+strconv.Itoa(small), nil, o.duration)
		if err != nil {
			return nil, err
		}
		s1, n1, err := c.size()
		if err != nil {
			return nil, fmt.Errorf("%s size: %w", c.name, err)
		}
		made := int64(run.w.Requests - run.w.Bad)
		if n0 >= 0 {
			made = n1 - n0
		}
		n := float64(max(1, run.w.Requests))
		cr := capCreate{Store: c.name, Label: t.label, Sessions: int(made), CaddyUS: usExact(run.caddy) / n}
		if t.server != "" {
			cr.ServerUS = usExact(run.server) / n
		}
		f.Creates = append(f.Creates, cr)
		f.Sizes = append(f.Sizes, capSize{Store: c.name, Label: t.label + ", sessions made through Caddy", Sessions: made,
			BytesPerSession: float64(s1-s0) / float64(max(1, made)), How: c.how})
		logf("new sessions %s: %d (wrk: %d), Caddy %.1f µs each, %.0f bytes each", c.name, made, run.w.Requests, cr.CaddyUS, float64(s1-s0)/float64(max(1, made)))
	}
	// One key's own size, as Redis counts it: a pre-loaded session, and
	// one made through Caddy (which carries the Manager's timestamps).
	made, err := seed(caddies["redis"], small)
	if err != nil {
		return nil, err
	}
	for _, k := range []struct{ label, key string }{
		{"pre-loaded", "session:" + bigRedisKeys[0]},
		{"made through Caddy", "session:" + strings.TrimPrefix(made, "sessionid=")},
	} {
		rb := redis.NewClient(&redis.Options{Addr: redisBig})
		if k.label != "pre-loaded" {
			rb = redis.NewClient(&redis.Options{Addr: redisSmall})
		}
		n, err := rb.MemoryUsage(context.Background(), k.key, 0).Result()
		enc, _ := rb.ObjectEncoding(context.Background(), k.key).Result()
		fields, _ := rb.HLen(context.Background(), k.key).Result()
		rb.Close()
		if err != nil {
			return nil, fmt.Errorf("MEMORY USAGE %s: %w", k.key, err)
		}
		f.Sizes = append(f.Sizes, capSize{Store: "redis-key", Label: "redis, one session " + k.label, Sessions: 1, BytesPerSession: float64(n),
			How: fmt.Sprintf("`MEMORY USAGE <key> SAMPLES 0` (a hash of %d fields, encoding %s)", fields, enc)})
	}
	f.LoadEnd = loadAvg()
	f.Took = time.Since(started).Round(time.Second).String()
	return f, nil
}

// capSessions is how many sessions a line's requests take in turn.
const capSessions = 512

var capacityCommand = flag.String("capacity-command", "./scripts/capacity.sh", "with -capacity: the command named in the doc")

// usExact is d in microseconds, unrounded (charts.go's us rounds).
func usExact(d time.Duration) float64 { return float64(d) / 1e3 }

func minMax(xs []float64) (float64, float64) {
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

func countLabel(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return strconv.Itoa(n/1000000) + " M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + " k"
	}
	return strconv.Itoa(n)
}

// capWrk drives url for d with wrk, threads threads and conns
// connections; given several cookies, each thread takes its own share of
// them in turn, so that two requests touch one session at once no more
// often than a site's users do (with runWrk's shared list, two threads in
// step would send every write racing the other thread's to the same row).
func capWrk(dir, url string, cookies []string, d time.Duration, threads, conns int) (wrkResult, error) {
	if len(cookies) < threads {
		return runWrk(dir, url, cookies, d, 0) // capacity measures CPU itself
	}
	luaCounter++
	script := filepath.Join(dir, fmt.Sprintf("capacity-%d.lua", luaCounter))
	quoted := make([]string, len(cookies))
	for i, c := range cookies {
		quoted[i] = strconv.Quote(c)
	}
	lua := "local cookies = {" + strings.Join(quoted, ", ") + "}\n" +
		"local n = 0\n" +
		"function setup(thread)\n  thread:set(\"start\", n)\n  n = n + 1\nend\n" +
		"local reqs = {}\nlocal i = 0\n" +
		"function init(args)\n  local share = math.floor(#cookies / " + strconv.Itoa(threads) + ")\n" +
		"  for j = 1, share do reqs[j] = wrk.format(\"GET\", nil, {Cookie = cookies[start * share + j]}) end\nend\n" +
		"function request()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n"
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		return wrkResult{}, err
	}
	defer os.Remove(script)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	out, err := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s", "--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w: %s", url, err, out)
	}
	return parseWrk(string(out))
}

// checkStored fails unless the session of cookie (name=value) is stored:
// a write to it answers with the same key, where a missing one gets a new.
func checkStored(c *caddy, cookie string) error {
	status, body, set, err := get(c.url+"/write", cookie, "sessionid")
	if err != nil {
		return err
	}
	if want := strings.TrimPrefix(cookie, "sessionid="); status != 200 || set != want {
		return fmt.Errorf("the session of %s is not stored: status %d, cookie %q: %s", cookie, status, set, body)
	}
	return nil
}

// preloadRedisRealm pre-loads n sessions in the hash layout: all but the
// last keys under keys the handler would never make (preloadRedis's),
// and the last 1024 (or n) under real keys of the benchmark's secret, so
// that reads and writes can reach them; it returns those.
func preloadRedisRealm(addr string, n int, keys session.Keys) ([]string, error) {
	real := min(n, 1024)
	if err := preloadRedis(addr, n-real); err != nil {
		return nil, err
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	var d map[string]string
	_ = jsonUnmarshal(sessionJSON(small), &d)
	pad := `"` + d["pad"] + `"`
	exp := time.Now().Add(14 * 24 * time.Hour)
	ctx := context.Background()
	pipe := c.Pipeline()
	out := make([]string, real)
	for i := range out {
		out[i] = keys.New()
		k := "session:" + out[i]
		pipe.HSet(ctx, k, "n", "1", "pad", pad, redisstore.ExpiryField, strconv.FormatInt(exp.UnixMilli(), 10))
		pipe.PExpireAt(ctx, k, exp)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("pre-loading Redis: %w", err)
	}
	return out, nil
}

// dirBytes is the disk space the files under dir take (allocated blocks),
// and how many regular files there are.
func dirBytes(dir string) (int64, int64, error) {
	var total, files int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		if fi.Mode().IsRegular() {
			files++
		}
		return nil
	})
	return total, files, err
}
