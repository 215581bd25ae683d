package headers

import (
	"net/http"
	"strconv"
)

// TokenPartSize is the most bytes of the token one request header carries.
// A line "X-Session-Part-99: <8000 bytes>" stays under the 8190-byte field
// limits of Apache (LimitRequestFieldSize) and gunicorn
// (limit_request_field_size), and a FastCGI parameter under the 65,535
// bytes one record holds (Caddy's FastCGI client cuts a longer one short).
const TokenPartSize = 8000

// SetToken sets the token on the request headers h. A token of at most
// TokenPartSize bytes goes in the token header alone, as always. A longer
// one is split in order: the first TokenPartSize bytes in the token header,
// the next in "<base>-Part-2", then "<base>-Part-3", and so on; the
// receiver joins them (see JoinToken) before it verifies the signature, so
// a part missing or out of place fails verification, never a session.
// Earlier parts set on h are removed.
func (n Names) SetToken(h http.Header, token string) {
	if _, ok := h[n.part2]; ok { // parts of a token set before
		for i := 2; ; i++ {
			name := n.PartName(i)
			if _, ok := h[name]; !ok {
				break
			}
			delete(h, name)
		}
	}
	if len(token) <= TokenPartSize {
		h.Set(n.token, token)
		return
	}
	h.Set(n.token, token[:TokenPartSize])
	for i, rest := 2, token[TokenPartSize:]; rest != ""; i++ {
		part := rest[:min(len(rest), TokenPartSize)]
		rest = rest[len(part):]
		h.Set(n.PartName(i), part)
	}
}

// PartName is the canonical name of the header carrying part i (from 2)
// of a split token, e.g. "X-Session-Part-2".
func (n Names) PartName(i int) string {
	return n.token + "-Part-" + strconv.Itoa(i)
}

// JoinToken is the token SetToken put on h: the token header followed by
// "<base>-Part-2", "<base>-Part-3", ... up to the first one missing.
func (n Names) JoinToken(h http.Header) string {
	token := h.Get(n.token)
	for i := 2; ; i++ {
		part := h.Get(n.PartName(i))
		if part == "" {
			return token
		}
		token += part
	}
}
