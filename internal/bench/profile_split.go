package main

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
	"time"
)

// What the added CPU of a line goes to: every sample of a Caddy CPU
// profile falls into one category, by the first rule below its stack
// matches; a category's share of the line's samples times the line's
// measured CPU per request, less the same of plain reverse_proxy, is what
// the line adds in that category.

// category is one rule: a sample whose stack holds a frame containing
// any of frames (and, when within is set, also a frame containing any of
// within) belongs to name.
type category struct {
	name   string
	frames []string
	within []string
}

// The store clients' frames: their syscalls are the store's round trips.
var storeFrames = []string{"redis/go-redis", "session/redispipe", "jackc/pgx", "jackc/puddle", "database/sql"}

var syscallFrames = []string{"syscall.Syscall", "syscall.RawSyscall", "internal/runtime/syscall.", "runtime/internal/syscall.", "syscall.syscall", "internal/poll.ignoringEINTRIO"}

var categories = []category{
	{name: "runtime GC (background mark, assists, sweep)", frames: []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination"}},
	{name: "scheduler, netpoll and wake-ups", frames: []string{"runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.mcall", "runtime.goexit0", "runtime.netpoll", "runtime.wakep", "runtime.startm", "runtime.notewakeup", "runtime.ready", "runtime.goready", "runtime.mstart"}},
	{name: "store round trips: socket syscalls of the store client", frames: syscallFrames, within: storeFrames},
	{name: "HTTP sockets: syscalls (client and upstream connections)", frames: syscallFrames},
	{name: "allocation (mallocgc, any caller)", frames: []string{"runtime.mallocgc", "runtime.newobject", "runtime.makeslice", "runtime.growslice", "runtime.makemap", "runtime.rawstring", "runtime.rawbyteslice", "runtime.concatstring", "runtime.slicebytetostring"}},
	{name: "go-redis client (commands, RESP parse, pipelining)", frames: []string{"redis/go-redis", "session/redispipe"}},
	{name: "pgx (PostgreSQL protocol, pool)", frames: []string{"jackc/pgx", "jackc/puddle", "database/sql"}},
	{name: "token and cookie: HMAC-SHA256", frames: []string{"crypto/"}},
	{name: "token: base64", frames: []string{"encoding/base64"}},
	{name: "JSON", frames: []string{"encoding/json"}},
	{name: "the module's other code", frames: []string{"caddy-session"}},
	{name: "headers: parse, copy, write (net/http, reverse_proxy)", frames: []string{"net/textproto", "net/http.Header", "net/http.(*Header)", "net/http.readRequest", "net/http.ReadResponse", "net/http.(*Request).write", "net/http.(*transferWriter)", "reverseproxy.copyHeader", "reverseproxy.cloneRequest", "reverseproxy.removeConnectionHeaders", "headers.(*HeaderOps)", "net/http.(*persistConn).readResponse", "net/http.(*response).WriteHeader", "net/http.(*chunkWriter).writeHeader", "net/http.extraHeader"}},
}

// restCategory holds every sample no rule matches: Caddy's and Go's own
// work for a proxied request (HTTP server, reverse_proxy, routing, logs).
const restCategory = "the rest: HTTP server, reverse_proxy, Caddy's routing"

// categoryNames in the order the report lists them.
func categoryNames() []string {
	var out []string
	for _, c := range categories {
		out = append(out, c.name)
	}
	return append(out, restCategory)
}

func (c category) matches(stack []string) bool {
	has := func(subs []string) bool {
		for _, f := range stack {
			for _, s := range subs {
				if strings.Contains(f, s) {
					return true
				}
			}
		}
		return false
	}
	return has(c.frames) && (c.within == nil || has(c.within))
}

// boundaries end a stack, from its leaf, for the categories: the
// handler calls the next handler (reverse_proxy, through Caddy's route
// wrappers) from inside its ServeHTTP, so every sample of reverse_proxy
// has the module's frames too. A sample is the module's when the frame
// nearest its leaf among these is the module's.
var boundaries = []string{"caddy-session", "reverseproxy.", "caddyhttp.HandlerFunc.ServeHTTP", "caddyhttp.RouteList.Compile.wrapRoute", "caddyhttp.(*Route).ProvisionHandlers.wrapMiddleware", "caddyhttp.(*Subroute).ServeHTTP"}

// owned is stack (leaf first) up to and including its first boundary.
func owned(stack []string) []string {
	for i, f := range stack {
		for _, b := range boundaries {
			if strings.Contains(f, b) {
				return stack[:i+1]
			}
		}
	}
	return stack
}

// categorize reads `go tool pprof -traces` output and returns each
// category's share of all the samples' time.
func categorize(traces string) (map[string]float64, error) {
	totals := map[string]time.Duration{}
	var all time.Duration
	var value time.Duration
	var stack []string
	flush := func() {
		if value > 0 && len(stack) > 0 {
			name := restCategory
			own := owned(stack)
			for _, c := range categories {
				if c.matches(own) {
					name = c.name
					break
				}
			}
			totals[name] += value
			all += value
		}
		value, stack = 0, nil
	}
	sc := bufio.NewScanner(strings.NewReader(traces))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if value == 0 {
			// A sample's first line: its value, then its leaf frame;
			// label lines ("key: value") and the preamble come before.
			if len(f) >= 2 && line[0] == ' ' {
				if d, err := time.ParseDuration(f[0]); err == nil {
					value = d
					stack = append(stack, strings.Join(f[1:], " "))
				}
			}
			continue
		}
		stack = append(stack, strings.Join(f, " "))
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if all == 0 {
		return nil, fmt.Errorf("no samples in the profile's traces")
	}
	shares := map[string]float64{}
	for k, v := range totals {
		shares[k] = float64(v) / float64(all)
	}
	return shares, nil
}

// categoryCost is one category's CPU per request in plain and in a line.
type categoryCost struct {
	Name        string
	Plain, Line time.Duration
	Added       time.Duration // Line − Plain
}

// addedByCategory splits a line's CPU per request (lineCPU, its shares)
// and plain's (plainCPU, its shares) into categories, the largest added
// first.
func addedByCategory(line map[string]float64, lineCPU time.Duration, plain map[string]float64, plainCPU time.Duration) []categoryCost {
	var out []categoryCost
	for _, name := range categoryNames() {
		c := categoryCost{Name: name, Plain: time.Duration(plain[name] * float64(plainCPU)), Line: time.Duration(line[name] * float64(lineCPU))}
		c.Added = c.Line - c.Plain
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b categoryCost) int { return int(b.Added - a.Added) })
	return out
}

// writeBounds writes what each profiled line's added CPU goes to, against
// plain's profile, and what bounds each missed CPU target.
func writeBounds(p func(string, ...any), res *results, splits []floorSplit) {
	var missed []*combo
	for _, c := range res.combos {
		if met, ok := c.cpuMet(); ok && !met {
			missed = append(missed, c)
		}
	}
	var lines []profileResult
	for _, pr := range res.profiles {
		if pr.Shares != nil && pr.Line != nil {
			lines = append(lines, pr)
		}
	}
	plain := res.plainProfile
	if len(missed) == 0 || len(res.combos) == 0 {
		return
	}
	plainCPU := res.combos[0].cpuPerRequest()
	costs := map[*combo][]categoryCost{}
	p("## What bounds each missed CPU target\n\n")
	if plain != nil && plain.Shares != nil && len(lines) > 0 {
		p("From the profiles of the section below and one of plain `reverse_proxy` taken the same way: every CPU sample falls into the first category its stack matches, in the table's order (so an allocation is counted as *allocation* whoever makes it, and a syscall of the Redis or PostgreSQL client as the store's round trip). A category's share of a line's samples times the line's measured CPU per request, less the same for plain, is what the line adds in that category; the columns add up to the difference of the two lines' CPU per request (the medians of the table above).\n\n")
		p("| category (µs of Caddy CPU per request) | plain reverse_proxy |")
		for _, pr := range lines {
			p(" added, %s |", pr.Label)
		}
		p("\n|---|---:|")
		for range lines {
			p("---:|")
		}
		p("\n")
		for _, pr := range lines {
			costs[pr.Line] = addedByCategory(pr.Shares, pr.Line.cpuPerRequest(), plain.Shares, plainCPU)
		}
		for _, name := range categoryNames() {
			p("| %s | %s |", name, fmtUs(time.Duration(plain.Shares[name]*float64(plainCPU))))
			for _, pr := range lines {
				for _, c := range costs[pr.Line] {
					if c.Name == name {
						p(" %s |", fmtUs(c.Added))
					}
				}
			}
			p("\n")
		}
		p("| **all** | %s |", fmtUs(plainCPU))
		for _, pr := range lines {
			p(" %s |", fmtUs(pr.Line.cpuPerRequest()-plainCPU))
		}
		p("\n\n")
	} else {
		p("No profile was taken in this run; the lines below give the floor only.\n\n")
	}
	for _, pr := range lines {
		if c := pr.Line; c.Store == floorStore && len(c.addedCPU) > 0 {
			p("- **%s** (the floor itself, no target): adds %s.", c.label(), fmtUs(median(c.addedCPU)))
			writeTop(p, costs[c])
			p("\n")
		}
	}
	for _, c := range missed {
		added := median(c.addedCPU)
		p("- **%s**: adds %s against a target of %s, missed by %s.", c.label(), fmtUs(added), fmtUs(c.CPUTarget), fmtUs(added-c.CPUTarget))
		for _, s := range splits {
			if s.Line == c {
				p(" Carrying its token costs %s (the floor); the module's own is %s, ", fmtUs(s.FloorAdded), fmtUs(s.Own))
				if s.metOverFloor() {
					p("within the target: against floor + target it is **met**.")
				} else {
					p("%s over the target even against floor + target.", fmtUs(s.Own-c.CPUTarget))
				}
			}
		}
		writeTop(p, costs[c])
		p("\n")
	}
	p("\n")
}

// writeTop names the four categories that add most, largest first.
func writeTop(p func(string, ...any), cs []categoryCost) {
	if len(cs) == 0 {
		return
	}
	p(" In the profile the added CPU goes to")
	n := 0
	for _, x := range cs {
		if x.Added <= 0 || n == 4 {
			break
		}
		if n > 0 {
			p(";")
		}
		p(" %s %s", strings.SplitN(x.Name, " (", 2)[0], "+"+fmtUs(x.Added))
		n++
	}
	p(".")
}
