package caddymodule

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// keepPrivate keeps shared caches from storing a response that sets or
// deletes the session cookie: unless the upstream already said private or
// no-store, its public and shared-cache directives are dropped and private
// is added. What the browser's own cache may do (max-age, ...) is kept.
func keepPrivate(hdr http.Header) {
	if _, ok := hdr["Cache-Control"]; !ok {
		hdr["Cache-Control"] = []string{"private"} // the usual case
		return
	}
	var kept []string
	for _, line := range hdr.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			d = strings.TrimSpace(d)
			name, _, _ := strings.Cut(strings.ToLower(d), "=")
			switch strings.TrimSpace(name) {
			case "private", "no-store":
				return
			case "public", "s-maxage", "proxy-revalidate", "":
				continue
			}
			kept = append(kept, d)
		}
	}
	hdr.Set("Cache-Control", strings.Join(append([]string{"private"}, kept...), ", "))
}

// patchVary makes the Vary header name Cookie exactly once, whatever the
// upstream sent, keeping its other fields; "*" already covers Cookie.
func patchVary(hdr http.Header) {
	if v := hdr["Vary"]; len(v) == 1 && v[0] == "Cookie" {
		return // the usual case: only the handler's own
	}
	var fields []string
	seen := map[string]bool{}
	for _, line := range hdr.Values("Vary") {
		for _, f := range strings.Split(line, ",") {
			f = strings.TrimSpace(f)
			if k := strings.ToLower(f); f != "" && !seen[k] {
				seen[k] = true
				fields = append(fields, f)
			}
		}
	}
	if seen["*"] {
		hdr.Set("Vary", "*")
		return
	}
	if !seen["cookie"] {
		fields = append(fields, "Cookie")
	}
	hdr.Set("Vary", strings.Join(fields, ", "))
}

func (h *Handler) cookieFor(r *http.Request) http.Cookie {
	c := h.cookie
	if h.secure != nil {
		c.Secure = *h.secure
	} else {
		c.Secure = r.TLS != nil
	}
	return c
}

// removeCookie deletes the cookie called name from the Cookie header(s),
// leaving every other cookie as it was. A header that does not hold it is
// left alone; one that holds only it goes without an allocation.
func removeCookie(hdr http.Header, name string) {
	values := hdr["Cookie"]
	var kept []string // the lines as they end, once one has changed
	changed := false
	for i, line := range values {
		out, removed := withoutCookie(line, name)
		if removed && !changed {
			changed, kept = true, values[:i:i] // appended to: copied
		}
		if changed && out != "" {
			kept = append(kept, out)
		}
	}
	switch {
	case !changed: // not there: nothing to do
	case len(kept) == 0:
		delete(hdr, "Cookie")
	default:
		hdr["Cookie"] = kept
	}
}

// withoutCookie is a Cookie header line without the cookie called name,
// its other cookies joined by "; ", and whether it held that cookie.
func withoutCookie(line, name string) (string, bool) {
	found := false
	for rest := line; rest != "" && !found; {
		var p string
		p, rest, _ = strings.Cut(rest, ";")
		n, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		found = n == name
	}
	if !found {
		return line, false
	}
	var b strings.Builder
	for rest := line; rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, ";")
		p = strings.TrimSpace(p)
		if n, _, _ := strings.Cut(p, "="); n == name || p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p)
	}
	return b.String(), true
}

// requestCookie is the value of the request's cookie called name, "" when
// it has none: what r.Cookie(name) gives, found without parsing every
// cookie into an *http.Cookie. The first cookie of that name decides, as
// in r.Cookie; a value that is not plainly cookie-octets (quoted, or with
// bytes r.Cookie would refuse) is left to r.Cookie itself.
func requestCookie(r *http.Request, name string) string {
	lines := r.Header["Cookie"]
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > maxRequestCookies {
		return fromRCookie(r, name) // r.Cookie's own limit decides
	}
	for _, line := range lines {
		for rest := line; rest != ""; {
			var part string
			part, rest, _ = strings.Cut(rest, ";")
			k, v, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(k) != name {
				continue
			}
			if !plainCookieValue(v) {
				return fromRCookie(r, name)
			}
			return v
		}
	}
	return ""
}

// maxRequestCookies is the most cookies r.Cookie reads (net/http's
// httpcookiemaxnum default); past it, it finds none.
const maxRequestCookies = 3000

func fromRCookie(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

// plainCookieValue reports whether v is a cookie value r.Cookie returns as
// it is: RFC 6265 cookie-octets, not quoted.
func plainCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// setCookieLine is c as a Set-Cookie header line, exactly as c.String()
// writes it, in one allocation: the line. Values, paths and domains that
// String would sanitize or check (not plain ASCII, a domain with a leading
// dot) are left to String itself.
func setCookieLine(c *http.Cookie) string {
	if !plainCookieValue(c.Value) || !plainCookiePath(c.Path) || strings.HasPrefix(c.Domain, ".") || !plainCookieValue(c.Domain) || c.Quoted || c.Partitioned {
		return c.String()
	}
	var b strings.Builder
	b.Grow(len(c.Name) + len(c.Value) + len(c.Path) + len(c.Domain) + 128)
	b.WriteString(c.Name)
	b.WriteByte('=')
	b.WriteString(c.Value)
	if c.Path != "" {
		b.WriteString("; Path=")
		b.WriteString(c.Path)
	}
	if c.Domain != "" {
		b.WriteString("; Domain=")
		b.WriteString(c.Domain)
	}
	var num [32]byte
	if c.Expires.Year() >= 1601 { // what String writes: the cookie's validCookieExpires
		b.WriteString("; Expires=")
		b.Write(c.Expires.UTC().AppendFormat(num[:0], http.TimeFormat))
	}
	switch {
	case c.MaxAge > 0:
		b.WriteString("; Max-Age=")
		b.Write(strconv.AppendInt(num[:0], int64(c.MaxAge), 10))
	case c.MaxAge < 0:
		b.WriteString("; Max-Age=0")
	}
	if c.HttpOnly {
		b.WriteString("; HttpOnly")
	}
	if c.Secure {
		b.WriteString("; Secure")
	}
	switch c.SameSite {
	case http.SameSiteNoneMode:
		b.WriteString("; SameSite=None")
	case http.SameSiteLaxMode:
		b.WriteString("; SameSite=Lax")
	case http.SameSiteStrictMode:
		b.WriteString("; SameSite=Strict")
	}
	return b.String()
}

// plainCookiePath reports whether String writes path as it is.
func plainCookiePath(path string) bool {
	for i := 0; i < len(path); i++ {
		if c := path[i]; c < 0x20 || c >= 0x7f || c == ';' {
			return false
		}
	}
	return true
}
