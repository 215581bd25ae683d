package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	ReqPerSec float64
	P50, P99  time.Duration
	Requests  int
	Bad       int // non-2xx/3xx answers plus socket errors
	// CaddyCPU is the CPU time (user plus system) the Caddy process
	// serving the line used during the run: its own work only, since the
	// upstream, Redis, PostgreSQL, PHP and Django are other processes.
	CaddyCPU time.Duration
}

// CPUPerRequest is Caddy's CPU time per request the run served; 0 when
// unknown.
func (r wrkResult) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CaddyCPU / time.Duration(r.Requests)
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reReqs     = regexp.MustCompile(`(\d+) requests in`)
	reLatency  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	luaCounter int
)

// runWrk drives url for d with 2 threads and 32 connections; the Lua script
// sends the cookie (if any) on every request, or, given several, each in
// turn (each wrk thread keeps its own turn). pid is the Caddy that serves
// url: its CPU time is read before and after the run (0: not measured).
func runWrk(dir, url string, cookies []string, d time.Duration, pid int) (wrkResult, error) {
	luaCounter++
	script := filepath.Join(dir, fmt.Sprintf("wrk-%d.lua", luaCounter))
	lua := "wrk.method = \"GET\"\n"
	switch {
	case len(cookies) == 1:
		lua += "wrk.headers[\"Cookie\"] = " + strconv.Quote(cookies[0]) + "\n"
	case len(cookies) > 1:
		lua += "local cookies = {"
		for i, c := range cookies {
			if i > 0 {
				lua += ", "
			}
			lua += strconv.Quote(c)
		}
		lua += "}\nlocal reqs = {}\nlocal i = 0\n" +
			"function init(args)\n  for j, c in ipairs(cookies) do reqs[j] = wrk.format(nil, nil, {Cookie = c}) end\nend\n" +
			"function request()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n"
	}
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		return wrkResult{}, err
	}
	defer os.Remove(script)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cpu := func() (time.Duration, error) { return 0, nil } // pid 0: not measured
	if pid > 0 {
		cpu = func() (time.Duration, error) { return procCPU(pid) }
	}
	cpu0, err := cpu()
	if err != nil {
		return wrkResult{}, fmt.Errorf("caddy's CPU time: %w", err)
	}
	out, err := exec.Command("wrk", "-t2", "-c32", "-d"+strconv.Itoa(secs)+"s", "--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w: %s", url, err, out)
	}
	cpu1, err := cpu()
	if err != nil {
		return wrkResult{}, fmt.Errorf("caddy's CPU time: %w", err)
	}
	r, err := parseWrk(string(out))
	r.CaddyCPU = cpu1 - cpu0
	return r, err
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's output: %s", out)
	}
	r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	if m := reReqs.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.Atoi(m[1])
	}
	for _, m := range reLatency.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9}[m[3]]
		d := time.Duration(v * unit)
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P50 == 0 || r.P99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk's output: %s", out)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.Bad += n
	}
	if m := reSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.Bad += n
		}
	}
	return r, nil
}

// median of a non-empty slice.
func median[T int | float64 | time.Duration](xs []T) T {
	s := append([]T(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// fmtUs prints a duration in microseconds, one decimal.
func fmtUs(d time.Duration) string {
	if d < 0 {
		return "−" + fmtUs(-d)
	}
	return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) + " µs"
}

func fmtDur(d time.Duration) string {
	ms := float64(d) / 1e6
	switch {
	case ms < 0:
		return "−" + fmtDur(-d)
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	default:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
}

func sizeLabel(n int) string {
	switch {
	case n == 0:
		return "–"
	case n >= 1024:
		return strconv.Itoa(n/1024) + " KiB"
	default:
		return "~" + strconv.Itoa(n) + " B"
	}
}
