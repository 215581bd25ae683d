package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/relreport"
)

// A report drawn from recorded figures: the table, and each timeline as a
// PNG beside the document, embedded with alt text that states its figures.
func TestRenderDrawsTimelines(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	var events []relreport.Event
	for ms := 0; ms < 6000; ms += 5 {
		at := start.Add(time.Duration(ms) * time.Millisecond)
		events = append(events, relreport.Event{At: at, OK: ms < 2000 || ms >= 3500})
	}
	tl := relreport.NewTimeline(start, events, []relreport.Fault{{Label: "Redis down", From: start.Add(2 * time.Second), To: start.Add(3400 * time.Millisecond)}}, "503")
	ok, errs := tl.Total()
	if ok+errs != len(events) || errs != 300 {
		t.Fatalf("timeline totals %d ok, %d errors; want %d in all, 300 errors", ok, errs, len(events))
	}
	figs := []relreport.Figure{
		{Scenario: "2. Redis faults", Name: "503 responses, Redis restart", Value: errs, Test: "TestReliabilityRedis/restart", Full: true, At: start},
		{Scenario: "2. Redis faults", Name: "traffic over time, Redis restart", Value: len(events), Test: "TestReliabilityRedis/restart", Full: true, At: start, Timeline: tl},
		{Scenario: "1. Writers", Name: "lost updates", Value: 0, Goal: "0", Met: relreport.Met(true), Test: "TestReliabilityWriters", Full: true, At: start},
	}
	in := filepath.Join(dir, "figures.jsonl")
	if err := writeFigures(in, figs); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "reliability.md")
	keep := filepath.Join(dir, "kept.jsonl")
	if err := run(in, out, "./scripts/reliability.sh", "1m", keep); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## 1. Writers", "## 2. Redis faults", "![Redis restart: 1200 answers, 300 of them errors", "(reliability/redis-restart.png)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	f, err := os.Open(filepath.Join(dir, "reliability", "redis-restart.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1350 || b.Dy() < 500 {
		t.Errorf("timeline chart is %dx%d pixels", b.Dx(), b.Dy())
	}

	// A second run of one test replaces that test's figures only.
	again := []relreport.Figure{{Scenario: "1. Writers", Name: "lost updates", Value: 1, Goal: "0", Met: relreport.Met(false), Test: "TestReliabilityWriters", Full: true, At: start}}
	if err := writeFigures(in, again); err != nil {
		t.Fatal(err)
	}
	if err := run(in, out, "./scripts/reliability.sh", "", keep); err != nil {
		t.Fatal(err)
	}
	kept, err := readFigures(keep)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 3 || kept[2].Value != float64(1) {
		t.Fatalf("kept after the second run: %+v", kept)
	}
}
