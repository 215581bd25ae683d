package session

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func newKey(t testing.TB) []byte {
	k := make([]byte, SealKeySize)
	rand.Read(k)
	return k
}

func TestSealRoundTrip(t *testing.T) {
	s, err := NewSealer(newKey(t), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{`1`, `"héllo"`, `{"a":[1,2]}`, strings.Repeat(`x`, 4096)} {
		sealed := s.Seal("k1", "f", []byte(plain))
		if (len(plain) > 3 && bytes.Contains(sealed, []byte(plain))) || !IsSealed(sealed) {
			t.Fatalf("Seal(%.20q) = %.40q: not sealed", plain, sealed)
		}
		if len(sealed) != SealedLen(len(plain)) || PlainLen(len(sealed)) != len(plain) {
			t.Fatalf("len %d: SealedLen %d, PlainLen %d", len(sealed), SealedLen(len(plain)), PlainLen(len(sealed)))
		}
		got, current, err := s.Open("k1", "f", sealed)
		if err != nil || !current || string(got) != plain {
			t.Fatalf("Open = %.20q, %v, %v", got, current, err)
		}
	}
	for n := range 100 {
		if PlainLen(SealedLen(n)) != n {
			t.Fatalf("PlainLen(SealedLen(%d)) = %d", n, PlainLen(SealedLen(n)))
		}
	}
}

// TestSealFailsClosed: a value moved to another session or field, a
// truncated or altered one, one under a removed key, and plaintext without
// the migration setting each fail to open, as a bad value.
func TestSealFailsClosed(t *testing.T) {
	old, cur := newKey(t), newKey(t)
	s, _ := NewSealer(cur, nil, false)
	sealed := s.Seal("k1", "f", []byte(`"secret"`))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)/2] ^= 1
	underOld, _ := NewSealer(old, nil, false)
	cases := map[string]struct {
		key, field string
		stored     []byte
	}{
		"other session": {"k2", "f", sealed},
		"other field":   {"k1", "g", sealed},
		"whole session": {"k1", WholeSession, sealed},
		"truncated":     {"k1", "f", append(bytes.Clone(sealed[:len(sealed)-5]), '"')},
		"altered":       {"k1", "f", flipped},
		"removed key":   {"k1", "f", underOld.Seal("k1", "f", []byte(`1`))},
		"plaintext":     {"k1", "f", []byte(`"secret"`)},
		"empty":         {"k1", "f", []byte(`"cse1."`)},
	}
	for name, c := range cases {
		if _, _, err := s.Open(c.key, c.field, c.stored); !errors.Is(err, ErrSealed) || !errors.Is(err, ErrBadValue) {
			t.Errorf("%s: Open error = %v; want ErrSealed", name, err)
		} else if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "k1") {
			t.Errorf("%s: error %q holds the key or the value", name, err)
		}
	}
	var off *Sealer
	if _, _, err := off.Open("k1", "f", sealed); !errors.Is(err, ErrSealed) {
		t.Errorf("a nil sealer opened a sealed value: %v", err)
	}
}

func TestSealRotation(t *testing.T) {
	old, cur := newKey(t), newKey(t)
	before, _ := NewSealer(old, nil, false)
	after, _ := NewSealer(cur, [][]byte{old}, false)
	sealedOld := before.Seal("k", "f", []byte(`1`))
	got, current, err := after.Open("k", "f", sealedOld)
	if err != nil || current || string(got) != `1` {
		t.Fatalf("Open(old key) = %q, %v, %v; want 1, not current", got, current, err)
	}
	if got, current, err := after.Open("k", "f", after.Seal("k", "f", []byte(`2`))); err != nil || !current || string(got) != `2` {
		t.Fatalf("Open(current key) = %q, %v, %v", got, current, err)
	}
	migrating, _ := NewSealer(cur, nil, true)
	if got, current, err := migrating.Open("k", "f", []byte(`"plain"`)); err != nil || current || string(got) != `"plain"` {
		t.Fatalf("Open(plaintext, migrating) = %q, %v, %v", got, current, err)
	}
}

func TestParseSealKey(t *testing.T) {
	k := newKey(t)
	for _, s := range []string{
		hex.EncodeToString(k),
		base64.StdEncoding.EncodeToString(k) + "\n",
		base64.RawURLEncoding.EncodeToString(k),
	} {
		got, err := ParseSealKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseSealKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "short", strings.Repeat("a", 32), base64.StdEncoding.EncodeToString(k[:16]), hex.EncodeToString(k[:31])} {
		if _, err := ParseSealKey(s); err == nil {
			t.Errorf("ParseSealKey(%q) accepted", s)
		} else if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("ParseSealKey error %q holds the key", err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	s, _ := NewSealer(newKey(b), nil, false)
	for _, n := range []int{100, 4096} {
		plain := bytes.Repeat([]byte("x"), n)
		b.Run(map[int]string{100: "100B", 4096: "4KiB"}[n], func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				_, _, _ = s.Open("key", WholeSession, s.Seal("key", WholeSession, plain))
			}
		})
	}
}
