package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// combo is one measured line: a configuration (one Caddy), a path and a
// session size.
type combo struct {
	Config  string // the Caddy configuration
	Store   string // what the report calls it
	Path    string // read, write, no cookie
	Size    int    // bytes of the benchmarked session; 0: none
	Target  float64
	urlPath string
	cookies []string // sent in turn; none: no cookie

	// CPUTarget is issue 16's: Caddy CPU per request added to plain's
	// in the same round; 0: none.
	CPUTarget time.Duration

	runs     []wrkResult
	ratios   []float64
	addedP99 []time.Duration
	addedCPU []time.Duration // Caddy CPU per request less plain's, same round
}

// cpuPerRequest is the median over the rounds of Caddy's CPU time per
// request.
func (c *combo) cpuPerRequest() time.Duration {
	var xs []time.Duration
	for _, w := range c.runs {
		xs = append(xs, w.CPUPerRequest())
	}
	if len(xs) == 0 {
		return 0
	}
	return median(xs)
}

// cpuMet reports whether c meets its CPU target, and whether it has one.
func (c *combo) cpuMet() (bool, bool) {
	if c.CPUTarget == 0 || len(c.addedCPU) == 0 {
		return false, false
	}
	return median(c.addedCPU) <= c.CPUTarget, true
}

func (c *combo) label() string {
	s := c.Store + " " + c.Path
	if c.Size > 0 {
		s += " " + sizeLabel(c.Size)
	}
	return s
}

type results struct {
	opts     options
	started  time.Time
	took     time.Duration
	load     string
	combos   []*combo
	lost     []lostResult
	dropped  []string
	preloads []string
	profiles []profileResult
	// plainProfile is plain reverse_proxy's profile, which the profiled
	// lines' added CPU is split against; nil: none taken.
	plainProfile *profileResult
	// floorBytes is, per session size, the bytes of headers the floor line
	// adds to the upstream's request (the token's).
	floorBytes map[int]int
	micro      []microResult
}

func run(o options) error {
	res := &results{opts: o, started: time.Now(), load: loadAvg()}
	for _, tool := range []string{"wrk", "redis-server", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: scripts/install-deps.sh bench installs it", tool)
		}
	}
	if _, err := os.Stat(o.caddy); err != nil {
		return fmt.Errorf("no Caddy at %s: build it with ./xcaddy.sh", o.caddy)
	}
	dir, err := os.MkdirTemp("", "caddy-bench-")
	if err != nil {
		return err
	}
	if os.Getenv("BENCH_KEEP") == "1" {
		logf("keeping %s (BENCH_KEEP=1)", dir)
	} else {
		atExit(func() { _ = os.RemoveAll(dir) })
	}

	up, err := startUpstream()
	if err != nil {
		return err
	}
	t0 := time.Now()
	redisAddr, err := startRedis(dir, "redis")
	if err != nil {
		return err
	}
	if err := preloadRedis(redisAddr, o.preloadSmall); err != nil {
		return err
	}
	tag := "bench_" + strconv.Itoa(os.Getpid())
	pgDSN, err := createPostgres(tag+"_1k", o.preloadSmall)
	if err != nil {
		return err
	}
	res.preloads = append(res.preloads, fmt.Sprintf("%d sessions in Redis (redis-cli --pipe) and PostgreSQL (generate_series), %s", o.preloadSmall, time.Since(t0).Round(100*time.Millisecond)))
	var redisBig, pgBig string
	if o.preloadLarge > 0 {
		t0 = time.Now()
		if redisBig, err = startRedis(dir, "redis-1m"); err != nil {
			return err
		}
		if err := preloadRedis(redisBig, o.preloadLarge); err != nil {
			return err
		}
		res.preloads = append(res.preloads, fmt.Sprintf("%d sessions in a second Redis, %s", o.preloadLarge, time.Since(t0).Round(100*time.Millisecond)))
		t0 = time.Now()
		if pgBig, err = createPostgres(tag+"_1m", o.preloadLarge); err != nil {
			return err
		}
		res.preloads = append(res.preloads, fmt.Sprintf("%d sessions in a second PostgreSQL database, %s", o.preloadLarge, time.Since(t0).Round(100*time.Millisecond)))
	}
	phpSite, err := startPHP(dir, redisAddr)
	if err != nil {
		return err
	}
	djangoNative, djangoModule, err := startDjango(dir, redisAddr)
	if err != nil {
		return err
	}

	proxy := "\treverse_proxy " + up.addr
	sess := func(store, extra string) string {
		return "\tsession {\n\t\tsecret {env.SESSION_SECRET}\n" + extra + "\t\tstore " + store + "\n\t}\n"
	}
	redisStore := func(addr string) string { return "redis {\n\t\t\taddress " + addr + "\n\t\t}" }
	dbStore := func(dsn string) string { return "db {\n\t\t\tdsn " + dsn + "\n\t\t}" }
	sites := []struct{ name, site string }{
		{"plain", proxy},
		{"memory", sess("memory", "") + proxy},
		{"file", sess("file "+filepath.Join(dir, "sessions"), "") + proxy},
		{"redis", sess(redisStore(redisAddr), "") + proxy},
		{"redis-cc", sess("redis {\n\t\t\taddress "+redisAddr+"\n\t\t\tclient_cache\n\t\t}", "") + proxy},
		{"redis-nopipe", sess("redis {\n\t\t\taddress "+redisAddr+"\n\t\t\tpipeline off\n\t\t}", "") + proxy},
		{"db-postgres", sess(dbStore(pgDSN), "") + proxy},
		{"db-sqlite", sess(dbStore(filepath.Join(dir, "sqlite", "sessions.db")), "") + proxy},
		{"cache", sess("cache {\n\t\t\taddress "+redisAddr+"\n\t\t\tkey_prefix djc\n\t\t}", "") + proxy},
		{"cached_db", sess("cached_db {\n\t\t\tcache {\n\t\t\t\taddress "+redisAddr+"\n\t\t\t\tkey_prefix djcd\n\t\t\t}\n\t\t\tdb {\n\t\t\t\tdsn "+pgDSN+"\n\t\t\t}\n\t\t}", "") + proxy},
		{"signed_cookies", sess("signed_cookies", "\t\tcodec django\n\t\tdjango_secret_key "+djangoCookieKey+"\n") + proxy},
		{"php-native", phpSite},
		{"php-module", sess(redisStore(redisAddr), "") + phpSite},
		{"django-native", "\treverse_proxy " + djangoNative},
		{"django-module", sess(redisStore(redisAddr), "") + "\treverse_proxy " + djangoModule},
	}
	if o.preloadLarge > 0 {
		sites = append(sites,
			struct{ name, site string }{"redis-1m", sess(redisStore(redisBig), "") + proxy},
			struct{ name, site string }{"db-postgres-1m", sess(dbStore(pgBig), "") + proxy})
	}
	if err := os.MkdirAll(filepath.Join(dir, "sqlite"), 0o700); err != nil {
		return err
	}
	caddies := map[string]*caddy{}
	for _, s := range sites {
		c, err := startCaddy(o.caddy, dir, s.name, s.site)
		if err != nil {
			return err
		}
		caddies[s.name] = c
	}
	logf("%d Caddy configurations up", len(caddies))

	big := fmt.Sprintf("%d k", o.preloadSmall/1000)
	add := func(cfg, store, path string, size int, target float64) {
		c := &combo{Config: cfg, Store: store, Path: path, Size: size, Target: target, urlPath: "/read"}
		if path == "write" {
			c.urlPath = "/write"
		}
		res.combos = append(res.combos, c)
	}
	cpuTarget := func(d time.Duration) { res.combos[len(res.combos)-1].CPUTarget = d }
	add("plain", "plain reverse_proxy", "read", 0, 0)
	add("memory", "memory", "read", small, 0.95)
	cpuTarget(8 * time.Microsecond)
	add("file", "file", "read", small, 0.90)
	add("redis", "redis ("+big+")", "read", small, 0.85)
	cpuTarget(20 * time.Microsecond)
	add("redis-cc", "redis ("+big+"), client_cache", "read", small, 0.85)
	add("redis-nopipe", "redis ("+big+"), pipeline off", "read", small, 0)
	add("db-postgres", "db PostgreSQL ("+big+")", "read", small, 0.70)
	cpuTarget(40 * time.Microsecond)
	add("db-sqlite", "db SQLite", "read", small, 0.70)
	add("cache", "cache", "read", small, 0)
	add("cached_db", "cached_db", "read", small, 0)
	add("signed_cookies", "signed_cookies", "read", small, 0)
	add("redis", "redis ("+big+")", "write", small, 0.75)
	add("redis-nopipe", "redis ("+big+"), pipeline off", "write", small, 0)
	add("memory", "memory", "write", small, 0)
	add("file", "file", "write", small, 0)
	add("db-postgres", "db PostgreSQL ("+big+")", "write", small, 0)
	add("redis", "redis ("+big+")", "read", large, 0)
	cpuTarget(40 * time.Microsecond)
	add("redis", "redis ("+big+")", "read", maxSize, 0)
	add("redis", "redis ("+big+")", "no cookie", 0, 0)
	if o.preloadLarge > 0 {
		add("redis-1m", "redis (1 M)", "read", small, 0)
		add("db-postgres-1m", "db PostgreSQL (1 M)", "read", small, 0)
	}
	res.dropped = []string{
		"the write path on SQLite, cache, cached_db and signed_cookies, and the 4 KiB and 5 KiB sessions on every store but Redis",
		"the no-cookie path on every store but Redis: without a cookie the handler reaches no store",
	}
	if o.preloadLarge == 0 {
		res.dropped = append(res.dropped, "1 million pre-loaded sessions (quick mode)")
	}

	// Seed the benchmarked sessions: one per read line; writeSessions per
	// write line, which the requests take in turn, so that writes spread
	// over sessions as a site's do instead of all queueing on one.
	seeds := map[string]string{}
	for _, c := range res.combos {
		if c.Config == "plain" || c.Size == 0 {
			continue
		}
		if c.Path == "write" {
			for range writeSessions {
				v, err := seed(caddies[c.Config], c.Size)
				if err != nil {
					return err
				}
				c.cookies = append(c.cookies, v)
			}
			continue
		}
		k := c.Config + "/" + strconv.Itoa(c.Size)
		if _, ok := seeds[k]; !ok {
			v, err := seed(caddies[c.Config], c.Size)
			if err != nil {
				return err
			}
			seeds[k] = v
		}
		c.cookies = []string{seeds[k]}
	}
	// The floor lines (floor.go): plain reverse_proxy that carries headers
	// of the token's size, one per session size of the redis read lines,
	// under those lines' cookies.
	plainHeaders, err := probeHeaders(caddies["plain"].url+"/probe", "")
	if err != nil {
		return err
	}
	res.floorBytes = map[int]int{}
	for _, size := range []int{small, large, maxSize} {
		var src *combo
		for _, c := range res.combos {
			if c.Config == "redis" && c.Path == "read" && c.Size == size {
				src = c
			}
		}
		if src == nil {
			continue
		}
		sessHeaders, err := probeHeaders(caddies["redis"].url+"/probe", src.cookies[0])
		if err != nil {
			return err
		}
		site, n := floorSite(up.addr, sessHeaders, plainHeaders)
		if n == 0 {
			return fmt.Errorf("the %s session reached the upstream with no header plain's request lacks", sizeLabel(size))
		}
		name := "floor-" + strconv.Itoa(size)
		cd, err := startCaddy(o.caddy, dir, name, site)
		if err != nil {
			return err
		}
		caddies[name] = cd
		res.floorBytes[size] = n
		res.combos = append(res.combos, &combo{Config: name, Store: floorStore, Path: "read", Size: size, urlPath: "/read", cookies: src.cookies})
		logf("floor line for a %s session: %d B of headers to the upstream", sizeLabel(size), n)
	}
	// The PHP peers, write path: every request increments a counter.
	nativeCookie, err := seedPHP(caddies["php-native"].url+"/native.php", "PHPSESSID")
	if err != nil {
		return err
	}
	moduleCookie, err := seedPHP(caddies["php-module"].url+"/module.php", "sessionid")
	if err != nil {
		return err
	}
	res.combos = append(res.combos,
		&combo{Config: "php-native", Store: "PHP native sessions on Redis", Path: "write", urlPath: "/native.php", cookies: []string{nativeCookie}},
		&combo{Config: "php-module", Store: "PHP behind session (redis)", Path: "write", urlPath: "/module.php", cookies: []string{moduleCookie}})
	// The Django peers, write path too.
	djNativeCookie, err := seedPHP(caddies["django-native"].url+"/native", "sessionid")
	if err != nil {
		return err
	}
	djModuleCookie, err := seedPHP(caddies["django-module"].url+"/module", "sessionid")
	if err != nil {
		return err
	}
	res.combos = append(res.combos,
		&combo{Config: "django-native", Store: "Django SessionMiddleware, cache engine on Redis", Path: "write", urlPath: "/native", cookies: []string{djNativeCookie}},
		&combo{Config: "django-module", Store: "Django behind session (redis)", Path: "write", urlPath: "/module", cookies: []string{djModuleCookie}})

	n := len(res.combos) * o.rounds
	logf("%d runs of %s (%d configurations × %d rounds), about %s", n, o.duration, len(res.combos), o.rounds, (time.Duration(n) * (o.duration + 300*time.Millisecond)).Round(time.Second))
	for r := range o.rounds {
		var base wrkResult
		for i, c := range res.combos {
			w, err := runWrk(dir, caddies[c.Config].url+c.urlPath, c.cookies, o.duration, caddies[c.Config].pid)
			if err != nil {
				return err
			}
			if i == 0 {
				base = w
			}
			c.runs = append(c.runs, w)
			c.ratios = append(c.ratios, w.ReqPerSec/base.ReqPerSec)
			c.addedP99 = append(c.addedP99, w.P99-base.P99)
			c.addedCPU = append(c.addedCPU, w.CPUPerRequest()-base.CPUPerRequest())
			logf("round %d/%d %-40s %9.0f req/s  p50 %-9s p99 %-9s ×%.2f  CPU %s/req (+%s)  bad %d", r+1, o.rounds, c.label(), w.ReqPerSec, fmtDur(w.P50), fmtDur(w.P99), w.ReqPerSec/base.ReqPerSec,
				fmtUs(w.CPUPerRequest()), fmtUs(w.CPUPerRequest()-base.CPUPerRequest()), w.Bad)
		}
	}

	// Profiles of the read path, from extra runs: the small reads on
	// memory and Redis, the lines of the missed CPU targets that carry
	// the most (redis 4 KiB, PostgreSQL), the 4 KiB floor line (what
	// carrying a large token costs), and plain, which the added CPU is
	// split against.
	for _, c := range res.combos {
		if c.Config == "plain" {
			pr, err := profilePlain(dir, caddies[c.Config], c, o.duration)
			if err != nil {
				return err
			}
			res.plainProfile = &pr
			continue
		}
		profiled := c.Path == "read" && c.Size == small && (c.Config == "memory" || c.Config == "redis" || c.Config == "redis-cc" || c.Config == "db-postgres") ||
			c.Path == "read" && c.Size == large && (c.Config == "redis" || c.Store == floorStore)
		if !profiled {
			continue
		}
		if c.Store == floorStore {
			pr, err := profilePlain(dir, caddies[c.Config], c, o.duration)
			if err != nil {
				return err
			}
			res.profiles = append(res.profiles, pr)
			continue
		}
		pr, err := profileLine(dir, o.caddy, caddies[c.Config], c, o.duration)
		if err != nil {
			return err
		}
		logf("profile %s: the handler's own code %.1f%% of Caddy's CPU (before next %.1f%%, response wrapper %.1f%%)", pr.Label, 100*pr.Own, 100*pr.Before, 100*pr.Wrapper)
		res.profiles = append(res.profiles, pr)
	}

	// The Go benchmarks of the hot path.
	logf("go test -bench: the token, the update parser, the handler, the codecs")
	if res.micro, err = micro(); err != nil {
		return err
	}

	// Lost increments: 32 concurrent writers of one session.
	for _, l := range []struct{ name, cfg, write, read, cookieName string }{
		{"PHP native sessions on Redis (phpredis, locking off: its default)", "php-native", "/native.php", "/native.php?read=1", "PHPSESSID"},
		{"PHP native sessions on Redis, redis.session.locking_enabled=1 (phpredis' lock_retries 10 × lock_wait_time 2 ms)", "php-native", "/native.php?lock=1", "/native.php?read=1", "PHPSESSID"},
		{"PHP native sessions on Redis, locking_enabled=1, lock_retries=-1 (wait for the lock)", "php-native", "/native.php?lock=wait", "/native.php?read=1", "PHPSESSID"},
		{"PHP behind session (redis): same key, last write wins", "php-module", "/module.php", "/module.php?read=1", "sessionid"},
		{"PHP behind session (redis), X-Session-Incr: the store adds each increment", "php-module", "/module.php?incr=1", "/module.php?read=1", "sessionid"},
	} {
		u := caddies[l.cfg].url
		cookie, err := seedPHP(u+l.write, l.cookieName)
		if err != nil {
			return err
		}
		lr, err := lostIncrements(l.name, u+l.write, u+l.read, cookie, o.writers, o.increments)
		if err != nil {
			return err
		}
		logf("lost increments, %s: %d of %d answered 200, counter +%d, lost %d, failed %d", l.name, lr.OK, lr.Requests, lr.Increased, lr.Lost(), lr.Failed)
		res.lost = append(res.lost, lr)
	}

	res.took = time.Since(res.started)
	figs := figuresOf(res)
	altT, altL, err := drawCharts(figs, o.png)
	if err != nil {
		return err
	}
	if _, err := drawCPUChart(figs, o.png); err != nil {
		return err
	}
	if err := writeFigures(o.figures, figs); err != nil {
		return err
	}
	if err := writeReport(o.out, res, altT, altL); err != nil {
		return err
	}
	logf("wrote %s and %s in %s", o.out, o.png, res.took.Round(time.Second))
	return nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(b) < 14 {
		return "unknown"
	}
	f := string(b)
	var a, b2, c string
	fmt.Sscan(f, &a, &b2, &c)
	return a + " " + b2 + " " + c
}
