package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/caddy-session/caddy-session/internal/charts"
)

// chartFigures is what the report's charts are drawn from. The run writes
// it beside the report (docs/benchmarks.json), so that the charts can be
// drawn again from the same figures without a run: `go run ./internal/bench
// -charts docs/benchmarks.json`.
type chartFigures struct {
	Machine string      `json:"machine"`
	Date    string      `json:"date"` // e.g. 2026-11-27 18:50 UTC
	Mode    string      `json:"mode"`
	Lines   []chartLine `json:"lines"` // in the table's order, the plain line first
}

type chartLine struct {
	Store  string  `json:"store"`
	Path   string  `json:"path"`
	Size   string  `json:"size"`
	RPS    float64 `json:"rps"`
	Ratio  float64 `json:"ratio"`            // median throughput ÷ plain's of the same round
	Target float64 `json:"target,omitempty"` // the least ratio that meets it; 0: none
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	// Caddy's own CPU time per request (median over the rounds), that less
	// plain's of the same round, and issue 16's target for the latter (0:
	// none). Figures of runs before issue 16 have none of them.
	CPUUs         float64 `json:"cpu_us,omitempty"`
	AddedCPUUs    float64 `json:"added_cpu_us,omitempty"`
	AddedCPUMaxUs float64 `json:"added_cpu_target_us,omitempty"`
}

func (l chartLine) label() string {
	s := l.Store + " · " + l.Path
	if l.Size != "" && l.Size != "–" {
		s += " · " + l.Size
	}
	return s
}

// figuresOf takes the charts' figures from a run's results.
func figuresOf(res *results) chartFigures {
	mode := fmt.Sprintf("%d rounds of %s, medians", res.opts.rounds, res.opts.duration)
	if res.opts.quick {
		mode = "QUICK, 1 round: not the benchmark"
	}
	f := chartFigures{Machine: machine(), Date: res.started.UTC().Format("2006-01-02 15:04 MST"), Mode: mode}
	for _, c := range res.combos {
		var p50, p99 []time.Duration
		for _, w := range c.runs {
			p50, p99 = append(p50, w.P50), append(p99, w.P99)
		}
		size := sizeLabel(c.Size)
		if strings.HasPrefix(c.Config, "php") || strings.HasPrefix(c.Config, "django") {
			size = "a counter"
		}
		l := chartLine{
			Store: c.Store, Path: c.Path, Size: size, RPS: median(rpsOf(c)), Ratio: median(c.ratios), Target: c.Target,
			P50Ms: float64(median(p50).Microseconds()) / 1000, P99Ms: float64(median(p99).Microseconds()) / 1000,
			CPUUs: us(c.cpuPerRequest()), AddedCPUMaxUs: us(c.CPUTarget),
		}
		if len(c.addedCPU) > 0 {
			l.AddedCPUUs = us(median(c.addedCPU))
		}
		f.Lines = append(f.Lines, l)
	}
	return f
}

// us is d in microseconds, to a tenth.
func us(d time.Duration) float64 { return float64(d/100) / 10 }

// chartPathsCPU are chartPaths and the CPU chart beside them.
func chartPathsCPU(png string) (throughput, latency, cpu string) {
	t, l := chartPaths(png)
	return t, l, strings.TrimSuffix(png, ".png") + "-cpu.png"
}

// hasCPU reports whether the figures hold Caddy's CPU per request (runs
// since issue 16).
func hasCPU(f chartFigures) bool {
	return len(f.Lines) > 0 && f.Lines[0].CPUUs > 0
}

// drawCPUChart draws Caddy's CPU time per request of each line (PNG and
// SVG) when the figures hold it, and returns its alt text ("" when not).
func drawCPUChart(f chartFigures, png string) (string, error) {
	if !hasCPU(f) {
		return "", nil
	}
	_, _, cp := chartPathsCPU(png)
	groups := make([]charts.Group, len(f.Lines))
	for i, l := range f.Lines {
		groups[i] = charts.Group{Label: l.label(), Values: []float64{l.CPUUs}}
	}
	c, err := charts.Grouped(fmt.Sprintf("Caddy CPU time per request (wrk, 32 connections)\n%s · %s · %s", f.Date, f.Machine, f.Mode),
		"microseconds of Caddy's user+system CPU per request (lower is better)", " µs",
		[]string{"Caddy CPU per request"}, groups, f.Lines[0].CPUUs, "plain reverse_proxy")
	if err != nil {
		return "", err
	}
	if err := c.Save(cp, true); err != nil {
		return "", err
	}
	return cpuAlt(f), nil
}

// cpuAlt says what the CPU chart shows: plain's CPU per request and the
// read line that adds most to it; "" when the figures have no CPU.
func cpuAlt(f chartFigures) string {
	if !hasCPU(f) {
		return ""
	}
	worst := -1
	for i, l := range f.Lines[1:] {
		if l.Path == "read" && l.Store != floorStore && (worst < 0 || l.AddedCPUUs > f.Lines[worst].AddedCPUUs) {
			worst = i + 1
		}
	}
	s := fmt.Sprintf("Caddy's CPU time per request of every line; plain reverse_proxy: %.1f µs", f.Lines[0].CPUUs)
	if worst > 0 {
		s += fmt.Sprintf("; most added on a read: %s, +%.1f µs", f.Lines[worst].label(), f.Lines[worst].AddedCPUUs)
	}
	return s
}

// chartPaths are the throughput chart (png) and the latency chart beside it.
func chartPaths(png string) (throughput, latency string) {
	return png, strings.TrimSuffix(png, ".png") + "-latency.png"
}

// drawCharts draws both charts (PNG, and SVG beside each) and returns the
// alt text of each: the main figure, in words.
func drawCharts(f chartFigures, png string) (altThroughput, altLatency string, err error) {
	if len(f.Lines) < 2 {
		return "", "", fmt.Errorf("charts: %d lines, want the plain line and at least one other", len(f.Lines))
	}
	tp, lp := chartPaths(png)
	sub := fmt.Sprintf("%s · %s · %s", f.Date, f.Machine, f.Mode)
	bars := make([]charts.Bar, len(f.Lines))
	groups := make([]charts.Group, len(f.Lines))
	for i, l := range f.Lines {
		bars[i] = charts.Bar{Label: l.label(), Value: l.Ratio, Target: l.Target, Baseline: i == 0}
		groups[i] = charts.Group{Label: l.label(), Values: []float64{l.P50Ms, l.P99Ms}}
	}
	c, err := charts.Ratios("Throughput as a ratio to plain reverse_proxy (wrk, 32 connections)\n"+sub,
		"requests per second ÷ plain reverse_proxy's, same round", bars)
	if err != nil {
		return "", "", err
	}
	if err := c.Save(tp, true); err != nil {
		return "", "", err
	}
	c, err = charts.Grouped("Latency at 32 connections: p50 and p99 per line\n"+sub, "milliseconds (lower is better)", " ms",
		[]string{"p50", "p99"}, groups, f.Lines[0].P99Ms, "plain reverse_proxy's p99")
	if err != nil {
		return "", "", err
	}
	if err := c.Save(lp, true); err != nil {
		return "", "", err
	}
	return throughputAlt(f, bars), latencyAlt(f), nil
}

// throughputAlt says what the throughput chart shows: the fastest store
// line, how many targets are met, and the furthest miss.
func throughputAlt(f chartFigures, bars []charts.Bar) string {
	best, worst := -1, -1
	met, targets := 0, 0
	for i, b := range bars[1:] {
		i++
		if f.Lines[i].Path == "read" && f.Lines[i].Store != floorStore && (best < 0 || b.Value > bars[best].Value) {
			best = i
		}
		if ok, has := b.Met(); has {
			targets++
			if ok {
				met++
			} else if worst < 0 || b.Target-b.Value > bars[worst].Target-bars[worst].Value {
				worst = i
			}
		}
	}
	s := "Throughput of every line as a ratio to plain reverse_proxy"
	if best >= 0 {
		s += fmt.Sprintf("; fastest read: %s at %.2f", bars[best].Label, bars[best].Value)
	}
	s += fmt.Sprintf("; %d of %d targets met", met, targets)
	if worst >= 0 {
		s += fmt.Sprintf("; furthest miss: %s at %.2f against %.2f", bars[worst].Label, bars[worst].Value, bars[worst].Target)
	}
	return s
}

// latencyAlt says what the latency chart shows: plain's p99 and the line
// with the highest p99.
func latencyAlt(f chartFigures) string {
	worst := 1
	for i, l := range f.Lines[1:] {
		if l.P99Ms > f.Lines[worst].P99Ms {
			worst = i + 1
		}
	}
	return fmt.Sprintf("p50 and p99 latency of every line at 32 connections; plain reverse_proxy: p50 %.2f ms, p99 %.1f ms; highest p99: %s at %.1f ms",
		f.Lines[0].P50Ms, f.Lines[0].P99Ms, f.Lines[worst].label(), f.Lines[worst].P99Ms)
}

func writeFigures(path string, f chartFigures) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readFigures(path string) (chartFigures, error) {
	var f chartFigures
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("reading %s: %w", path, err)
	}
	return f, nil
}
