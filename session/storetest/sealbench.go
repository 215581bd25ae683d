package storetest

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// BenchSessions are the sessions BenchmarkSealed reads and writes: about
// 100 bytes (a logged-in user with a cart) and 4 KiB (the same with a
// large value), as session.Size counts them.
func BenchSessions() map[string]session.Data {
	small := session.Data{
		"_auth_user_id": []byte(`"42"`),
		"email":         []byte(`"ada@example.org"`),
		"cart":          []byte(`[3,14,15]`),
		"n":             []byte(`7`),
	}
	large := session.Data{}
	for k, v := range small {
		large[k] = v
	}
	large["prefs"] = []byte(`"` + strings.Repeat("x", 4096-session.Size(small)-len(`,"prefs":""`)) + `"`)
	return map[string]session.Data{"100B": small, "4KiB": large}
}

// BenchmarkSealed measures a store's Load (a request that reads its
// session), Incr (one that increments a counter) and Save (one that sets
// one field) with and without
// encryption, on the sessions of BenchSessions, in the same run. open
// returns a view of one store sealing with sealer (nil: none).
func BenchmarkSealed(b *testing.B, open func(b *testing.B, sealer *session.Sealer) session.Store) {
	sealer, err := session.NewSealer(NewSealKey(), nil, false)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []string{"100B", "4KiB"} {
		data := BenchSessions()[size]
		for _, enc := range []struct {
			name   string
			sealer *session.Sealer
		}{{"Plain", nil}, {"Encrypted", sealer}} {
			s := open(b, enc.sealer)
			key := session.NewKey()
			if _, err := s.Save(b.Context(), key, session.Change{Mode: session.ModeCreate, Set: data, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("Load/%s/%s", size, enc.name), func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					if _, ok, err := s.Load(b.Context(), key); !ok || err != nil {
						b.Fatalf("Load = %v, %v", ok, err)
					}
				}
			})
			b.Run(fmt.Sprintf("Incr/%s/%s", size, enc.name), func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					c := session.Change{Mode: session.ModeUpdate, Incr: map[string]int64{"n": 1}}
					if _, err := s.Save(b.Context(), key, c); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("Save/%s/%s", size, enc.name), func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b)()
				for i := 0; b.Loop(); i++ {
					c := session.Change{Mode: session.ModeUpdate, Set: session.Data{"n": []byte(fmt.Sprint(i))}}
					if _, err := s.Save(b.Context(), key, c); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// reportCPU starts counting this process's CPU time (user and system);
// the function it returns reports it per op as cpu-ns/op. A store over the
// network spends most of an op's wall time waiting for its server, so the
// cost encryption adds in the client shows in CPU time, not in ns/op.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// processCPU is the CPU time this process has used, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
