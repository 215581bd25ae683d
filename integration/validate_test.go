package integration

// Checking a config touches nothing: `caddy validate` and `caddy adapt
// --validate` provision every module, the file store included, but a
// session directory that does not exist yet is made by the first write of
// `caddy run`, not by a check (which may run as another user, on a build
// machine, or against a config that is never deployed).

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateCreatesNoDirectory(t *testing.T) {
	const secret = "secret {env.SESSION_SECRET}"
	commands := []struct {
		name string
		args []string
		want string
	}{
		{name: "validate", args: []string{"validate"}, want: "Valid configuration"},
		{name: "adapt --validate", args: []string{"adapt", "--validate"}, want: `"handler":"session"`},
	}
	stores := []struct {
		name  string
		lines func(dir string) []string
		dir   func(dir, data string) string // the directory the store would use
	}{
		{
			name:  "store file <dir>",
			lines: func(dir string) []string { return []string{secret, "store file " + dir} },
			dir:   func(dir, _ string) string { return dir },
		},
		{
			name:  "default store",
			lines: func(string) []string { return []string{secret} },
			dir:   func(_, data string) string { return filepath.Join(data, "caddy", "sessions") },
		},
		{
			name: "Django's file layout",
			lines: func(dir string) []string {
				return []string{secret, "codec django", "django_secret_key {env.DJANGO_SECRET_KEY}", "store file " + dir}
			},
			dir: func(dir, _ string) string { return dir },
		},
	}
	for _, st := range stores {
		for _, cmd := range commands {
			t.Run(st.name+"/"+cmd.name, func(t *testing.T) {
				// Two levels that do not exist: a check must not make either.
				parent := filepath.Join(t.TempDir(), "srv")
				data := filepath.Join(t.TempDir(), "data")
				dir := st.dir(filepath.Join(parent, "sessions"), data)
				path := ctCaddyfile(t, st.lines(filepath.Join(parent, "sessions"))...)
				env := append(ctCaddyEnv(t), "XDG_DATA_HOME="+data, "DJANGO_SECRET_KEY="+djSecretKey)
				args := append(append([]string{}, cmd.args...), "--config", path, "--adapter", "caddyfile")
				out, err := runCaddy(t, filepath.Dir(path), env, args...)
				if err != nil || !strings.Contains(out, cmd.want) {
					t.Fatalf("caddy %s: %v; want success:\n%s", cmd.name, err, out)
				}
				for _, d := range []string{dir, parent} {
					if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("after caddy %s, stat %s: %v; want it not to exist", cmd.name, d, err)
					}
				}
			})
		}
	}
}
