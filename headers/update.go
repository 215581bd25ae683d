package headers

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy-session/caddy-session/session"
)

// HeaderError is a malformed session update header. It names the header in
// its canonical spelling and says why; it never carries the header's value,
// which may hold session data.
type HeaderError struct {
	Header string // e.g. "X-Session-Set"
	Reason string // e.g. "not valid JSON at byte 7"
}

func (e *HeaderError) Error() string {
	return "session update header " + e.Header + ": " + e.Reason
}

// The update headers, after the base and its '-'.
const (
	kindSet      = "set"
	kindDelete   = "delete"
	kindClear    = "clear"
	kindFlush    = "flush"
	kindCycleKey = "cycle-key"
	kindExpiry   = "expiry"
	kindIncr     = "incr"
	// The user's other sessions, or all of them, end (logout.go in
	// session).
	kindLogoutOthers = "logout-others"
	kindLogoutAll    = "logout-all"
)

// suffixes gives each kind its canonical suffix, for messages.
var suffixes = map[string]string{
	kindSet: "Set", kindDelete: "Delete", kindClear: "Clear",
	kindFlush: "Flush", kindCycleKey: "Cycle-Key", kindExpiry: "Expiry",
	kindIncr: "Incr", kindLogoutOthers: "Logout-Others", kindLogoutAll: "Logout-All",
}

// kinds are the keys of suffixes, in a slice: kindOf runs on every update
// header, and a walk over a map starts at a random place, at a cost.
var kinds = slices.Collect(maps.Keys(suffixes))

// kindOf returns the kind of an update header from what follows the base.
func kindOf(rest string) (string, bool) {
	for _, k := range kinds {
		if len(rest) == len(k) && foldEqual(rest, k) {
			return k, true
		}
	}
	return "", false
}

func foldEqual(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		if fold(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// ParseUpdate reads the session update in the response headers h and
// removes every header of the family from h, in every spelling, whatever
// the outcome (as Strip does, trailers and Trailer/Connection lists
// included). It returns nil, nil when h held no update header; the bare
// base (a token echoed back) is removed and otherwise ignored.
//
// Values are taken one header line at a time, never split on commas. Set
// objects are merged in order (a later value of a field wins), Delete
// arrays concatenated, and Incr deltas of one field added up. Anything malformed returns a *HeaderError and no
// update: invalid JSON or UTF-8, a Set that is not an object or a Delete
// that is not an array of strings, an Incr that is not an object of
// integers within ±(2^53-1), a flag other than "1", an Expiry that is
// not non-negative integer seconds, "default" or an RFC 3339 time, several
// Expiry values that disagree, an unknown <base>-Something header, one
// field set to different values under differently spelled names (their
// relative order is lost in an http.Header), a Set of _session_expiry to a
// value the Expiry header would refuse, and an update header sent or
// announced as a trailer (it would arrive after the session is committed).
func (n Names) ParseUpdate(h http.Header) (*session.Update, error) {
	type line struct {
		key  string
		kind string
		vals []string
	}
	// A response carries a few update headers: their lines fit on the
	// stack.
	var lineBuf [8]line
	lines := lineBuf[:0]
	var firstErr *HeaderError
	fail := func(name, reason string) {
		// Keep the first by name, then by reason, so that the error does
		// not depend on map order (found by FuzzParseUpdate: a name both
		// announced and sent as a trailer).
		c := canonical(name)
		if firstErr == nil || c < firstErr.Header || (c == firstErr.Header && reason < firstErr.Reason) {
			firstErr = &HeaderError{Header: c, Reason: reason}
		}
	}
	const asTrailer = "sent as a trailer; session updates must be response headers"
	for k, vs := range h {
		if isListHeader(k) {
			for _, name := range n.filterList(h, k) {
				if strings.EqualFold(k, "Trailer") && !n.bare(name) {
					fail(name, "announced as a trailer; session updates must be response headers")
				}
			}
			continue
		}
		name, trailer := trimTrailerPrefix(k)
		rest, ok := n.cut(name)
		if !ok {
			continue
		}
		delete(h, k)
		switch {
		case n.bare(name):
		case trailer:
			fail(name, asTrailer)
		default:
			kind, known := kindOf(rest)
			if !known {
				fail(name, "unknown session header")
				continue
			}
			lines = append(lines, line{key: k, kind: kind, vals: vs})
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if len(lines) == 0 {
		return nil, nil
	}
	// Map order is random; sort so that results and errors are stable.
	slices.SortFunc(lines, func(a, b line) int { return strings.Compare(a.key, b.key) })

	u := &session.Update{}
	var setBy map[string]int // field -> index of the line that set it, once two lines set
	var expiry *session.Expiry
	for i, l := range lines {
		name := func() string { return n.token + "-" + suffixes[l.kind] } // for errors only
		for _, v := range l.vals {
			v = textproto.TrimString(v)
			switch l.kind {
			case kindSet:
				obj, reason := parseObject(v)
				if reason != "" {
					return nil, &HeaderError{Header: name(), Reason: reason}
				}
				if setBy == nil && len(lines) > 1 {
					setBy = map[string]int{}
				}
				if u.Set == nil {
					// The first object is the update's own: nothing was
					// set before it to merge with or to contradict.
					u.Set = obj
					if setBy != nil {
						for f := range obj {
							setBy[f] = i
						}
					}
					continue
				}
				for f, val := range obj {
					if j, seen := setBy[f]; seen && j != i && !bytes.Equal(u.Set[f], val) {
						return nil, &HeaderError{Header: name(), Reason: "one field set to different values under differently spelled header names"}
					}
					u.Set[f] = val
					if setBy != nil {
						setBy[f] = i
					}
				}
			case kindIncr:
				obj, reason := parseObject(v)
				if reason != "" {
					return nil, &HeaderError{Header: name(), Reason: reason}
				}
				if u.Incr == nil {
					u.Incr = make(map[string]int64, len(obj))
				}
				for f, val := range obj {
					d, ok := session.ParseCounter(val)
					if !ok {
						return nil, &HeaderError{Header: name(), Reason: "a delta must be an integer of at most 2^53-1 in magnitude"}
					}
					sum := u.Incr[f] + d
					if sum > session.MaxCounter || sum < -session.MaxCounter {
						return nil, &HeaderError{Header: name(), Reason: "the deltas of one field add up past 2^53-1"}
					}
					u.Incr[f] = sum
				}
			case kindDelete:
				keys, reason := parseStrings(v)
				if reason != "" {
					return nil, &HeaderError{Header: name(), Reason: reason}
				}
				u.Delete = append(u.Delete, keys...)
			case kindClear, kindFlush, kindCycleKey, kindLogoutOthers, kindLogoutAll:
				if v != "1" {
					return nil, &HeaderError{Header: name(), Reason: `must be "1"`}
				}
				switch l.kind {
				case kindClear:
					u.Clear = true
				case kindFlush:
					u.Flush = true
				case kindLogoutOthers:
					u.LogoutOthers = true
				case kindLogoutAll:
					u.LogoutAll = true
				default:
					u.CycleKey = true
				}
			case kindExpiry:
				e, reason := parseExpiry(v)
				if reason != "" {
					return nil, &HeaderError{Header: name(), Reason: reason}
				}
				if expiry != nil && !sameExpiry(expiry, e) {
					return nil, &HeaderError{Header: name(), Reason: "sent more than once with different values"}
				}
				expiry = e
			}
		}
	}
	u.Expiry = expiry
	// Every value of Set came out of compactJSON: JSON in UTF-8.
	u.Checked = true
	if v, ok := u.Set[session.ExpiryKey]; ok {
		// Django's own key for set_expiry: the same rules as the Expiry
		// header, so that it can neither overflow nor hold what no
		// set_expiry would write.
		if reason, ok := session.ValidExpiryValue(v); !ok {
			return nil, &HeaderError{Header: n.token + "-Set", Reason: session.ExpiryKey + " " + reason}
		}
	}
	return u, nil
}

// parseObject reads a JSON object into fields whose values are compact and
// otherwise byte-exact. A non-empty reason means v is malformed; it never
// quotes v.
func parseObject(v string) (session.Data, string) {
	compact, reason := compactJSON(v, '{', "must be a JSON object")
	if reason != "" {
		return nil, reason
	}
	if obj, ok := splitObject(compact); ok {
		return obj, ""
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(compact, &obj); err != nil {
		return nil, "must be a JSON object"
	}
	return obj, ""
}

// splitObject reads the members of b, a compact JSON object as compactJSON
// returns it (valid, in UTF-8, no white space), into fields whose values
// are slices of b: what json.Unmarshal into a map of RawMessage gives (a
// later duplicate wins), without reflection. ok is false for anything it
// does not expect, and the caller unmarshals instead.
func splitObject(b []byte) (d session.Data, ok bool) {
	if len(b) < 2 || b[0] != '{' {
		return nil, false
	}
	d = session.Data{}
	i := 1
	if b[i] == '}' {
		return d, i == len(b)-1
	}
	for i < len(b) {
		if b[i] != '"' {
			return nil, false
		}
		end := endOfString(b, i)
		if end < 0 || end >= len(b) || b[end] != ':' {
			return nil, false
		}
		key, ok := objectKey(b[i:end])
		if !ok {
			return nil, false
		}
		i = end + 1
		vend := endOfValue(b, i)
		if vend <= i || vend >= len(b) {
			return nil, false
		}
		d[key] = b[i:vend:vend]
		i = vend
		switch b[i] {
		case '}':
			return d, i == len(b)-1
		case ',':
			i++
		default:
			return nil, false
		}
	}
	return nil, false
}

// objectKey is the text of raw, a JSON string with its quotes. Only a key
// with an escape goes through json.Unmarshal, whose pointer would move a
// key of every kind to the heap.
func objectKey(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var key string
	if json.Unmarshal(raw, &key) != nil {
		return "", false
	}
	return key, true
}

// endOfString is the index just past the JSON string that starts at
// b[i], or -1 when it does not end.
func endOfString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// endOfValue is the index of the ',' or closing bracket that ends the
// compact JSON value starting at b[i], or len(b).
func endOfValue(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); {
		switch b[j] {
		case '"':
			if j = endOfString(b, j); j < 0 {
				return len(b)
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j
			}
			depth--
		case ',':
			if depth == 0 {
				return j
			}
		}
		j++
	}
	return len(b)
}

// parseStrings reads a JSON array of strings.
func parseStrings(v string) ([]string, string) {
	const want = "must be a JSON array of strings"
	compact, reason := compactJSON(v, '[', want)
	if reason != "" {
		return nil, reason
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(compact, &elems); err != nil {
		return nil, want
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		// Unmarshal would turn null into "": insist on a string.
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &out[i]) != nil {
			return nil, want
		}
	}
	return out, ""
}

// compactJSON checks that v is valid UTF-8 and valid JSON whose top level
// starts with open, and returns it compacted.
func compactJSON(v string, open byte, want string) ([]byte, string) {
	if !utf8.ValidString(v) {
		return nil, "not valid UTF-8"
	}
	var buf bytes.Buffer
	buf.Grow(len(v))
	if err := json.Compact(&buf, []byte(v)); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, "not valid JSON at byte " + strconv.FormatInt(se.Offset, 10)
		}
		return nil, "not valid JSON"
	}
	if b := buf.Bytes(); len(b) == 0 || b[0] != open {
		return nil, want
	}
	return buf.Bytes(), ""
}

// parseExpiry reads an Expiry value: integer seconds (0 for browser
// close), "default", or an RFC 3339 time.
func parseExpiry(v string) (*session.Expiry, string) {
	const want = `must be integer seconds, "default" or an RFC 3339 time`
	switch {
	case v == "default":
		return &session.Expiry{Default: true}, ""
	case v == "":
		return nil, want
	case allDigits(v):
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > session.MaxExpirySeconds {
			return nil, "seconds out of range"
		}
		return &session.Expiry{Seconds: secs}, ""
	case v[0] == '-' && allDigits(v[1:]) && len(v) > 1:
		return nil, "must not be negative"
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, want
	}
	if t.IsZero() {
		return nil, "time out of range"
	}
	return &session.Expiry{At: t}, ""
}

func sameExpiry(a, b *session.Expiry) bool {
	return a.Default == b.Default && a.Seconds == b.Seconds && a.At.Equal(b.At)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
