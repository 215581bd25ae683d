package filestore_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/filestore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store { return open(t, privateDir(t)) })
}

func open(t *testing.T, dir string) *filestore.Store {
	t.Helper()
	s, err := filestore.New(dir)
	if err != nil {
		t.Fatalf("New(%q): %v", dir, err)
	}
	return s
}

// privateDir returns a new directory with mode 0700, as New demands of a
// directory that exists: t.TempDir's mode is 0777 less the umask.
func privateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func change(mode session.Mode, set session.Data, expiresAt time.Time) session.Change {
	return session.Change{Mode: mode, Set: set, ExpiresAt: expiresAt}
}

// Opening a store creates nothing (caddy validate opens it); the first
// write creates the directory, private.
func TestFirstWriteCreatesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "sessions")
	s := open(t, dir)
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after New, stat %s: %v; want it not to exist", dir, err)
	}
	if _, _, err := s.Load(t.Context(), session.NewKey()); err != nil {
		t.Fatalf("Load before any write: %v", err)
	}
	if n, err := s.Purge(time.Now()); n != 0 || err != nil {
		t.Fatalf("Purge before any write = %d, %v; want 0, nil", n, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after a read and a purge, stat %s: %v; want it not to exist", dir, err)
	}
	if _, err := s.Save(t.Context(), session.NewKey(), change(session.ModeCreate, session.Data{"a": []byte(`1`)}, time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v; want 0700", info.Mode().Perm())
	}
}

// An existing directory open to group or others is refused: its file names
// are session keys. New leaves its mode alone.
func TestNewRefusesLooseDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("mode bits do not describe access on Windows")
	}
	tests := []struct {
		name    string
		perm    os.FileMode
		wantErr bool
	}{
		{name: "0700", perm: 0o700},
		{name: "0755", perm: 0o755, wantErr: true},
		{name: "0750", perm: 0o750, wantErr: true},
		{name: "0707", perm: 0o707, wantErr: true},
		{name: "0710", perm: 0o710, wantErr: true},
		{name: "0701", perm: 0o701, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "sessions")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.perm); err != nil {
				t.Fatal(err)
			}
			_, err := filestore.New(dir)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("New(%s) with mode %04o: %v", dir, tt.perm, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New(%s) with mode %04o succeeded; want an error", dir, tt.perm)
			}
			for _, want := range []string{dir, fmt.Sprintf("mode %04o", tt.perm), "chmod 700 " + dir} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %v; want it to contain %q", err, want)
				}
			}
			info, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != tt.perm {
				t.Errorf("mode after New = %04o; want it left at %04o", info.Mode().Perm(), tt.perm)
			}
			if _, err := os.Stat(filepath.Join(dir, ".locks")); !os.IsNotExist(err) {
				t.Errorf("New created .locks in a directory it refused (stat: %v)", err)
			}
		})
	}
}

func TestFileFormat(t *testing.T) {
	dir := privateDir(t)
	s := open(t, dir)
	key := session.NewKey()
	expiresAt := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
	set := session.Data{"b": []byte(`{"x": [1, 2]}`), "a": []byte(`"<é>"`)}
	if _, err := s.Save(t.Context(), key, change(session.ModeCreate, set, expiresAt)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, key)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"expires_at":` + strconv.FormatInt(expiresAt.UnixMilli(), 10) + `,"data":{"a":"<é>","b":{"x": [1, 2]}}}` + "\n"
	if string(got) != want {
		t.Errorf("file = %s; want %s", got, want)
	}
	if info, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v; want 0600", info.Mode().Perm())
	}
	if _, err := s.Save(t.Context(), key, change(session.ModeUpdate, session.Data{"c": []byte(`not json`)}, expiresAt)); err == nil {
		t.Error("Save with a value that is not JSON succeeded")
	}
}

func TestReopen(t *testing.T) {
	dir := privateDir(t)
	key := session.NewKey()
	first := open(t, dir)
	if _, err := first.Save(t.Context(), key, change(session.ModeCreate, session.Data{"a": []byte(`1`)}, time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	second := open(t, dir)
	if _, err := second.Save(t.Context(), key, change(session.ModeUpdate, session.Data{"b": []byte(`2`)}, time.Now().Add(time.Hour))); err != nil {
		t.Fatalf("Save through a reopened store: %v", err)
	}
	for name, s := range map[string]*filestore.Store{"first": first, "second": second} {
		rec, ok, err := s.Load(t.Context(), key)
		if err != nil || !ok || len(rec.Data) != 2 {
			t.Errorf("%s store: Load = %v, %v, %v; want both fields", name, rec.Data, ok, err)
		}
	}
}

func TestTwoStoresOneDirectory(t *testing.T) {
	dir := privateDir(t)
	stores := []*filestore.Store{open(t, dir), open(t, dir)}
	key := session.NewKey()
	if _, err := stores[0].Save(t.Context(), key, change(session.ModeCreate, session.Data{"base": []byte(`0`)}, time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 32, 10
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			s := stores[i%2]
			for r := range rounds {
				set := session.Data{fmt.Sprintf("f%02d", i): []byte(strconv.Itoa(r))}
				if _, err := s.Save(t.Context(), key, change(session.ModeUpdate, set, time.Now().Add(time.Hour))); err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	assertFields(t, stores[1], key, "base", workers, rounds-1)
}

// assertFields checks that key holds base plus fields f00.. with value v.
func assertFields(t *testing.T, s session.Store, key, base string, n, v int) {
	t.Helper()
	rec, ok, err := s.Load(t.Context(), key)
	if err != nil || !ok {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	if _, ok := rec.Data[base]; !ok {
		t.Errorf("field %q lost", base)
	}
	for i := range n {
		name := fmt.Sprintf("f%02d", i)
		if got := string(rec.Data[name]); got != strconv.Itoa(v) {
			t.Errorf("field %s = %q; want %d", name, got, v)
		}
	}
	if len(rec.Data) != n+1 {
		t.Errorf("%d fields; want %d", len(rec.Data), n+1)
	}
}

func TestInvalidKeys(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "sessions")
	s := open(t, dir)
	// A well-formed session file outside the directory must stay out of reach.
	victim := []byte(`{"expires_at":` + strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10) + `,"data":{"a":1}}`)
	if err := os.WriteFile(filepath.Join(parent, "victim"), victim, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"",
		"../victim",
		"../../../../../../../../tmp/xxxx",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
		"abcdefghijklmnopqrstuvwxyz01234",
		"abcdefghijklmnopqrstuvwxyz0123456",
		"abcdefghijklmnopqrstuvwxyz01234/",
		"abcdefghijklmnopqrstuvwxyz0123\x00x",
		".locks",
	} {
		t.Run(strconv.Quote(key), func(t *testing.T) {
			if _, ok, err := s.Load(t.Context(), key); ok || err != nil {
				t.Errorf("Load = %v, %v; want not found, nil", ok, err)
			}
			for _, mode := range []session.Mode{session.ModeCreate, session.ModeUpdate, session.ModeReplace} {
				if _, err := s.Save(t.Context(), key, change(mode, session.Data{"a": []byte(`1`)}, time.Now().Add(time.Hour))); err == nil || errors.Is(err, session.ErrGone) {
					t.Errorf("Save(%s) error = %v; want an invalid key error", mode, err)
				}
			}
			if _, err := s.Delete(t.Context(), key); err != nil {
				t.Errorf("Delete = %v; want nil", err)
			}
		})
	}
	// Nothing was written: not even the directory, which the first write makes.
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat %s: %v; want it never created", dir, err)
	}
	if _, err := os.Stat(filepath.Join(parent, "victim")); err != nil {
		t.Errorf("file outside the directory: %v", err)
	}
}

func TestCorruptFile(t *testing.T) {
	hour := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	for name, content := range map[string]string{
		"Empty":           "",
		"Truncated":       `{"expires_at":` + hour + `,"data":{"a":1`,
		"Null":            "null",
		"Array":           "[1,2]",
		"NoExpiry":        `{"data":{"a":1}}`,
		"BadExpiry":       `{"expires_at":"soon","data":{"a":1}}`,
		"NoData":          `{"expires_at":` + hour + `}`,
		"EmptyData":       `{"expires_at":` + hour + `,"data":{}}`,
		"DataNotAnObject": `{"expires_at":` + hour + `,"data":[1]}`,
		"Binary":          "\x00\xff\xfe garbage",
	} {
		t.Run(name, func(t *testing.T) {
			dir := privateDir(t)
			s := open(t, dir)
			key := session.NewKey()
			path := filepath.Join(dir, key)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := s.Load(t.Context(), key); ok || err != nil {
				t.Fatalf("Load = %v, %v; want not found, nil", ok, err)
			}
			if _, err := s.Save(t.Context(), key, change(session.ModeUpdate, session.Data{"b": []byte(`2`)}, time.Now().Add(time.Hour))); !errors.Is(err, session.ErrGone) {
				t.Fatalf("Save(update) error = %v; want ErrGone", err)
			}
			if n, err := s.Purge(time.Now()); n != 1 || err != nil {
				t.Fatalf("Purge = %d, %v; want 1, nil", n, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("corrupt file still there after Purge: %v", err)
			}
			// ModeCreate may take the key over as well.
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Save(t.Context(), key, change(session.ModeCreate, session.Data{"b": []byte(`2`)}, time.Now().Add(time.Hour))); err != nil {
				t.Fatalf("Save(create) over a corrupt file: %v", err)
			}
			if rec, ok, err := s.Load(t.Context(), key); !ok || err != nil || string(rec.Data["b"]) != "2" {
				t.Fatalf("Load = %v, %v, %v; want the new session", rec.Data, ok, err)
			}
		})
	}
}

func TestPurge(t *testing.T) {
	dir := privateDir(t)
	s := open(t, dir)
	ctx := t.Context()
	now := time.Now()
	live, short := session.NewKey(), session.NewKey()
	for key, age := range map[string]time.Duration{live: time.Hour, short: time.Minute} {
		if _, err := s.Save(ctx, key, change(session.ModeCreate, session.Data{"a": []byte(`1`)}, now.Add(age))); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, mtime time.Time) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write(".tmp-stale", now.Add(-2*time.Minute))
	write(".tmp-fresh", now)
	write("README", now.Add(-time.Hour)) // not ours: left alone
	corrupt := session.NewKey()
	write(corrupt, now)

	if n, err := s.Purge(now); n != 1 || err != nil {
		t.Fatalf("Purge(now) = %d, %v; want 1 (the corrupt file), nil", n, err)
	}
	want := []string{".locks", ".tmp-fresh", "README", live, short}
	slices.Sort(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after Purge(now): %q; want %q", got, want)
	}

	if n, err := s.Purge(now.Add(2 * time.Minute)); n != 1 || err != nil {
		t.Fatalf("Purge(now+2m) = %d, %v; want 1, nil", n, err)
	}
	want = []string{".locks", "README", live}
	slices.Sort(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after Purge(now+2m): %q; want %q", got, want)
	}
	if _, ok, err := s.Load(ctx, live); !ok || err != nil {
		t.Fatalf("live session: Load = %v, %v", ok, err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// An unusable directory is an error (the caller answers 503), and the error
// never names the session key: it ends up in logs.
func TestErrorsHideTheKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sessions")
	s := open(t, dir)
	key := session.NewKey()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil { // a file where the directory was
		t.Fatal(err)
	}
	_, _, loadErr := s.Load(t.Context(), key)
	_, saveErr := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte("1")}, ExpiresAt: time.Now().Add(time.Hour)})
	for name, err := range map[string]error{"Load": loadErr, "Save": saveErr} {
		if err == nil {
			t.Errorf("%s on an unusable directory succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("%s error names the session key: %v", name, err)
		}
	}
}
