package session

import (
	"crypto/rand"
)

// KeyLength is the length of a session key.
const KeyLength = 32

const keyChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewKey returns a fresh session key: 32 characters from [a-z0-9], drawn
// from crypto/rand without modulo bias.
func NewKey() string {
	var out [KeyLength]byte
	var buf [64]byte
	n := 0
	for n < KeyLength {
		_, _ = rand.Read(buf[:]) // never fails (Go 1.24+)
		for _, b := range buf {
			if b >= 252 { // 252 = 7*36: reject to stay uniform
				continue
			}
			out[n] = keyChars[b%36]
			n++
			if n == KeyLength {
				break
			}
		}
	}
	return string(out[:])
}

// ValidKey reports whether s has the form of a session key. Anything else
// from a cookie is treated as no session at all.
func ValidKey(s string) bool {
	if len(s) != KeyLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
