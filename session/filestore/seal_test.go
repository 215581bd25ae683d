package filestore_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func TestSealed(t *testing.T) {
	dir := privateDir(t)
	base := open(t, dir)
	file := func(key string) string { return filepath.Join(dir, key) }
	storetest.RunSealed(t, storetest.SealedStore{
		Open: func(t *testing.T, sealer *session.Sealer) session.Store { return base.WithSealer(sealer) },
		Dump: func(t *testing.T) []byte {
			var b bytes.Buffer
			err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b.WriteString(path + "\n")
				c, err := os.ReadFile(path)
				b.Write(c)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		},
		Raw: func(t *testing.T, key string) []byte {
			var f map[string]json.RawMessage
			b, err := os.ReadFile(file(key))
			if err == nil {
				err = json.Unmarshal(b, &f)
			}
			if err != nil {
				t.Fatal(err)
			}
			return f["data"]
		},
		SetRaw: func(t *testing.T, key string, data []byte) {
			var f map[string]json.RawMessage
			b, err := os.ReadFile(file(key))
			if err == nil {
				err = json.Unmarshal(b, &f)
			}
			if err != nil {
				t.Fatal(err)
			}
			f["data"] = data
			if b, err = json.Marshal(f); err == nil {
				err = os.WriteFile(file(key), b, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
		},
	})
}

// TestPurgeKeepsSealed: the purge, which runs without a key, removes an
// expired sealed session and keeps a live one.
func TestPurgeKeepsSealed(t *testing.T) {
	base := open(t, privateDir(t))
	s := base.WithSealer(storetest.NewSealer(t, nil))
	live, expired := session.NewKey(), session.NewKey()
	now := time.Now()
	for key, exp := range map[string]time.Time{live: now.Add(time.Hour), expired: now.Add(time.Minute)} {
		if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := base.Purge(now.Add(2 * time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1 removed", n, err)
	}
	if _, ok, err := s.Load(t.Context(), live); !ok || err != nil {
		t.Fatalf("the live sealed session is gone after a purge: %v, %v", ok, err)
	}
}

// TestSealedUserIndex: the index, eviction and revocation keep working on
// sealed session files.
func TestSealedUserIndex(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	sealer := storetest.NewSealer(t, nil)
	storetest.RunUserIndex(t, func(t *testing.T) session.UserIndexer {
		ix, err := open(t, dir).WithSealer(sealer).WithUserIndex(storetest.UserField)
		if err != nil {
			t.Fatal(err)
		}
		return ix
	})
}
