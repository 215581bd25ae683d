package charts

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Figures in the shape the reports record: a few benchmark lines, their
// latencies, and one fault's timeline.
var (
	sampleBars = []Bar{
		{Label: "reverse_proxy alone · read", Value: 1, Baseline: true},
		{Label: "memory · read · ~100 B", Value: 0.79, Target: 0.95},
		{Label: "redis, client_cache · read · ~100 B", Value: 0.91, Target: 0.85},
		{Label: "signed_cookies · read · ~100 B", Value: 0.95},
		{Label: "redis · write · ~100 B", Value: 1.12, Target: 0.75},
	}
	sampleGroups = []Group{
		{Label: "reverse_proxy alone · read", Values: []float64{0.61, 1.9}},
		{Label: "memory · read · ~100 B", Values: []float64{0.8, 2.4}},
		{Label: "redis · read · ~100 B", Values: []float64{1.1, 3.2}},
	}
	sampleLines = []Line{
		{Name: "200 responses/s", Values: []float64{900, 950, 910, 0, 0, 120, 880, 930}},
		{Name: "503 responses/s", Values: []float64{0, 0, 0, 400, 420, 80, 0, 0}},
	}
)

// render saves c into a temporary directory (and into CHARTS_OUT, when
// set, to look at) and checks that it decodes as a PNG of c's size.
func render(t *testing.T, c *Chart, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if out := os.Getenv("CHARTS_OUT"); out != "" {
		dir = out
	}
	path := filepath.Join(dir, Name(t.Name())+".png")
	if err := c.Save(path, true); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	w, h := c.Pixels()
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Fatalf("%s is %dx%d pixels, want %dx%d", path, got.X, got.Y, w, h)
	}
	if w != 1350 || h < 300 {
		t.Fatalf("%s: %dx%d pixels: too small to read", path, w, h)
	}
	// Not a blank canvas: a chart has many colours (text, bars, grid).
	colours := map[[4]uint32]bool{}
	for y := 0; y < h; y += 3 {
		for x := 0; x < w; x += 3 {
			r, g, b, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, b, a}] = true
		}
	}
	if len(colours) < 8 {
		t.Fatalf("%s has %d colours: nothing drawn", path, len(colours))
	}
	svg, err := os.ReadFile(strings.TrimSuffix(path, ".png") + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("the SVG beside %s is not SVG", path)
	}
}

func TestRatios(t *testing.T) {
	c, err := Ratios("Throughput, ratio to plain reverse_proxy", "requests per second ÷ plain's", sampleBars)
	render(t, c, err)
	// One row per bar: more bars, a taller chart.
	more, err := Ratios("t", "x", append(sampleBars, sampleBars...))
	if err != nil {
		t.Fatal(err)
	}
	if _, h1 := c.Pixels(); func() bool { _, h2 := more.Pixels(); return h2 <= h1 }() {
		t.Fatal("twice the bars, no taller chart")
	}
}

func TestRatiosMet(t *testing.T) {
	for _, tc := range []struct {
		bar     Bar
		met, ok bool
	}{
		{Bar{Value: 0.9, Target: 0.85}, true, true},
		{Bar{Value: 0.8, Target: 0.85}, false, true},
		{Bar{Value: 0.8}, false, false},
		{Bar{Value: 1, Target: 0.5, Baseline: true}, false, false},
	} {
		if met, ok := tc.bar.Met(); met != tc.met || ok != tc.ok {
			t.Errorf("%+v: met %v, %v; want %v, %v", tc.bar, met, ok, tc.met, tc.ok)
		}
	}
}

func TestGrouped(t *testing.T) {
	c, err := Grouped("Latency at 32 connections", "milliseconds", " ms", []string{"p50", "p99"}, sampleGroups, 1.9, "plain reverse_proxy's p99")
	render(t, c, err)
	if _, err := Grouped("t", "x", "", []string{"a", "b"}, []Group{{Label: "x", Values: []float64{1}}}, 0, ""); err == nil {
		t.Fatal("a group with too few values was drawn")
	}
}

func TestTimeline(t *testing.T) {
	c, err := Timeline("Redis restart under load", "responses per second", 0.5, sampleLines, []Span{{From: 1.5, To: 2.7, Label: "Redis down"}})
	render(t, c, err)
}

func TestName(t *testing.T) {
	if got := Name("Redis restart, 5 s (8 clients)"); got != "redis-restart-5-s-8-clients" {
		t.Fatalf("Name: %q", got)
	}
}
