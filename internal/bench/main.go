// Command bench measures what the session handler costs (issue 8): the
// built ./caddy in front of one fixed, cheap upstream, once as a plain
// reverse_proxy (the baseline) and once per store with `session`, driven
// by wrk (2 threads, 32 connections) in rounds that alternate the
// configurations, so that drift of the machine hits all alike. Beside it,
// PHP's native sessions on Redis against the same PHP work behind this
// module: throughput, and increments lost by 32 concurrent writers of one
// session. It writes docs/benchmarks.md, its charts (docs/benchmarks.png and
// docs/benchmarks-latency.png, with SVGs) and the figures they are drawn
// from (docs/benchmarks.json).
//
//	go run ./internal/bench -caddy ./caddy            # full: 5 rounds of 6 s
//	BENCH_QUICK=1 go run ./internal/bench -caddy ./caddy  # 1 round of 2 s
//	go run ./internal/bench -charts docs/benchmarks.json  # redraw the charts only
//
// scripts/bench.sh builds ./caddy, installs wrk, redis-server, php-fpm,
// php-redis and PostgreSQL, and runs this.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// secret signs the tokens (and, as django_secret_key, Django's values).
const secret = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// djangoCookieKey signs the signed_cookies line's cookies: a key of its
// own, since under HS256 the handler refuses a Django key equal to the
// secret every app holds.
const djangoCookieKey = "bench-django-cookie-key-0123456789abcdefghijklmnop"

// Sizes of the benchmarked sessions, in bytes of their JSON object.
const (
	small   = 100
	large   = 4096
	maxSize = 5120 // max_session_size's default
)

// writeSessions is how many sessions a write line's requests take in turn.
const writeSessions = 64

type options struct {
	caddy, out, png, figures string
	command                  string
	quick                    bool
	rounds                   int
	duration                 time.Duration
	preloadSmall             int // sessions pre-loaded in Redis and PostgreSQL
	preloadLarge             int // full mode only: the "1 million" stores
	writers, increments      int // lost-increments test
}

func main() {
	o := options{}
	flag.StringVar(&o.caddy, "caddy", "./caddy", "the Caddy binary with this module")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "the report to write")
	flag.StringVar(&o.png, "png", "docs/benchmarks.png", "the chart to write (embedded by the report under its base name)")
	flag.StringVar(&o.figures, "figures", "docs/benchmarks.json", "where the charts' figures are kept")
	redraw := flag.String("charts", "", "draw the charts again from this figures file (as -figures writes it) and exit: no run")
	flag.StringVar(&o.command, "command", "./scripts/bench.sh", "the command named in the report")
	flag.BoolVar(&o.quick, "quick", os.Getenv("BENCH_QUICK") == "1", "one round of 2 s per configuration, no 1-million pre-load (BENCH_QUICK=1)")
	flag.IntVar(&o.rounds, "rounds", 0, "rounds (default 5, quick 1)")
	flag.DurationVar(&o.duration, "duration", 0, "each wrk run (default 6s, quick 2s)")
	flag.Parse()
	if *redraw != "" {
		f, err := readFigures(*redraw)
		if err == nil {
			var alt1, alt2, alt3 string
			alt1, alt2, err = drawCharts(f, o.png)
			if err == nil {
				alt3, err = drawCPUChart(f, o.png)
			}
			fmt.Printf("alt text:\n%s\n%s\n%s\n", alt1, alt2, alt3)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *capacityDoc != "" {
		os.Exit(capacityMain(o)) // capacity.go: the cost model's measurement
	}
	o.setRuns(6 * time.Second)
	o.preloadSmall, o.preloadLarge = 1000, 1000000
	o.writers, o.increments = 32, 3200
	if o.quick {
		o.preloadLarge = 0
		o.increments = 640
	}
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
	err := run(o)
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// cleanups run in reverse order at the end, and on an interrupt.
var cleanups []func()

func atExit(f func()) { cleanups = append(cleanups, f) }

func cleanup() {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// setRuns fills the rounds and the wrk run's duration left unset: 5
// rounds of each, or 1 round of 2 s in quick mode.
func (o *options) setRuns(each time.Duration) {
	if o.rounds == 0 {
		o.rounds = 5
		if o.quick {
			o.rounds = 1
		}
	}
	if o.duration == 0 {
		o.duration = each
		if o.quick {
			o.duration = 2 * time.Second
		}
	}
}
