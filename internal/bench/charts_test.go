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
