package relreport

import (
	"math"
	"time"
)

// Timeline is the traffic of a scenario over time: answers per second, in
// steps, split into successes and errors, with the fault's stretches, so
// that the report can draw what the fault did to traffic and for how long.
type Timeline struct {
	Step   float64   `json:"step_s"`       // seconds per point
	OK     []float64 `json:"ok_per_s"`     // successful answers per second, one per step
	Errors []float64 `json:"errors_per_s"` // error answers (and failed requests) per second
	Faults []Span    `json:"faults,omitempty"`
	Errs   string    `json:"errors_are,omitempty"` // what counts as an error, e.g. "503"
}

// Span is a stretch of a timeline, in seconds from its start.
type Span struct {
	From  float64 `json:"from_s"`
	To    float64 `json:"to_s"`
	Label string  `json:"label"`
}

// Event is one answer: when it ended, and whether it succeeded.
type Event struct {
	At time.Time
	OK bool
}

// Fault is a stretch of wall-clock time: the fault injected.
type Fault struct {
	Label    string
	From, To time.Time
}

// NewTimeline buckets events from start to the last event into about 120
// steps (never shorter than 50 ms).
func NewTimeline(start time.Time, events []Event, faults []Fault, errorsAre string) *Timeline {
	end := start
	for _, e := range events {
		if e.At.After(end) {
			end = e.At
		}
	}
	total := end.Sub(start).Seconds()
	step := max(0.05, total/120)
	step = math.Round(step*100) / 100 // a readable step
	n := int(total/step) + 1
	tl := &Timeline{Step: step, OK: make([]float64, n), Errors: make([]float64, n), Errs: errorsAre}
	for _, e := range events {
		i := int(e.At.Sub(start).Seconds() / step)
		if i < 0 || i >= n {
			continue
		}
		if e.OK {
			tl.OK[i] += 1 / step
		} else {
			tl.Errors[i] += 1 / step
		}
	}
	for _, f := range faults {
		tl.Faults = append(tl.Faults, Span{From: f.From.Sub(start).Seconds(), To: f.To.Sub(start).Seconds(), Label: f.Label})
	}
	return tl
}

// ErrorSeconds is how long errors were answered: from the first step with
// an error to the end of the last.
func (tl *Timeline) ErrorSeconds() float64 {
	first, last := -1, -1
	for i, v := range tl.Errors {
		if v > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return 0
	}
	return float64(last-first+1) * tl.Step
}

// Total is the number of answers of each kind.
func (tl *Timeline) Total() (ok, errs int) {
	var o, e float64
	for i := range tl.OK {
		o += tl.OK[i] * tl.Step
		e += tl.Errors[i] * tl.Step
	}
	return int(math.Round(o)), int(math.Round(e))
}
