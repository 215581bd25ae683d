package session_test

// Fuzz targets for what the session model reads from outside: the cookie
// value and the expiry times stored in a session. scripts/fuzz.sh fuzzes
// each one; their seeds also run with the unit tests.

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/memstore"
)

// refKey is the contract's session key.
var refKey = regexp.MustCompile(`^[a-z0-9]{32}$`)

// FuzzValidKey checks session.ValidKey against the contract's form of a
// key.
func FuzzValidKey(f *testing.F) {
	for _, s := range []string{
		"", "abcdefghijklmnopqrstuvwxyz012345", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
		"abcdefghijklmnopqrstuvwxyz01234", "abcdefghijklmnopqrstuvwxyz0123456",
		"abcdefghijklmnopqrstuvwxyz01234\n", "abcdefghijklmnopqrstuvwxyz01234-",
		"abcdefghijklmnopqrstuvwxyz0123é", "abcdefghijklmnopqrstuvwxyz01234\xff",
		"../../../../etc/passwd0123456789", "abcdefghijklmnopqrstuvwxyz01234\x00",
		session.NewKey(),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := session.ValidKey(s), refKey.MatchString(s); got != want {
			t.Fatalf("ValidKey(%q) = %v, want %v", s, got, want)
		}
	})
}

// The sessions FuzzLoad's store holds: one live, one expired.
const (
	liveKey    = "livekey0000000000000000000000000"
	expiredKey = "expiredkey0000000000000000000000"
)

// FuzzLoad checks Manager.Load with any cookie value against a memory
// store: it never fails (a malformed or unknown cookie is no session, not
// an error), it adopts a key only when the cookie is exactly a stored,
// live session's key, and it writes nothing.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"", liveKey, expiredKey, strings.ToUpper(liveKey), " " + liveKey, liveKey + " ",
		liveKey + "\x00", liveKey[:31], liveKey + "0", "unknownkey000000000000000000000a",
		`"` + liveKey + `"`, "livekey0000000000000000000000000; sessionid=x", "\xff",
	} {
		f.Add(s)
	}
	ctx := context.Background()
	store := memstore.New()
	now := time.Now()
	data := session.Data{"user": json.RawMessage(`"ann"`)}
	// The store, on the real clock, keeps both for as long as anyone
	// fuzzes; the manager's clock, 100 days ahead, finds the second one
	// expired.
	const day = 24 * time.Hour
	for key, expires := range map[string]time.Time{liveKey: now.Add(1000 * day), expiredKey: now.Add(50 * day)} {
		if _, err := store.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: data, ExpiresAt: expires}); err != nil {
			f.Fatal(err)
		}
	}
	m := &session.Manager{Store: store, Config: session.Config{Age: time.Hour}, Now: func() time.Time { return now.Add(100 * day) }}
	f.Fuzz(func(t *testing.T, cookie string) {
		s, err := m.Load(ctx, cookie)
		if err != nil {
			t.Fatalf("Load(%q) failed: %v", cookie, err)
		}
		if s == nil {
			t.Fatalf("Load(%q) returned no session", cookie)
		}
		if s.CookieKey != cookie {
			t.Fatalf("Load(%q).CookieKey = %q", cookie, s.CookieKey)
		}
		wantKey := ""
		if cookie == liveKey {
			wantKey = cookie
		}
		if s.Key() != wantKey || s.IsNew() != (wantKey == "") {
			t.Fatalf("Load(%q) adopted key %q (new %v), want %q", cookie, s.Key(), s.IsNew(), wantKey)
		}
		if wantKey == "" && len(s.Data()) != 0 {
			t.Fatalf("Load(%q) gave data %v without a session", cookie, s.Data())
		}
		if wantKey != "" && string(s.Data()["user"]) != `"ann"` {
			t.Fatalf("Load(%q) gave data %v, want the stored session", cookie, s.Data())
		}
		// Loading writes nothing: the store still holds both sessions
		// and nothing else under the cookie.
		for _, k := range []string{liveKey, expiredKey} {
			if _, ok, err := store.Load(ctx, k); !ok || err != nil {
				t.Fatalf("after Load(%q) the stored session %q is gone (%v)", cookie, k, err)
			}
		}
		if cookie != liveKey && cookie != expiredKey {
			if _, ok, _ := store.Load(ctx, cookie); ok {
				t.Fatalf("Load(%q) stored a session under the cookie", cookie)
			}
		}
	})
}

// FuzzParseTime checks that ParseTime never panics, and that any time it
// reads is written by FormatTime as text that reads back as the same
// instant, to the microsecond that Python's isoformat and Django keep.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2030-01-02T03:04:05Z", "2030-01-02T03:04:05+02:00", "2030-01-02T03:04:05.123456-07:30",
		"2030-01-02T03:04:05.123456789Z", "2030-01-02T03:04:05", "2030-01-02T03:04:05.5",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999-23:59", "0001-01-01T00:00:00Z",
		"2030-01-02 03:04:05", "2030-02-30T00:00:00Z", "2030-01-02T03:04:05+24:00", "",
		"2030-01-02T03:04:05.Z", "\xff", "1e9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := session.ParseTime(s)
		if err != nil {
			return
		}
		checkRoundTrip(t, tm)
	})
}

// FuzzFormatTime checks that every time FormatTime writes reads back with
// ParseTime as the same instant, to the microsecond. The times are those
// a session can hold: years 0 to 9999, UTC offsets in whole minutes (as
// RFC 3339 and isoformat write them) below a day.
func FuzzFormatTime(f *testing.F) {
	f.Add(int64(1893553445), uint32(0), int16(0))
	f.Add(int64(1893553445), uint32(123456789), int16(-450))
	f.Add(int64(1893553445), uint32(999), int16(1439))
	f.Add(int64(-62167219200), uint32(0), int16(0))             // 0000-01-01
	f.Add(int64(253402300799), uint32(999999999), int16(-1439)) // 9999-12-31
	f.Add(int64(0), uint32(1000), int16(60))
	f.Fuzz(func(t *testing.T, sec int64, nsec uint32, offsetMinutes int16) {
		if offsetMinutes <= -24*60 || offsetMinutes >= 24*60 {
			return
		}
		tm := time.Unix(sec, int64(nsec%1e9)).In(time.FixedZone("", int(offsetMinutes)*60))
		if y := tm.Year(); y < 0 || y > 9999 {
			return
		}
		checkRoundTrip(t, tm)
	})
}

func checkRoundTrip(t *testing.T, tm time.Time) {
	t.Helper()
	s := session.FormatTime(tm)
	back, err := session.ParseTime(s)
	if err != nil {
		t.Fatalf("FormatTime(%v) = %q, which ParseTime refuses: %v", tm, s, err)
	}
	if want := tm.Truncate(time.Microsecond); !back.Equal(want) {
		t.Fatalf("FormatTime(%v) = %q reads back as %v, want %v", tm, s, back, want)
	}
	if again := session.FormatTime(back); again != s {
		t.Fatalf("FormatTime(%v) = %q, then %q after a round trip", tm, s, again)
	}
}
