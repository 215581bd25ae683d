package caddymodule

import (
	"net/http"
	"strings"
)

// keepPrivate keeps shared caches from storing a response that sets or
// deletes the session cookie: unless the upstream already said private or
// no-store, its public and shared-cache directives are dropped and private
// is added. What the browser's own cache may do (max-age, ...) is kept.
func keepPrivate(hdr http.Header) {
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
// leaving every other cookie as it was.
func removeCookie(hdr http.Header, name string) {
	values := hdr.Values("Cookie")
	kept := values[:0:0]
	for _, line := range values {
		parts := strings.Split(line, ";")
		out := parts[:0]
		for _, p := range parts {
			n, _, _ := strings.Cut(strings.TrimSpace(p), "=")
			if n != name {
				out = append(out, strings.TrimSpace(p))
			}
		}
		if len(out) > 0 {
			kept = append(kept, strings.Join(out, "; "))
		}
	}
	hdr.Del("Cookie")
	for _, v := range kept {
		hdr.Add("Cookie", v)
	}
}
