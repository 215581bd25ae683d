package main

// docs/capacity.md and docs/capacity.json: the capacity run's figures, and
// the cost model written from them. The prose is here so that the doc
// regenerates whole from the figures; `-capacity-render` writes it again
// without measuring.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// capFigures is what one capacity run measured.
type capFigures struct {
	Date     string         `json:"date"`
	Machine  string         `json:"machine"`
	Command  string         `json:"command"`
	Quick    bool           `json:"quick"`
	Rounds   int            `json:"rounds"`
	Duration string         `json:"duration"`
	LoadAt   string         `json:"load_at_start"`
	LoadEnd  string         `json:"load_at_end"`
	Busy     float64        `json:"machine_busy"` // share of all CPUs busy during the measured rounds
	Took     string         `json:"took"`
	Big      int            `json:"big"` // sessions in the big pre-load
	Preloads []string       `json:"preloads"`
	Lines    []capLine      `json:"lines"`
	Creates  []capCreate    `json:"creates"`
	Sizes    []capSize      `json:"sizes"`
	Assume   capAssumptions `json:"assumptions"`

	RoundTrips []capRT `json:"round_trips"`
}

// capLine is one configuration and path, medians over the rounds.
type capLine struct {
	Store     string  `json:"store"`
	Label     string  `json:"label"`
	Path      string  `json:"path"`
	Sessions  int     `json:"sessions"` // pre-loaded in its store
	Requests  int     `json:"requests"` // over all rounds
	Bad       int     `json:"bad"`
	ReqPerSec float64 `json:"req_per_sec"`
	CaddyUS   float64 `json:"caddy_us"` // Caddy's CPU µs per request
	CaddyMin  float64 `json:"caddy_us_min"`
	CaddyMax  float64 `json:"caddy_us_max"`
	AddedUS   float64 `json:"added_us"` // less plain reverse_proxy's, same round
	Server    string  `json:"server,omitempty"`
	ServerUS  float64 `json:"server_us"` // the store server's CPU µs per request
}

type capRT struct {
	Store      string  `json:"store"`
	Path       string  `json:"path"`
	Conns      int     `json:"connections"`
	Requests   int     `json:"requests"`
	PerRequest float64 `json:"per_request"`
}

type capCreate struct {
	Store    string  `json:"store"`
	Label    string  `json:"label"`
	Sessions int     `json:"sessions"`
	CaddyUS  float64 `json:"caddy_us"`
	ServerUS float64 `json:"server_us"`
}

type capSize struct {
	Store           string  `json:"store"`
	Label           string  `json:"label"`
	Sessions        int64   `json:"sessions"`
	BytesPerSession float64 `json:"bytes_per_session"`
	How             string  `json:"how"`
}

func writeCapFigures(path string, f *capFigures) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readCapFigures(path string) (*capFigures, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := &capFigures{}
	return f, json.Unmarshal(b, f)
}

func (f *capFigures) line(store, path string) (capLine, bool) {
	for _, l := range f.Lines {
		if l.Store == store && l.Path == path {
			return l, true
		}
	}
	return capLine{}, false
}

func (f *capFigures) size(store, labelPart string) (capSize, bool) {
	for _, s := range f.Sizes {
		if s.Store == store && strings.Contains(s.Label, labelPart) {
			return s, true
		}
	}
	return capSize{}, false
}

func (f *capFigures) roundTrips(store, path string, conns int) (capRT, bool) {
	for _, r := range f.RoundTrips {
		if r.Store == store && r.Path == path && r.Conns == conns {
			return r, true
		}
	}
	return capRT{}, false
}

// cost is the model's input for one store: its read and write lines, and
// its bytes per session (made through Caddy; for Redis and PostgreSQL the
// big pre-load's, the layout at scale).
func (f *capFigures) cost(store, lineStore string) (capStoreCost, bool) {
	r, ok1 := f.line(lineStore, "read")
	w, ok2 := f.line(lineStore, "write")
	if !ok1 || !ok2 {
		return capStoreCost{}, false
	}
	c := capStoreCost{Store: r.Label, CaddyRead: r.CaddyUS, CaddyWrite: w.CaddyUS, ServerRead: r.ServerUS, ServerWrite: w.ServerUS,
		Redis: store == "redis", Postgres: store == "postgres"}
	part := "made through Caddy"
	if c.Redis || c.Postgres {
		part = "pre-loaded"
	}
	s, ok := f.size(store, part)
	if !ok {
		return capStoreCost{}, false
	}
	c.BytesPerSession = s.BytesPerSession
	return c, true
}

func fmtBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for math.Abs(b) >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 || b >= 100 {
		return fmt.Sprintf("%.0f %s", b, units[i])
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

func fmtNum(x float64) string {
	switch {
	case x == 0:
		return "0"
	case math.Abs(x) >= 100:
		return fmt.Sprintf("%.0f", x)
	case math.Abs(x) >= 10:
		return fmt.Sprintf("%.1f", x)
	case math.Abs(x) >= 0.1:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.3f", x)
}

// fmtCount writes 10000 as "10 k", 1e6 as "1 M".
func fmtCount(x float64) string {
	switch {
	case x >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", x/1e6), ".0") + " M"
	case x >= 1e3:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", x/1e3), ".0") + " k"
	}
	return fmt.Sprintf("%.0f", x)
}

func writeCapDoc(path, figuresPath string, f *capFigures) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	a := f.Assume
	big := countLabel(f.Big)

	p("# Capacity: sizing a fleet\n\n")
	p("Generated by `%s` (`internal/bench`, capacity mode; the prose is in `internal/bench/capacity_doc.go`) from [%s](%s); do not edit by hand. `go run ./internal/bench -capacity %s -capacity-render` writes it again from the figures, after a change to the assumptions or the text.\n\n",
		f.Command, filepath.Base(figuresPath), filepath.Base(figuresPath), path)
	if f.Quick {
		p("> **Quick run, not the measurement.** These figures come from `CAPACITY_QUICK=1` (one round of %s per line, %s pre-loaded sessions instead of 1 M). They show that the driver works, not what the module costs: regenerate with `./scripts/capacity.sh`.\n\n", f.Duration, big)
	}
	p("What it costs to serve sessions, per request and per session, on each store, measured through the real `./caddy` with wrk; and from those figures, a model that says how many Caddy cores, Redis nodes or PostgreSQL cores a number of active users needs. The benchmark report ([benchmarks.md](benchmarks.md)) says how fast each line runs against a plain `reverse_proxy`; this one says what each request costs in CPU and memory, which is what a fleet is sized from.\n\n")
	p("| | |\n|---|---|\n")
	p("| date | %s |\n", f.Date)
	p("| machine | %s |\n", f.Machine)
	p("| load average | %s at the start, %s at the end (the machine is shared: this counts other work running beside the run) |\n", f.LoadAt, f.LoadEnd)
	p("| machine busy during the measured rounds | %.0f%% of all CPUs (the run's own wrk, Caddy, upstream and stores included) |\n", 100*f.Busy)
	p("| mode | %d rounds of %s per line, medians; the lines alternate within a round, plain `reverse_proxy` first |\n", f.Rounds, f.Duration)
	p("| load | wrk, 2 threads, 32 connections, keep-alive; one Go upstream in the driver (200, a 3-byte body; `/write` answers `X-Session-Set: {\"n\":<counter>}`) |\n")
	p("| pre-loaded | %s |\n", strings.Join(f.Preloads, "; "))
	p("| took | %s (after building ./caddy) |\n\n", f.Took)

	p("The figures are one shared machine's, measured while other work ran on it (the load average above): CPU per request on a dedicated server is lower, and the model is linear, so an operator can put figures measured on their own hardware in its place. Run the command again after a change to the handler or a store's client (`CAPACITY_QUICK=1` first, to check the driver): this page is written from its figures.\n\n")
	p("## What one request costs\n\n")
	p("Caddy's CPU is the user and system time of the Caddy process (`/proc/<pid>/stat`) over a wrk run, divided by the requests wrk counted; the upstream runs in the driver, outside Caddy, so Caddy's figure is the proxy and the session handler alone. CPU time per request is what a busy machine disturbs least: throughput (req/s, for reference) swings with whatever else runs, a request's CPU much less. *Rounds' range* is the lowest and the highest round, what the machine's other work moved it by. *Added* is the line's Caddy CPU less plain `reverse_proxy`'s in the same round, the handler's own cost. The store server's CPU is `redis-server`'s, or the sum over all processes of the run's own PostgreSQL cluster (backends, WAL writer, checkpointer, ...), divided by the same requests; the file, memory and SQLite stores run inside Caddy, so their cost is in Caddy's figure.\n\n")
	p("- **read**: the cookie of a stored ~100-byte session, no update: one load. The requests take %d sessions in turn, each of wrk's two threads its own half (on the Redis and PostgreSQL lines, pre-loaded sessions spread over the whole key space).\n", capSessions)
	p("- **write**: the same sessions; every response sets a key, so a load and a save.\n\n")
	p("| store | path | sessions stored | Caddy CPU µs/request | rounds' range | added to plain | store server CPU µs/request | req/s | non-2xx + errors |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range f.Lines {
		stored, server, added := "–", "in Caddy", fmtNum(l.AddedUS)
		if l.Sessions > 0 {
			stored = countLabel(l.Sessions)
		}
		if l.Server != "" {
			server = fmtNum(l.ServerUS) + " (" + l.Server + ")"
		}
		if l.Store == "plain" {
			server, added = "–", "–"
		}
		rng := "–"
		if l.CaddyMax > 0 {
			rng = fmtNum(l.CaddyMin) + "–" + fmtNum(l.CaddyMax)
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %.0f | %d |\n", l.Label, l.Path, stored, fmtNum(l.CaddyUS), rng, added, server, l.ReqPerSec, l.Bad)
	}
	p("\n")

	p("## Round trips per request\n\n")
	p("Counted on the wire: a relay between a Caddy of its own and the store counts a round trip each time the client sends after the server last answered, so commands written together in one pipeline count once, as they cost one wait. One run of wrk per path, at one connection (nothing to share a round trip with) and at the measured lines' 32.\n\n")
	p("| store | connections | read | write |\n|---|---:|---:|---:|\n")
	for _, s := range []string{"redis", "postgres"} {
		for _, conns := range []int{1, 32} {
			r, ok1 := f.roundTrips(s, "read", conns)
			w, ok2 := f.roundTrips(s, "write", conns)
			if ok1 && ok2 {
				label := map[string]string{"redis": "redis", "postgres": "db PostgreSQL"}[s]
				p("| %s | %d | %.2f (%d requests) | %.2f (%d requests) |\n", label, conns, r.PerRequest, r.Requests, w.PerRequest, w.Requests)
			}
		}
	}
	p("\nThe file, memory and SQLite stores make none: they are in Caddy's process. On Redis a read is one `HGETALL` and a write adds one save script, each its own round trip at one connection; with more connections the client's automatic pipelining (`pipeline`, on by default) sends the commands of requests in flight together, so the 32-connection line takes a fraction of a round trip per request, and the Redis server's CPU per request falls with it; on PostgreSQL a read is one `SELECT` and a write adds one compare-and-set `UPDATE`, or, when another request changed the row in between, the locking way (`BEGIN`, `SELECT ... FOR UPDATE`, `UPDATE`, `COMMIT`): what this run's writes above 2 round trips took. [stores.md](stores.md) has each store's round trips.\n\n")

	p("## New sessions\n\n")
	p("wrk without a cookie on a path whose answer sets a key, so that every request makes a new session (a login): CPU per new session, from the same run that sizes the sessions below.\n\n")
	p("| store | sessions made | Caddy CPU µs/new session | store server CPU µs/new session |\n|---|---:|---:|---:|\n")
	for _, c := range f.Creates {
		server := "in Caddy"
		if c.Store == "redis" || c.Store == "postgres" {
			server = fmtNum(c.ServerUS)
		}
		p("| %s | %d | %s | %s |\n", c.Label, c.Sessions, fmtNum(c.CaddyUS), server)
	}
	p("\n")

	p("## Bytes per session\n\n")
	p("A ~100-byte session (`{\"n\":…,\"pad\":\"…\"}`, the benchmark's): what the store grew by, divided by the sessions it gained.\n\n")
	p("| store | sessions | bytes per session | measured as |\n|---|---:|---:|---|\n")
	for _, s := range f.Sizes {
		p("| %s | %d | %.0f | %s |\n", s.Label, s.Sessions, s.BytesPerSession, s.How)
	}
	p("\nThe file store's figure is the disk blocks its files take (a 4 KiB block for each small file on most filesystems, and an inode); the database stores keep Django's signed, compressed value in a row (`codec django` is their default), with the primary key's and `expire_date`'s index.\n\n")

	p("## The model\n\n")
	p("For a number of active users at peak:\n\n")
	p("```\n")
	p("rate           = active users × requests per user per second\n")
	p("µs/request     = (1 − write share) × µs per read + write share × µs per write      (each of Caddy's and the store server's)\n")
	p("Caddy cores    = rate × Caddy µs/request / 1e6 / Caddy utilisation\n")
	p("server cores   = rate × server µs/request / 1e6 / server utilisation\n")
	p("store memory   = stored sessions × bytes per session × overhead\n")
	p("Redis nodes    = max(server cores (one thread per node), store memory / memory per node), rounded up\n")
	p("```\n\n")
	p("The assumptions of the examples below (`defaultAssumptions` in `internal/bench/capacity_model.go`; change them there and re-render, or put your own numbers in the formulas):\n\n")
	p("| assumption | value | why |\n|---|---:|---|\n")
	p("| requests per active user per second, at peak | %g | one page or API call every %g s of an active visit |\n", a.ReqPerUser, 1/a.ReqPerUser)
	p("| write share | %.0f%% | requests whose answer changes the session (a login, a cart, a flash message); the rest only read it |\n", 100*a.WriteShare)
	p("| stored sessions per active user | %g | sessions stay until they expire (`cookie_age`, 14 days by default): users not active at the peak still hold one |\n", a.StoredPerActive)
	p("| session size | ~100 B | the measured sessions. Larger ones cost more Caddy CPU (the benchmark report, `./scripts/bench.sh`, measured a Redis read's cost growing by about 25 µs per KiB) and about their own size more memory each |\n")
	p("| Caddy utilisation | %.0f%% | headroom for peaks and a lost instance |\n", 100*a.CaddyUtil)
	p("| Redis utilisation | %.0f%% of its one thread | Redis runs commands on one thread; headroom for peaks, background saves and a failover's resynchronisation |\n", 100*a.RedisUtil)
	p("| PostgreSQL utilisation | %.0f%% of its cores | as for Caddy |\n", 100*a.PGUtil)
	p("| memory overhead | ×%g | allocator fragmentation, replication and client buffers, and the copy-on-write of a background save (up to ×2 when every page changes during one) |\n", a.MemOverhead)
	p("| memory per Redis node | %s | session data given to one node, within a machine of 32–64 GiB |\n", fmtBytes(a.RedisNodeBytes))
	p("| largest PostgreSQL server | %g cores | beyond it, one server is not the plan |\n\n", a.PGMaxCores)

	p("## Worked examples\n\n")
	shared := []struct{ store, small, big string }{{"redis", "redis", "redis-big"}, {"postgres", "postgres", "postgres-big"}}
	for _, users := range []float64{1e4, 1e6, 1e7} {
		rate := users * a.ReqPerUser
		p("### %s active users: %s requests/s (%s reads, %s writes)\n\n", fmtCount(users), fmtCount(rate), fmtCount(rate*(1-a.WriteShare)), fmtCount(rate*a.WriteShare))
		p("| store (the lines measured) | Caddy cores | store server | store memory or disk | |\n|---|---:|---|---:|---|\n")
		var stores []capStoreCost
		if users < 1e5 {
			for _, s := range []string{"memory", "file", "sqlite"} {
				if c, ok := f.cost(s, s); ok {
					stores = append(stores, c)
				}
			}
		}
		for _, s := range shared {
			lineStore := s.big
			if users < 1e5 {
				lineStore = s.small
			}
			if c, ok := f.cost(s.store, lineStore); ok {
				stores = append(stores, c)
			}
		}
		for _, c := range stores {
			pl := planFor(a, c, users)
			server, note := "in Caddy", ""
			switch {
			case c.Redis:
				server = fmt.Sprintf("%s cores busy in Redis: %d node(s) for CPU, %d for memory", fmtNum(pl.ServerCores*a.RedisUtil), pl.RedisCPUNodes, pl.RedisMemNodes)
				note = "one node"
				if pl.RedisNodes > 1 {
					note = fmt.Sprintf("**Redis Cluster of %d primaries** (and a replica each for failover: %d processes)", pl.RedisNodes, 2*pl.RedisNodes)
				}
			case c.Postgres:
				server = fmt.Sprintf("%s cores at %.0f%%", fmtNum(pl.ServerCores), 100*a.PGUtil)
				note = "one server"
				if pl.PGOverOneMachine {
					note = fmt.Sprintf("**more than one server of %g cores**: see below", a.PGMaxCores)
				}
			default:
				note = "one Caddy only (the store is in its process or on its disk)"
				if pl.CaddyCores > 64 {
					note = "beyond one machine: not an option"
				}
			}
			p("| %s | %s | %s | %s (%s sessions) | %s |\n", c.Store, fmtNum(pl.CaddyCores), server, fmtBytes(pl.StoreBytes), fmtCount(pl.Sessions), note)
		}
		p("\n")
	}
	p("Caddy needs no state of its own with Redis or PostgreSQL: its cores spread over as many instances as wanted, behind any load balancer, and a session opens on any of them. The memory, file and SQLite stores keep sessions in one Caddy's process or disk, so they serve one instance (or sticky sessions that lose their users when an instance goes); the 1 M and 10 M examples leave them out.\n\n")

	p("## Checked against the %s-session lines\n\n", big)
	p("The model takes a per-session and a per-request cost measured on a small store and multiplies it up. Whether that holds at scale, from the %s-session lines of the same run:\n\n", big)
	p("| check | from the small store | at %s sessions | ratio |\n|---|---:|---:|---:|\n", big)
	for _, s := range []struct{ store, small, big, label string }{{"redis", "redis", "redis-big", "redis"}, {"postgres", "postgres", "postgres-big", "db PostgreSQL"}} {
		made, ok1 := f.size(s.store, "made through Caddy")
		pre, ok2 := f.size(s.store, "pre-loaded")
		if ok1 && ok2 {
			p("| %s: bytes per session (made through Caddy, against the pre-load's) | %.0f | %.0f | %.2f |\n", s.label, made.BytesPerSession, pre.BytesPerSession, pre.BytesPerSession/made.BytesPerSession)
		}
		for _, path := range []string{"read", "write"} {
			a, ok1 := f.line(s.small, path)
			b, ok2 := f.line(s.big, path)
			if !ok1 || !ok2 {
				continue
			}
			p("| %s %s: Caddy CPU µs/request | %s | %s | %.2f |\n", s.label, path, fmtNum(a.CaddyUS), fmtNum(b.CaddyUS), b.CaddyUS/a.CaddyUS)
			p("| %s %s: server CPU µs/request | %s | %s | %.2f |\n", s.label, path, fmtNum(a.ServerUS), fmtNum(b.ServerUS), b.ServerUS/a.ServerUS)
		}
	}
	p("\nA ratio near 1 means the small store's cost holds at scale. The model's worked examples take the %s lines' CPU for 1 M and 10 M users, and the pre-load's bytes per session.\n\n", big)
	if bf, err := readFigures(filepath.Join(filepath.Dir(path), "benchmarks.json")); err == nil {
		rps := func(store string) float64 {
			for _, l := range bf.Lines {
				if l.Store == store && l.Path == "read" && l.Size == "~100 B" {
					return l.RPS
				}
			}
			return 0
		}
		var rows []string
		for _, s := range []struct{ label, small, big string }{{"redis", "redis (1 k)", "redis (1 M)"}, {"db PostgreSQL", "db PostgreSQL (1 k)", "db PostgreSQL (1 M)"}} {
			small, big := map[string]string{"redis": "redis", "db PostgreSQL": "postgres"}[s.label], map[string]string{"redis": "redis-big", "db PostgreSQL": "postgres-big"}[s.label]
			inverse := "–"
			if x, ok1 := f.line(small, "read"); ok1 {
				if y, ok2 := f.line(big, "read"); ok2 && y.CaddyUS > 0 {
					inverse = fmt.Sprintf("%.2f", x.CaddyUS/y.CaddyUS)
				}
			}
			if a, b := rps(s.small), rps(s.big); a > 0 && b > 0 {
				rows = append(rows, fmt.Sprintf("| %s read | %.0f | %.0f | %.2f | %s |\n", s.label, a, b, b/a, inverse))
			}
		}
		if len(rows) > 0 {
			p("The benchmark suite measures the same two stores with 1 k and 1 M sessions (throughput, reads of one session; [benchmarks.md](benchmarks.md), %s, %s). Where Caddy's CPU is what bounds a line, throughput at 1 M over throughput at 1 k is the inverse of the Caddy cost ratio above, which the last column gives for this run (its reads spread over %d sessions, the suite's read one):\n\n", bf.Date, bf.Machine, capSessions)
			p("| line | suite: req/s at 1 k | suite: req/s at 1 M | suite: ratio | this run: 1 ÷ Caddy cost ratio |\n|---|---:|---:|---:|---:|\n")
			for _, r := range rows {
				p("%s", r)
			}
			p("\n")
		}
	}

	p("## Where one Redis or PostgreSQL stops being enough\n\n")
	if c, ok := f.cost("redis", "redis-big"); ok {
		us := mixUS(c.ServerRead, c.ServerWrite, a.WriteShare)
		rate := a.RedisUtil * 1e6 / us
		perNode := a.RedisNodeBytes / (c.BytesPerSession * a.MemOverhead)
		p("**Redis.** One node runs its commands on one thread. At %s µs of Redis CPU per request (the %s lines' mix) and %.0f%% of that thread, one node serves about %s requests/s: %s active users at %g requests each per second. Its memory holds about %s sessions in %s (%s active users at %g stored sessions each). With sessions of this size CPU runs out long before memory; memory becomes the bound only when sessions are many KiB each or users are many times more than requests.\n\n",
			fmtNum(us), c.Store, 100*a.RedisUtil, fmtCount(rate), fmtCount(rate/a.ReqPerUser), a.ReqPerUser, fmtCount(perNode), fmtBytes(a.RedisNodeBytes), fmtCount(perNode/a.StoredPerActive), a.StoredPerActive)
	}
	p("What the module supports, and what each costs:\n\n")
	p("- **Redis Cluster** (`store redis { address a:6379 b:6379 c:6379 }`, several addresses without `master_name`: go-redis' cluster client). Every operation touches one key, so sessions spread over all primaries by hash slot and CPU and memory scale with the primaries. Costs: each Caddy keeps a connection pool to every primary (`pool_size` per node, go-redis' default 10 per CPU), so connections grow as Caddy instances × primaries × pool; reads go to primaries only (the module does not read from replicas), so a replica per primary adds failover, not capacity, and doubles the memory; `client_cache` and `wait_replicas` are refused on a cluster; a `cycle_key` takes the old key and creates the new one, which may sit on another primary (two nodes, still three round trips). Only database 0.\n")
	p("- **Sentinel** (`master_name`): one primary and its replicas, with failover. The same capacity as one node; what it adds is availability. `wait_replicas <n>` makes each write wait until n replicas have it (one more command, `WAIT`, in the same round trip's pipeline, and the replica's acknowledgement in the write's latency), so an acknowledged login survives a failover.\n")
	p("- **`client_cache`** (single node only): repeated reads of a session are answered from Caddy's memory with no round trip and no Redis CPU, kept fresh by Redis' invalidations (a window of milliseconds in which another instance's logout is not yet seen; `max_staleness` bounds it, 1 s by default). It costs each Caddy `max_entries` (default 10000) sessions of memory and Redis one invalidation message per change per caching Caddy; it lifts a single node's read ceiling, not its write ceiling or its memory. A copy lives at most `max_staleness`, so it saves a round trip only for a session read again within that time (the burst of requests one page makes, a polling client); at the examples' one request per user every %g s it saves almost nothing.\n", 1/a.ReqPerUser)
	if cc, ok := f.line("redis-cc", "read"); ok {
		if r, ok := f.line("redis", "read"); ok {
			p("  Measured here on the same Redis, per request: a read costs %s µs of Caddy CPU and %s µs of Redis CPU with `client_cache`, against %s and %s without (its %d sessions each read several times a second, so a copy is fetched again once a second)",
				fmtNum(cc.CaddyUS), fmtNum(cc.ServerUS), fmtNum(r.CaddyUS), fmtNum(r.ServerUS), capSessions)
			if ccw, ok := f.line("redis-cc", "write"); ok {
				if w, ok := f.line("redis", "write"); ok {
					p("; a write %s and %s, against %s and %s (a write's read is cached too; its save invalidates the copy)", fmtNum(ccw.CaddyUS), fmtNum(ccw.ServerUS), fmtNum(w.CaddyUS), fmtNum(w.ServerUS))
				}
			}
			p(".\n")
		}
	}
	p("\n")
	p("A Redis Cluster of three primaries, each with its replica (the module finds the replicas and the slots from the nodes it is given):\n\n")
	p("```caddyfile\nstore redis {\n\taddress 10.0.0.1:6379 10.0.0.2:6379 10.0.0.3:6379\n\tpool_size 20 # per primary, in each Caddy\n}\n```\n\n")
	if c, ok := f.cost("postgres", "postgres-big"); ok {
		us := mixUS(c.ServerRead, c.ServerWrite, a.WriteShare)
		rate := a.PGUtil * a.PGMaxCores * 1e6 / us
		p("**PostgreSQL.** At %s µs of PostgreSQL CPU per request (the %s lines' mix, the WAL writer and checkpointer included), a server of %g cores at %.0f%% serves about %s requests/s: %s active users. Every write is a commit, so the disk's fsync rate bounds writes too (this run kept `fsync` and `synchronous_commit` on).\n\n",
			fmtNum(us), c.Store, a.PGMaxCores, 100*a.PGUtil, fmtCount(rate), fmtCount(rate/a.ReqPerUser))
	}
	p("What the module supports: `store db` takes one dsn, so reads and writes go to one primary; there is no sharding and no reading from replicas. pgx reads several hosts in a dsn (`postgres://a,b/db?target_session_attrs=read-write`) and connects to the one that takes writes, which follows a failover (pgx's own feature; this suite does not test it), and PgBouncer in transaction mode (add `default_query_exec_mode=exec`, [stores.md](stores.md)) bounds the connections many Caddy instances open (16 each at most); neither adds capacity. Past one server:\n\n")
	p("- **`store cached_db`** keeps Django's table as the truth and serves reads from Redis: a read fills Redis from the table when no copy is there (kept up to 5 minutes), and each write goes to the table and removes the copy. The reads (%.0f%% of requests in the examples) then reach PostgreSQL only after a write or when a copy expires; PostgreSQL carries the writes. It costs a Redis beside the database, a Redis round trip on every request, and one more on every write. It is not measured here; the benchmark report's `cached_db` line gives its read path.\n", 100*(1-a.WriteShare))
	p("- **`store redis`** on a Redis Cluster, when Django does not need to read the sessions from its own table (`store redis` under `codec django` keeps django-redis-sessions' layout, for a Django that reads Redis).\n")
	os.MkdirAll(filepath.Dir(path), 0o755)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
