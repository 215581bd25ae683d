package headers

import (
	"net/http"
	"strings"
	"testing"
)

func TestSetTokenParts(t *testing.T) {
	n, err := NewNames("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		size  int
		parts int
	}{
		{"short: one header", 300, 1},
		{"exactly one part", TokenPartSize, 1},
		{"one byte over", TokenPartSize + 1, 2},
		{"a 64 KiB session", 88000, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := strings.Repeat("abcdefghij", tc.size/10+1)[:tc.size]
			h := http.Header{}
			// A stale part of a longer token set earlier goes.
			h.Set("X-Session-Part-2", "stale")
			h.Set("X-Session-Part-3", "stale")
			n.SetToken(h, token)
			if got := n.JoinToken(h); got != token {
				t.Fatalf("joined token of %d bytes, want the %d set", len(got), len(token))
			}
			parts := 0
			for k, v := range h {
				if !n.Match(k) {
					continue
				}
				parts++
				if line := len(k) + 2 + len(v[0]) + 2; line > 8190 {
					t.Errorf("%s line is %d bytes, over 8190", k, line)
				}
			}
			if parts != tc.parts {
				t.Errorf("%d headers carry the token, want %d: %v", parts, tc.parts, h)
			}
		})
	}
}
