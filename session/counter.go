package session

import (
	"strconv"
)

// MaxCounter is the largest magnitude a counter (X-Session-Incr) may hold:
// 2^53 - 1, JavaScript's Number.MAX_SAFE_INTEGER, so that every language
// an app is written in reads a counter exactly, and Redis' Lua, whose
// numbers are doubles, adds it exactly.
const MaxCounter = 1<<53 - 1

// IncrError is an increment that cannot apply: the field holds something
// other than an integer, or the sum would pass MaxCounter. It names the
// field, never its value.
type IncrError struct {
	Key    string
	Reason string
}

func (e *IncrError) Error() string {
	return "incrementing session field " + strconv.Quote(e.Key) + ": " + e.Reason
}

// Reasons of an IncrError.
const (
	ReasonNotInteger = "the stored value is not an integer"
	ReasonOverflow   = "the sum would pass 2^53-1 in magnitude"
)

// ParseCounter reads v as a counter: a JSON integer in its plain form (no
// fraction, no exponent, no leading zeros, no "-0") of at most MaxCounter
// in magnitude.
func ParseCounter(v []byte) (int64, bool) {
	s := string(v)
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 16 || (digits[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxCounter || n < -MaxCounter {
		return 0, false
	}
	return n, true
}

// AddCounter returns the counter v (nil: not stored, 0) plus d as JSON
// text, or an *IncrError (with no Key: the caller's to fill).
func AddCounter(v []byte, d int64) ([]byte, error) {
	var n int64
	if v != nil {
		var ok bool
		if n, ok = ParseCounter(v); !ok {
			return nil, &IncrError{Reason: ReasonNotInteger}
		}
	}
	if d > MaxCounter || d < -MaxCounter {
		return nil, &IncrError{Reason: ReasonOverflow}
	}
	sum := n + d // cannot overflow int64: both are within ±2^53
	if sum > MaxCounter || sum < -MaxCounter {
		return nil, &IncrError{Reason: ReasonOverflow}
	}
	return strconv.AppendInt(nil, sum, 10), nil
}

// addCounters adds incr to the counters in d, in place.
func addCounters(d Data, incr map[string]int64) error {
	for k, delta := range incr {
		v, err := AddCounter(d[k], delta)
		if err != nil {
			err.(*IncrError).Key = k
			return err
		}
		d[k] = v
	}
	return nil
}
