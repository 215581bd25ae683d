package integration

// Strict configuration, end to end: what would silently mean something else
// (a placeholder typo, an unset variable, a repeated subdirective, options
// that cannot apply together, a session directory other users can list) is
// refused by the real caddy binary with a message naming the subdirective.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// strictUnset names an environment variable that is empty for every caddy
// command these tests run.
const strictUnset = "CT_STRICT_UNSET"

// strictDir returns a new directory with mode perm.
func strictDir(t *testing.T, perm os.FileMode) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sessions")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestConfigStrictAdapt: `caddy adapt` refuses what can be known without
// the environment Caddy will run in.
func TestConfigStrictAdapt(t *testing.T) {
	const secret = "secret {env.SESSION_SECRET}"
	cases := []struct {
		name  string
		lines []string
		want  []string // nil for a config that must adapt
	}{
		{name: "valid (control)", lines: []string{secret, "store memory", "secret_fallbacks {env.OLD}", "secret_fallbacks {env.OLDER}"}},
		{name: "unset variable adapts", lines: []string{"secret {env." + strictUnset + "}", "store memory"}},
		{name: "secret twice", lines: []string{secret, "store memory", secret}, want: []string{"secret: already specified", "Caddyfile:"}},
		{name: "store twice", lines: []string{secret, "store memory", "store file"}, want: []string{"store: already specified"}},
		{
			name:  "placeholder typo in secret",
			lines: []string{"secret {envSESSION_SECRET_FOR_PRODUCTION}", "store memory"},
			want:  []string{"secret: unrecognized placeholder"},
		},
		{
			name:  "placeholder typo in dir",
			lines: []string{secret, "store file {envSESSION_DIR}"},
			want:  []string{"store file: dir: unrecognized placeholder {envSESSION_DIR}"},
		},
		{
			name:  "db on a cluster",
			lines: []string{secret, "store redis {\n\taddress 127.0.0.1:1 127.0.0.1:2\n\tdb 2\n}"},
			want:  []string{"store redis: db 2: a Redis Cluster"},
		},
		{name: "max_session_size zero", lines: []string{secret, "store memory", "max_session_size 0"}, want: []string{"max_session_size: bad size"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ctCaddyfile(t, tc.lines...)
			out, err := runCaddy(t, filepath.Dir(path), ctCaddyEnv(t, strictUnset+"="), "adapt", "--config", path, "--adapter", "caddyfile")
			if tc.want == nil {
				if err != nil || !strings.Contains(out, `"handler":"session"`) {
					t.Fatalf("a valid config did not adapt: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("adapted; want an error containing %q:\n%s", tc.want, out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Fatalf("the error does not contain %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestConfigStrictValidate: `caddy validate`, which provisions the config
// as `caddy run` does, refuses what only the running environment shows.
func TestConfigStrictValidate(t *testing.T) {
	const secret = "secret {env.SESSION_SECRET}"
	loose := strictDir(t, 0o755)
	private := strictDir(t, 0o700)
	cases := []struct {
		name  string
		lines []string
		want  []string // nil for a config that must validate
	}{
		{name: "private directory (control)", lines: []string{secret, "store file " + private}},
		{
			name:  "unset variable as secret",
			lines: []string{"secret {env." + strictUnset + "}", "store memory"},
			want:  []string{"secret: evaluated placeholder {env." + strictUnset + "} is empty"},
		},
		{
			name:  "unset variable as directory",
			lines: []string{secret, "store file {env." + strictUnset + "}"},
			want:  []string{"store file: dir: evaluated placeholder {env." + strictUnset + "} is empty"},
		},
		{
			name:  "directory open to others",
			lines: []string{secret, "store file " + loose},
			want:  []string{"store file: session directory " + loose + " is open to other users (mode 0755)", "chmod 700 " + loose},
		},
		{
			name:  "unset variable as redis password",
			lines: []string{secret, "store redis {\n\taddress 127.0.0.1:1\n\tpassword {env." + strictUnset + "}\n}"},
			want:  []string{"store redis: password: evaluated placeholder {env." + strictUnset + "} is empty"},
		},
		{
			name:  "db on a cluster",
			lines: []string{secret, "store redis {\n\taddress 127.0.0.1:1 127.0.0.1:2\n\tdb 2\n}"},
			want:  []string{"store redis: db 2: a Redis Cluster"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ctCaddyfile(t, tc.lines...)
			out, err := runCaddy(t, filepath.Dir(path), ctCaddyEnv(t, strictUnset+"="), "validate", "--config", path, "--adapter", "caddyfile")
			if tc.want == nil {
				if err != nil || !strings.Contains(out, "Valid configuration") {
					t.Fatalf("a valid config did not validate: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("validated; want an error containing %q:\n%s", tc.want, out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Fatalf("the error does not contain %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestConfigStrictJSON: a native JSON config, which no Caddyfile check
// sees, is refused at provision by the store's Validate.
func TestConfigStrictJSON(t *testing.T) {
	config := `{"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[{
		"handler":"session","secret":"{env.SESSION_SECRET}",
		"store":{"backend":"redis","addresses":["127.0.0.1:1","127.0.0.1:2"],"db":2}
	}]}]}}}}}`
	dir := t.TempDir()
	path := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCaddy(t, dir, ctCaddyEnv(t), "validate", "--config", path)
	if err == nil || !strings.Contains(out, "store redis: db 2: a Redis Cluster") {
		t.Fatalf("caddy validate: err %v; want an error naming db:\n%s", err, out)
	}
}
