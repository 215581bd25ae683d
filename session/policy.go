package session

import (
	"fmt"
	"maps"
	"slices"
)

// Policy scopes one upstream's access to a session shared with others
// (issue 11): which keys it sees, which it may change, and whether it may
// end, empty or re-key the session. The zero Policy allows everything.
type Policy struct {
	// Hide lists glob patterns of keys the upstream never sees. They stay
	// in the store, its clear keeps them, and it may not set, delete or
	// increment them (nor, for _session_expiry, change its expiry): a key
	// an upstream cannot see is no key it can write.
	Hide []string
	// DenyWrite lists glob patterns of keys the upstream may not set,
	// delete or increment (nor, for _session_expiry, change through
	// X-Session-Expiry). Its clear keeps them.
	DenyWrite []string
	// DenyFlush forbids flush, clear and cycle_key: such an upstream can
	// neither log a user out nor re-key the session.
	DenyFlush bool
}

// PolicyError is an update that its upstream's Policy forbids. It names
// the key and the pattern, never a value.
type PolicyError struct {
	Key, Pattern string // Key "" for an operation
	Op           string // "set", "delete", "incr", "expiry", "flush", "clear", "cycle_key"
	// Rule is the subdirective the pattern belongs to: "deny_write", or
	// "hide" (a key the upstream cannot see is no key it may write).
	Rule string
}

func (e *PolicyError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("the upstream may not %s the session (allow_flush off)", e.Op)
	}
	rule := e.Rule
	if rule == "" {
		rule = "deny_write"
	}
	return fmt.Sprintf("the upstream may not %s key %q: it matches %s %q", e.Op, e.Key, rule, e.Pattern)
}

// Empty reports whether p restricts nothing.
func (p Policy) Empty() bool {
	return len(p.Hide) == 0 && len(p.DenyWrite) == 0 && !p.DenyFlush
}

// Hidden reports whether key is hidden from the upstream.
func (p Policy) Hidden(key string) bool { return matchAny(p.Hide, key) != "" }

// Visible returns d without the hidden keys: what the upstream sees. It
// returns d itself when nothing is hidden.
func (p Policy) Visible(d Data) Data {
	if len(p.Hide) == 0 {
		return d
	}
	var v Data
	for k := range d {
		if p.Hidden(k) {
			if v == nil {
				v = maps.Clone(d)
			}
			delete(v, k)
		}
	}
	if v == nil {
		return d
	}
	return v
}

// check refuses an update p forbids.
func (p Policy) check(u *Update) error {
	if p.DenyFlush {
		switch {
		case u.Flush:
			return &PolicyError{Op: "flush"}
		case u.Clear:
			return &PolicyError{Op: "clear"}
		case u.CycleKey:
			return &PolicyError{Op: "cycle_key"}
		}
	}
	for _, rule := range []struct {
		name     string
		patterns []string
	}{{"hide", p.Hide}, {"deny_write", p.DenyWrite}} {
		if err := refuseWrites(u, rule.name, rule.patterns); err != nil {
			return err
		}
	}
	return nil
}

// refuseWrites is check's part for one rule's patterns: the first key u
// writes that one of them matches.
func refuseWrites(u *Update, rule string, patterns []string) error {
	if len(patterns) == 0 {
		return nil
	}
	// Sorted, so that the error names the same key every time.
	for _, k := range slices.Sorted(maps.Keys(u.Set)) {
		if pat := matchAny(patterns, k); pat != "" {
			return &PolicyError{Key: k, Pattern: pat, Op: "set", Rule: rule}
		}
	}
	for _, k := range u.Delete {
		if pat := matchAny(patterns, k); pat != "" {
			return &PolicyError{Key: k, Pattern: pat, Op: "delete", Rule: rule}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(u.Incr)) {
		if pat := matchAny(patterns, k); pat != "" {
			return &PolicyError{Key: k, Pattern: pat, Op: "incr", Rule: rule}
		}
	}
	if u.Expiry != nil {
		if pat := matchAny(patterns, ExpiryKey); pat != "" {
			return &PolicyError{Key: ExpiryKey, Pattern: pat, Op: "expiry", Rule: rule}
		}
	}
	return nil
}

// scopeClear turns a clear by an upstream with hidden or write-protected
// keys into deletes of the keys it may see and write, of the session as
// loaded: what it could clear. Keys it cannot see or write stay, and so
// do keys other requests add meanwhile.
func (p Policy) scopeClear(u *Update, loaded Data) *Update {
	if !u.Clear || u.Flush || (len(p.Hide) == 0 && len(p.DenyWrite) == 0) {
		return u
	}
	c := *u
	c.Clear = false
	c.Delete = slices.Clone(u.Delete)
	for _, k := range slices.Sorted(maps.Keys(loaded)) {
		if !p.Hidden(k) && matchAny(p.DenyWrite, k) == "" && !slices.Contains(c.Delete, k) {
			if _, set := u.Set[k]; !set {
				c.Delete = append(c.Delete, k)
			}
		}
	}
	return &c
}

// matchAny returns the first of patterns that key matches, or "".
func matchAny(patterns []string, key string) string {
	for _, p := range patterns {
		if Glob(p, key) {
			return p
		}
	}
	return ""
}

// Glob reports whether s matches pattern, in which * stands for any run of
// characters (none included) and ? for any one; every other character,
// '/' and '\' included, stands for itself.
func Glob(pattern, s string) bool {
	// The classic iterative matcher: on a mismatch, let the last * take
	// one more character.
	p, i := []rune(pattern), []rune(s)
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(i) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == i[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
