package session_test

import (
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// LoadAt and CommitAt decide at the caller's instant, with no clock of
// their own: a request that read the clock once (its load timer) judges
// its session, and the store its expiry, at that reading.
func TestLoadAtAndCommitAtUseTheCallersInstant(t *testing.T) {
	m, c := newManager(t, session.Config{Age: time.Hour})
	m.Now = func() time.Time { t.Fatal("the Manager read its clock"); return time.Time{} }
	t0 := c.t
	fresh, err := m.LoadAt(ctx, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.CommitAt(ctx, fresh, &session.Update{Set: data("a", "1")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.LoadAt(ctx, res.Key, t0.Add(time.Minute))
	if err != nil || s.IsNew() {
		t.Fatalf("LoadAt a minute on: %v, new %v", err, s.IsNew())
	}
	if got, want := s.ExpiresAt(), t0.Add(time.Hour); !got.Equal(want) {
		t.Errorf("expiry %v, want %v (CommitAt's instant plus the age)", got, want)
	}
	// Past the expiry at the caller's instant: the store's own check
	// (memstore's LoadAt) finds nothing either.
	if s, err := m.LoadAt(ctx, res.Key, t0.Add(2*time.Hour)); err != nil || !s.IsNew() {
		t.Errorf("LoadAt past the expiry: %v, new %v", err, s.IsNew())
	}
	if rec, ok, err := m.Store.(session.LoaderAt).LoadAt(ctx, res.Key, t0.Add(time.Hour)); err != nil || ok {
		t.Errorf("the store's LoadAt at the expiry: %v %v %v", rec, ok, err)
	}
}

// The Manager never copies what a LoaderAt store hands out, and the read
// path allocates the Session alone.
func TestLoadAllocatesOnlyTheSession(t *testing.T) {
	m, c := newManager(t, session.Config{MaxSize: 4096})
	key := seed(t, m, data("user", `"bob"`, "cart", `[1,2,3]`))
	now := c.t
	if n := testing.AllocsPerRun(100, func() {
		if s, err := m.LoadAt(ctx, key, now); err != nil || s.IsNew() {
			t.Fatal("not loaded", err)
		}
	}); n > 1 {
		t.Errorf("LoadAt allocates %v times; want 1 (the Session)", n)
	}
}

// BrowserClose, which the token asks on every request, reads no clock,
// and answers as before for every kind of expiry.
func TestBrowserCloseReadsNoClock(t *testing.T) {
	for _, tc := range []struct {
		cfg  session.Config
		d    session.Data
		want bool
	}{
		{session.Config{}, data("a", "1"), false},
		{session.Config{ExpireAtBrowserClose: true}, data("a", "1"), true},
		{session.Config{}, data(session.ExpiryKey, "0"), true},
		{session.Config{ExpireAtBrowserClose: true}, data(session.ExpiryKey, "60"), false},
		{session.Config{ExpireAtBrowserClose: true}, data(session.ExpiryKey, `"2030-01-02T03:04:05"`), false},
		{session.Config{ExpireAtBrowserClose: true}, data(session.ExpiryKey, `"garbage"`), true},
	} {
		m, _ := newManager(t, tc.cfg)
		m.Now = func() time.Time { t.Fatal("BrowserClose read the Manager's clock"); return time.Time{} }
		if got := m.BrowserClose(tc.d); got != tc.want {
			t.Errorf("%+v %s: BrowserClose %v, want %v", tc.cfg, tc.d[session.ExpiryKey], got, tc.want)
		}
	}
}
