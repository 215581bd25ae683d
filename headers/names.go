// Package headers is the wire between the proxy and its upstream: the names
// of the session headers, the update an upstream returns in response
// headers, and the signed token the upstream receives. It knows nothing of
// stores or of Caddy.
package headers

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
)

// DefaultBase is the base name of the session headers when none is
// configured.
const DefaultBase = "X-Session"

// Names is the family of header names derived from one base name. A header
// belongs to the family when its name, compared case-insensitively with '_'
// and '.' folded to '-', equals the base or starts with the base and '-':
// that covers every spelling a client or a CGI/WSGI gateway could turn into
// the same variable (X-Session-Set, x_session_set, X.Session.Set).
//
// The zero Names matches nothing; use NewNames.
type Names struct {
	token string // canonical base, e.g. "X-Session"
	lower string // folded base, e.g. "x-session"
	part2 string // PartName(2), which SetToken looks for on every request
}

// reserved are standard headers that a base name must not capture: a base
// of "Content" or "Sec" would make Strip delete them.
var reserved = []string{
	"Accept", "Accept-Encoding", "Access-Control-Allow-Origin",
	"Authorization", "Cache-Control", "Connection", "Content-Encoding",
	"Content-Length", "Content-Type", "Cookie", "Date", "Expect",
	"Forwarded", "Host", "If-Match", "If-None-Match", "Keep-Alive",
	"Location", "Origin", "Proxy-Authorization", "Range", "Referer",
	"Sec-WebSocket-Accept", "Sec-WebSocket-Key", "Server", "Set-Cookie",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent", "Vary",
	"Via", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
}

// NewNames returns the header family for base (DefaultBase when empty).
// base must be ASCII letters, digits and '-', start with a letter or digit,
// and not end with '-'; '_' and '.' are refused because they would not
// survive proxies that drop such names. A base that would capture a
// standard header (Content, Sec, X-Forwarded...) is refused too.
func NewNames(base string) (Names, error) {
	if base == "" {
		base = DefaultBase
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if !isAlnum(c) && (c != '-' || i == 0 || i == len(base)-1) {
			return Names{}, fmt.Errorf("header base name %q: must be ASCII letters, digits and inner '-'", base)
		}
	}
	n := Names{token: textproto.CanonicalMIMEHeaderKey(base), lower: strings.ToLower(base)}
	n.part2 = n.PartName(2)
	for _, r := range reserved {
		if n.Match(r) {
			return Names{}, fmt.Errorf("header base name %q: would remove the standard header %s", base, r)
		}
	}
	return n, nil
}

// Token is the canonical name of the request header that carries the
// token, e.g. "X-Session".
func (n Names) Token() string { return n.token }

// Match reports whether name belongs to the family.
func (n Names) Match(name string) bool {
	_, ok := n.cut(name)
	return ok
}

// cut reports whether name belongs to the family and returns what follows
// the base and its '-' ("" for the bare base; "Set" for X-Session-Set; a
// name of exactly base+"-" also gives "" but is not the bare base: see
// bare).
func (n Names) cut(name string) (rest string, ok bool) {
	b := n.lower
	if b == "" || len(name) < len(b) {
		return "", false
	}
	for i := 0; i < len(b); i++ {
		if fold(name[i]) != b[i] {
			return "", false
		}
	}
	if len(name) == len(b) {
		return "", true
	}
	if fold(name[len(b)]) != '-' {
		return "", false
	}
	return name[len(b)+1:], true
}

// bare reports whether name is the base itself, in any spelling.
func (n Names) bare(name string) bool {
	return len(name) == len(n.lower) && n.Match(name)
}

// Strip deletes every header of the family from h, in every spelling,
// including trailers declared with http.TrailerPrefix, and removes the
// family's names from the lists in the Trailer and Connection headers
// (deleting those headers when nothing is left). A Connection header that
// named the token would make a proxy drop the token after it was set.
func (n Names) Strip(h http.Header) {
	for k := range h {
		if n.matchKey(k) {
			delete(h, k)
		} else if isListHeader(k) {
			n.filterList(h, k)
		}
	}
}

// matchKey is Match for a header map key, which may be a trailer declared
// with http.TrailerPrefix.
func (n Names) matchKey(k string) bool {
	name, _ := trimTrailerPrefix(k)
	return n.Match(name)
}

// filterList removes the family's names from the comma-separated lists in
// h[k] and returns the removed names. It deletes h[k] when it ends empty
// and leaves it untouched when nothing matched.
func (n Names) filterList(h http.Header, k string) (removed []string) {
	vs := h[k]
	hit := false
	for _, v := range vs {
		for rest := v; rest != "" && !hit; {
			var name string
			name, rest, _ = strings.Cut(rest, ",")
			hit = n.Match(textproto.TrimString(name))
		}
	}
	if !hit { // the usual case: nothing to remove, nothing allocated
		return nil
	}
	var kept []string
	for _, v := range vs {
		var names []string
		for _, name := range strings.Split(v, ",") {
			name = textproto.TrimString(name)
			switch {
			case name == "":
			case n.Match(name):
				removed = append(removed, name)
			default:
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			kept = append(kept, strings.Join(names, ", "))
		}
	}
	if len(kept) == 0 {
		delete(h, k)
	} else {
		h[k] = kept
	}
	return removed
}

func isListHeader(k string) bool {
	return strings.EqualFold(k, "Trailer") || strings.EqualFold(k, "Connection")
}

func trimTrailerPrefix(k string) (string, bool) {
	p := http.TrailerPrefix
	if len(k) > len(p) && strings.EqualFold(k[:len(p)], p) {
		return k[len(p):], true
	}
	return k, false
}

// canonical is the canonical spelling of a header name of the family, for
// messages: x_session_set becomes X-Session-Set.
func canonical(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '_' || c == '.' {
			b[i] = '-'
		}
	}
	return textproto.CanonicalMIMEHeaderKey(string(b))
}

// fold maps an ASCII byte to lower case, and '_' and '.' to '-'.
func fold(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_' || c == '.':
		return '-'
	}
	return c
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
