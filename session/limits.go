package session

import (
	"fmt"
)

// LimitError is an update refused because the session or the update would
// exceed a configured limit. It carries sizes, never data.
type LimitError struct {
	What  string // "session size" or "keys in one update"
	Size  int
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s %d is over the limit of %d", e.What, e.Size, e.Limit)
}

func (m *Manager) checkUpdate(u *Update) error {
	if max := m.Config.MaxUpdateKeys; max > 0 {
		if n := len(u.Set) + len(u.Delete) + len(u.Incr); n > max {
			return &LimitError{What: "keys in one update", Size: n, Limit: max}
		}
	}
	return nil
}

func (m *Manager) checkSize(d Data) error {
	if max := m.Config.MaxSize; max > 0 {
		if n := Size(d); n > max {
			return &LimitError{What: "session size", Size: n, Limit: max}
		}
	}
	return nil
}

// Size is the length in bytes of d as one JSON object, with every value
// verbatim: what the session adds to the token before base64.
func Size(d Data) int {
	n := 2 // {}
	for k, v := range d {
		n += quotedLen(k) + 1 + len(v) + 1 // "k":v,
	}
	if len(d) > 0 {
		n-- // no comma after the last
	}
	return n
}

// quotedLen is the length of s as a JSON string, escapes included.
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}
