package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The charts of the report, drawn from the figures of the last full run
// (docs/benchmarks.json): both are PNGs of the width every chart has and a
// height that grows with the lines, and the alt text names the figures.
func TestDrawChartsFromRecordedFigures(t *testing.T) {
	f, err := readFigures("../../docs/benchmarks.json")
	if err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(t.TempDir(), "benchmarks.png")
	altT, altL, err := drawCharts(f, png)
	if err != nil {
		t.Fatal(err)
	}
	tp, lp := chartPaths(png)
	for _, path := range []string{tp, lp} {
		w, h := decodePNG(t, path)
		if w != 1350 || h < 20*len(f.Lines) {
			t.Errorf("%s: %dx%d pixels for %d lines", filepath.Base(path), w, h, len(f.Lines))
		}
		if _, err := os.Stat(strings.TrimSuffix(path, ".png") + ".svg"); err != nil {
			t.Error(err)
		}
	}
	for _, want := range []string{"targets met", "fastest read", "highest p99", f.Lines[0].Store} {
		if !strings.Contains(altT+altL, want) {
			t.Errorf("alt texts %q / %q lack %q", altT, altL, want)
		}
	}
	if _, _, err := drawCharts(chartFigures{Lines: f.Lines[:1]}, png); err == nil {
		t.Error("charts drawn from the plain line alone")
	}
}

func decodePNG(t *testing.T, path string) (w, h int) {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	img, err := png.Decode(file)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// The CPU chart (issue 16): drawn when the figures hold Caddy's CPU per
// request, its alt text naming plain's and the read that adds most; not
// drawn from figures of earlier runs, which have none.
func TestCPUChart(t *testing.T) {
	f, err := readFigures("../../docs/benchmarks.json")
	if err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(t.TempDir(), "benchmarks.png")
	_, _, cp := chartPathsCPU(png)
	old := f
	old.Lines = append([]chartLine(nil), f.Lines...)
	for i := range old.Lines {
		old.Lines[i].CPUUs, old.Lines[i].AddedCPUUs = 0, 0
	}
	if alt, err := drawCPUChart(old, png); err != nil || alt != "" {
		t.Fatalf("figures without CPU: alt %q, %v", alt, err)
	}
	if _, err := os.Stat(cp); err == nil {
		t.Fatal("a CPU chart drawn from figures without CPU")
	}
	for i := range f.Lines {
		f.Lines[i].CPUUs = 160 + float64(i)
		f.Lines[i].AddedCPUUs = float64(i)
	}
	alt, err := drawCPUChart(f, png)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := decodePNG(t, cp); w != 1350 || h < 20*len(f.Lines) {
		t.Errorf("CPU chart: %dx%d pixels for %d lines", w, h, len(f.Lines))
	}
	if !strings.Contains(alt, "plain reverse_proxy: 160.0 µs") || !strings.Contains(alt, "most added on a read") {
		t.Errorf("alt text %q", alt)
	}
}

// The handler's own cost is each path less the baseline, against the
// targets of issue 16.
func TestOwnCosts(t *testing.T) {
	ms := []microResult{
		{Name: "BenchmarkServeHTTP/baseline", NsPerOp: 4500, Allocs: 20},
		{Name: "BenchmarkServeHTTP/read", NsPerOp: 7000, Allocs: 31},
		{Name: "BenchmarkServeHTTP/no-cookie", NsPerOp: 6500, Allocs: 25},
	}
	own := ownCosts(ms)
	if len(own) != 2 || own[0].Path != "read" || own[0].NsPerOp != 2500 || own[0].Allocs != 11 || !own[0].met() ||
		own[1].Path != "no-cookie" || own[1].NsPerOp != 2000 || own[1].Allocs != 5 || own[1].met() {
		t.Errorf("ownCosts = %+v", own)
	}
	if ownCosts(ms[1:]) != nil {
		t.Error("own costs without a baseline")
	}
}
