package session

import (
	"maps"
	"slices"
)

// The handler's reserved keys are CreatedKey and AccessedKey: only the
// Manager writes them, on every handler, whether or not it configures
// timeouts, because handlers sharing a store share them too (one with
// absolute_timeout reads the creation time that another's upstream could
// otherwise move). ExpiryKey keeps its own rules: an upstream changes it
// with an Expiry (X-Session-Expiry) or a Set the header layer has checked,
// never with a count.

// Reserved reports whether k is one of the keys only the Manager writes.
func Reserved(k string) bool { return k == CreatedKey || k == AccessedKey }

// ReasonExpiryNotCounter is the reason of the IncrError refusing an
// increment of ExpiryKey.
const ReasonExpiryNotCounter = "the session's expiry is no counter: set it as an expiry"

// reserve returns u as it may apply to the session loaded as loaded: every
// Set, Delete and Incr of a reserved key dropped (an upstream's write of
// them is ignored, as it always was for Set and Delete), and a clear (or a
// replace: a clear with sets) keeping the reserved keys as loaded. This is
// the one place every update kind passes through; flush ends the session
// and starts anew, so it keeps nothing. An increment of ExpiryKey is an
// *IncrError.
func reserve(u *Update, loaded Data) (*Update, error) {
	if _, ok := u.Incr[ExpiryKey]; ok {
		return nil, &IncrError{Key: ExpiryKey, Reason: ReasonExpiryNotCounter}
	}
	keep := u.Clear && !u.Flush && (loaded[CreatedKey] != nil || loaded[AccessedKey] != nil)
	writes := slices.ContainsFunc(u.Delete, Reserved)
	for _, k := range []string{CreatedKey, AccessedKey} {
		_, set := u.Set[k]
		_, incr := u.Incr[k]
		writes = writes || set || incr
	}
	if !keep && !writes {
		return u, nil
	}
	out := *u
	out.Set = maps.Clone(u.Set)
	out.Incr = maps.Clone(u.Incr)
	for _, k := range []string{CreatedKey, AccessedKey} {
		delete(out.Set, k)
		delete(out.Incr, k)
	}
	out.Delete = slices.DeleteFunc(slices.Clone(u.Delete), Reserved)
	if keep {
		if out.Set == nil {
			out.Set = Data{}
		}
		for _, k := range []string{CreatedKey, AccessedKey} {
			if v, ok := loaded[k]; ok {
				out.Set[k] = v
			}
		}
	}
	return &out, nil
}
