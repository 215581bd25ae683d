package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// profileResult is where one line's Caddy spends its CPU: a pprof CPU
// profile taken from Caddy's admin endpoint during an extra wrk run of
// that line (not one of the measured runs).
type profileResult struct {
	Label string
	// Own is the session handler's share of all of Caddy's CPU samples:
	// its ServeHTTP before it calls the next handler, and its response
	// wrapper (the update's parsing and commit, run from inside
	// reverse_proxy).
	Own, Before, Wrapper float64
	// Top is `go tool pprof -top -cum` of the handler's own code.
	Top string
	// Line is the profiled line, whose measured CPU per request the
	// shares are taken of.
	Line *combo
	// Shares is each category's share of all of Caddy's CPU samples
	// (categorize); nil: not taken.
	Shares map[string]float64
}

// profilePlain profiles plain reverse_proxy (or any line without the
// handler): only the categories' shares.
func profilePlain(dir string, cd *caddy, c *combo, d time.Duration) (profileResult, error) {
	res := profileResult{Label: c.label(), Line: c}
	path, err := takeProfile(dir, cd, c, d)
	if err != nil {
		return res, err
	}
	res.Shares, err = profileShares(path)
	return res, err
}

// profileShares is the categories' shares of the profile at path, from
// `go tool pprof -traces`.
func profileShares(path string) (map[string]float64, error) {
	out, err := exec.Command("go", "tool", "pprof", "-traces", path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -traces: %w: %s", err, out)
	}
	return categorize(string(out))
}

// takeProfile takes a CPU profile of d from cd's admin endpoint during an
// extra wrk run of c's line, and returns the profile's path.
func takeProfile(dir string, cd *caddy, c *combo, d time.Duration) (string, error) {
	wrkDone := make(chan error, 1)
	go func() {
		_, err := runWrk(dir, cd.url+c.urlPath, c.cookies, d+2*time.Second, cd.pid)
		wrkDone <- err
	}()
	time.Sleep(time.Second) // let wrk's connections open before sampling
	secs := max(1, int(d/time.Second))
	resp, err := http.Get("http://" + cd.admin + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs))
	if err != nil {
		<-wrkDone
		return "", fmt.Errorf("profiling %s: %w", cd.name, err)
	}
	path := filepath.Join(dir, fmt.Sprintf("cpu-%s-%d.pprof", cd.name, c.Size))
	f, err := os.Create(path)
	if err == nil {
		_, err = io.Copy(f, resp.Body)
		f.Close()
	}
	resp.Body.Close()
	if werr := <-wrkDone; werr != nil {
		return "", werr
	}
	return path, err
}

func profileLine(dir, bin string, cd *caddy, c *combo, d time.Duration) (profileResult, error) {
	res := profileResult{Label: c.label(), Line: c}
	path, err := takeProfile(dir, cd, c, d)
	if err != nil {
		return res, err
	}
	if res.Shares, err = profileShares(path); err != nil {
		return res, err
	}

	pprof := func(args ...string) (string, error) {
		out, err := exec.Command("go", append(append([]string{"tool", "pprof", "-top"}, args...), bin, path)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("go tool pprof: %w: %s", err, out)
		}
		return string(out), nil
	}
	// cumShare is the cum% of the first -top line naming fn.
	cumShare := func(out, fn string) float64 {
		for line := range strings.Lines(out) {
			if !strings.Contains(line, fn) {
				continue
			}
			f := strings.Fields(line)
			if len(f) >= 5 {
				v, _ := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
				return v / 100
			}
		}
		return 0
	}
	const handler = `caddymodule.(*Handler).ServeHTTP`
	before, err := pprof("-cum", "-nodecount=200", `-focus=caddymodule\.\(\*Handler\)\.ServeHTTP`, "-ignore=reverseproxy")
	if err != nil {
		return res, err
	}
	wrapper, err := pprof("-cum", "-nodecount=200", `-focus=caddymodule\.\(\*responseWriter\)\.WriteHeader`)
	if err != nil {
		return res, err
	}
	res.Before = cumShare(before, handler)
	res.Wrapper = cumShare(wrapper, "caddymodule.(*responseWriter).WriteHeader")
	res.Own = res.Before + res.Wrapper
	// The table without pprof's preamble, and only the module's frames and
	// the runtime's allocation and GC entries.
	var top strings.Builder
	inTable := false
	for line := range strings.Lines(before) {
		if strings.HasPrefix(strings.TrimSpace(line), "flat") {
			inTable = true
			top.WriteString(line)
			continue
		}
		if inTable && (strings.Contains(line, "caddy-session") || strings.Contains(line, "runtime.mallocgc") || strings.Contains(line, "crypto/")) {
			top.WriteString(line)
		}
	}
	res.Top = top.String()
	return res, nil
}
