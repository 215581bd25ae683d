// Package relreport is the reliability suite's record of figures. Tests of
// the suite (in integration/ and session/) run at two scales: short, as
// regular tests of the test command, and full, when scripts/reliability.sh
// sets RELIABILITY_FULL=1. In both, every figure a scenario measures is
// recorded with Record; when RELIABILITY_OUT names a file, each figure is
// appended to it as one JSON line, which scripts/reliability.sh renders
// into docs/reliability.md (cmd: go run ./internal/relreport/render). No
// figure in that document is typed by hand.
package relreport

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"
)

// Full reports whether the suite runs at full scale.
func Full() bool { return os.Getenv("RELIABILITY_FULL") == "1" }

// Scale returns full at full scale and short otherwise.
func Scale[T any](short, full T) T {
	if Full() {
		return full
	}
	return short
}

// Figure is one measured value.
type Figure struct {
	Scenario string    `json:"scenario"` // e.g. "1. Writers"
	Name     string    `json:"name"`     // e.g. "lost updates, 1000 writers, redis"
	Value    any       `json:"value"`
	Unit     string    `json:"unit,omitempty"`
	Goal     string    `json:"goal,omitempty"` // e.g. "0"
	Met      *bool     `json:"met,omitempty"`  // nil when there is no goal
	Note     string    `json:"note,omitempty"`
	Timeline *Timeline `json:"timeline,omitempty"` // traffic over time, drawn as a chart
	Test     string    `json:"test"`
	Full     bool      `json:"full"`
	At       time.Time `json:"at"`
}

var mu sync.Mutex

// Record logs f in the test's output and appends it to RELIABILITY_OUT.
func Record(t testing.TB, f Figure) {
	t.Helper()
	f.Test, f.Full, f.At = t.Name(), Full(), time.Now().UTC()
	t.Logf("figure: %s: %s = %v %s", f.Scenario, f.Name, f.Value, f.Unit)
	path := os.Getenv("RELIABILITY_OUT")
	if path == "" {
		return
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Errorf("recording figure %q: %v", f.Name, err)
		return
	}
	mu.Lock()
	defer mu.Unlock()
	file, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("recording figure %q: %v", f.Name, err)
		return
	}
	defer file.Close()
	if _, err := file.Write(append(b, '\n')); err != nil {
		t.Errorf("recording figure %q: %v", f.Name, err)
	}
}

// Met is a helper for Figure.Met.
func Met(ok bool) *bool { return &ok }
