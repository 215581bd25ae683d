package session

import (
	"maps"
	"slices"
	"time"
)

// Expiry is the argument of Django's set_expiry.
type Expiry struct {
	// Default removes a custom expiry (set_expiry(None)).
	Default bool
	// At, when not zero, makes the session expire at that time.
	At time.Time
	// Seconds is the inactivity age; 0 means "at browser close".
	Seconds int64
}

// Update is the set of changes an upstream asked for in one response,
// applied in Django's order: flush, clear, delete, set, cycle key, expiry.
type Update struct {
	Flush  bool
	Clear  bool
	Delete []string
	Set    Data
	// Incr adds an integer to each field, after Set: atomically in the
	// store, against the value stored when the write happens, so that
	// concurrent increments all count. A field that is not stored counts
	// as 0.
	Incr     map[string]int64
	CycleKey bool
	Expiry   *Expiry
	// LogoutOthers and LogoutAll end the user's other sessions, or all of
	// them, after the rest (logout.go).
	LogoutOthers, LogoutAll bool
	// Checked says that the parser that built the update has checked
	// every value of Set to be JSON in UTF-8 (headers.ParseUpdate does):
	// the Changes the Manager makes of it say so in turn (Change.Checked),
	// and a CheckedValues store does not check those values again. An
	// Update built anywhere else leaves it false and is checked.
	Checked bool
}

// Empty reports whether u asks for no change at all.
func (u *Update) Empty() bool {
	return u == nil || (!u.Flush && !u.Clear && len(u.Delete) == 0 && len(u.Set) == 0 && len(u.Incr) == 0 && !u.CycleKey && u.Expiry == nil && !u.LogoutOthers && !u.LogoutAll)
}

// apply returns d with u applied in Django's order (flush, clear, delete,
// set, then increments, then expiry); d itself is not modified. An
// increment that cannot apply is an *IncrError.
func (u *Update) apply(d Data) (Data, error) {
	// One map, sized for what it will hold: the fields kept, then those
	// the update adds.
	n := len(u.Set) + len(u.Incr)
	if u.Expiry != nil {
		n++
	}
	keep := !u.Flush && !u.Clear
	if keep {
		n += len(d)
	}
	view := make(Data, n)
	if keep {
		maps.Copy(view, d)
	}
	for _, k := range u.Delete {
		delete(view, k)
	}
	maps.Copy(view, u.Set)
	if err := addCounters(view, u.Incr); err != nil {
		return nil, err
	}
	if e := u.Expiry; e != nil {
		if e.Default {
			delete(view, ExpiryKey)
		} else {
			view[ExpiryKey] = expiryValue(e)
		}
	}
	return view, nil
}

// deltaFrom is delta for the session s was loaded as: its Base is the
// loaded record's Version.
func (u *Update) deltaFrom(s *Session) Change {
	c := u.delta()
	c.Base = s.version
	return c
}

// delta is u as a ModeUpdate change: its deletes, then its sets, then its
// increments, with the expiry as a set or delete of ExpiryKey. An
// increment of a field this update sets or deletes is folded into the set
// (the value it sets, or 0, plus the delta), so that the store increments
// only fields the update leaves as they are stored; apply has checked that
// such a sum is a counter.
func (u *Update) delta() Change {
	// The change shares u's Set and Delete (stores do not modify a
	// Change) until it needs its own.
	c := Change{Mode: ModeUpdate, Set: u.Set, Delete: u.Delete, Checked: u.Checked}
	copied := false
	own := func() {
		if !copied {
			c.Set, c.Delete, copied = maps.Clone(c.Set), slices.Clone(c.Delete), true
		}
	}
	for k, d := range u.Incr {
		base, set := u.Set[k]
		if !set && !slices.Contains(u.Delete, k) {
			if c.Incr == nil {
				c.Incr = make(map[string]int64, len(u.Incr))
			}
			c.Incr[k] = d
			continue
		}
		v, err := AddCounter(base, d)
		if err != nil {
			continue // apply refused the update already
		}
		own()
		if c.Set == nil {
			c.Set = Data{}
		}
		c.Set[k] = v
		c.Delete = slices.DeleteFunc(c.Delete, func(x string) bool { return x == k })
	}
	if e := u.Expiry; e != nil {
		own()
		if e.Default {
			delete(c.Set, ExpiryKey)
			c.Delete = append(c.Delete, ExpiryKey)
		} else {
			if c.Set == nil {
				c.Set = Data{}
			}
			c.Set[ExpiryKey] = expiryValue(e)
		}
	}
	return c
}

// sizeAfter is Size(view), view being what apply made of u and s's data:
// the loaded session's size (Load measured it against MaxSize) with the
// entries of the fields u touches taken out as they were and put back as
// they are, rather than a walk over every field. An update that keeps
// nothing of what was loaded (flush, clear), or touches more fields than
// it pays to compare, is measured whole.
func (u *Update) sizeAfter(s *Session, view Data) int {
	var buf [16]string
	touched, ok := buf[:0], !u.Flush && !u.Clear && len(view) > 0
	for i := 0; ok && i < len(u.Delete); i++ {
		touched, ok = withKey(touched, u.Delete[i])
	}
	for k := range u.Set {
		if !ok {
			break
		}
		touched, ok = withKey(touched, k)
	}
	for k := range u.Incr {
		if !ok {
			break
		}
		touched, ok = withKey(touched, k)
	}
	if ok && u.Expiry != nil {
		touched, ok = withKey(touched, ExpiryKey)
	}
	if !ok {
		return Size(view)
	}
	// Size is 2 for the braces, plus each entry `"k":v,`, less the comma
	// of the last.
	entries := s.Size() - 2
	if len(s.data) > 0 {
		entries++
	}
	for _, k := range touched {
		if v, ok := s.data[k]; ok {
			entries -= entryLen(k, v)
		}
		if v, ok := view[k]; ok {
			entries += entryLen(k, v)
		}
	}
	return 2 + entries - 1 // view is not empty
}

// withKey adds k to keys unless it holds it already; false when keys is
// full.
func withKey(keys []string, k string) ([]string, bool) {
	if slices.Contains(keys, k) {
		return keys, true
	}
	if len(keys) == cap(keys) {
		return keys, false
	}
	return append(keys, k), true
}

// entryLen is what the field k with the value v adds to Size: `"k":v,`.
func entryLen(k string, v []byte) int {
	return quotedLen(k) + 1 + len(v) + 1
}
