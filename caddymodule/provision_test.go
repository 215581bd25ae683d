package caddymodule

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// provisionCtx is a Caddy context for provisioning modules in process; the
// modules it loads are cleaned up when the test ends.
func provisionCtx(t *testing.T) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

// dirWithMode returns a new directory with mode perm.
func dirWithMode(t *testing.T, perm os.FileMode) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sessions")
	if err := os.Mkdir(dir, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return dir
}

// Secrets, credentials and paths are expanded strictly at provision: an
// unknown or empty placeholder is an error that names the option, never a
// literal secret or a silent default.
func TestProvisionHandler(t *testing.T) {
	t.Setenv("CADDY_SESSION_TEST_SECRET", goodSecret)
	t.Setenv("CADDY_SESSION_TEST_UNSET", "")
	os.Unsetenv("CADDY_SESSION_TEST_UNSET") // restored by t.Setenv's cleanup

	memory := json.RawMessage(`{"backend":"memory"}`)
	tests := []struct {
		name      string
		handler   Handler
		wantErr   string // "" when provisioning must succeed
		hideInErr string // the error must not show this
	}{
		{name: "secret from env", handler: Handler{Secret: "{env.CADDY_SESSION_TEST_SECRET}", StoreRaw: memory}},
		{name: "literal secret", handler: Handler{Secret: goodSecret, StoreRaw: memory}},
		{name: "escaped brace", handler: Handler{Secret: `\{` + goodSecret, StoreRaw: memory}},
		{
			name:    "placeholder typo in secret",
			handler: Handler{Secret: "{envCADDY_SESSION_TEST_SECRET}", StoreRaw: memory},
			wantErr: "secret: unrecognized placeholder",
		},
		{
			name:      "literal secret with braces",
			handler:   Handler{Secret: "0123456789{abcdefSECRETPART}0123456789abcdef", StoreRaw: memory},
			wantErr:   "secret: unrecognized placeholder",
			hideInErr: "SECRETPART",
		},
		{
			name:    "samesite none without secure",
			handler: Handler{Secret: goodSecret, StoreRaw: memory, CookieSameSite: "none", CookieSecure: "off"},
			wantErr: "cookie_samesite none with cookie_secure off",
		},
		{name: "samesite none with secure", handler: Handler{Secret: goodSecret, StoreRaw: memory, CookieSameSite: "none", CookieSecure: "on"}},
		{
			name:    "unset env secret",
			handler: Handler{Secret: "{env.CADDY_SESSION_TEST_UNSET}", StoreRaw: memory},
			wantErr: "secret: evaluated placeholder {env.CADDY_SESSION_TEST_UNSET} is empty",
		},
		{
			name:    "unset env inside a secret",
			handler: Handler{Secret: goodSecret + "{env.CADDY_SESSION_TEST_UNSET}", StoreRaw: memory},
			wantErr: "secret: evaluated placeholder {env.CADDY_SESSION_TEST_UNSET} is empty",
		},
		{
			name:    "missing secret file",
			handler: Handler{Secret: "{file." + filepath.Join(t.TempDir(), "none") + "}", StoreRaw: memory},
			wantErr: "secret: evaluated placeholder {file.",
		},
		{name: "no secret", handler: Handler{StoreRaw: memory}, wantErr: "secret: required"},
		{
			name:    "unset env fallback",
			handler: Handler{Secret: goodSecret, SecretFallbacks: []string{goodSecret, "{env.CADDY_SESSION_TEST_UNSET}"}, StoreRaw: memory},
			wantErr: "secret_fallbacks[1]: evaluated placeholder {env.CADDY_SESSION_TEST_UNSET} is empty",
		},
		{
			name:    "placeholder typo in fallback",
			handler: Handler{Secret: goodSecret, SecretFallbacks: []string{"{envOLD}"}, StoreRaw: memory},
			wantErr: "secret_fallbacks[0]: unrecognized placeholder",
		},
		{
			name:    "db on a cluster",
			handler: Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"redis","addresses":["127.0.0.1:1","127.0.0.1:2"],"db":2}`)},
			wantErr: "store redis: db 2: a Redis Cluster",
		},
		{
			name:    "loose session directory",
			handler: Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"file","dir":` + jsonString(dirWithMode(t, 0o755)) + `}`)},
			wantErr: "store file: session directory ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			checkProvision(t, h.Provision(provisionCtx(t)), tt.wantErr, tt.hideInErr)
		})
	}
}

func TestProvisionFileStore(t *testing.T) {
	t.Setenv("CADDY_SESSION_TEST_UNSET", "")
	os.Unsetenv("CADDY_SESSION_TEST_UNSET")
	private := dirWithMode(t, 0o700)
	t.Setenv("CADDY_SESSION_TEST_DIR", private)

	tests := []struct {
		name    string
		dir     string
		wantErr []string // all of these; none when provisioning must succeed
	}{
		{name: "private directory", dir: private},
		{name: "directory from env", dir: "{env.CADDY_SESSION_TEST_DIR}"},
		{name: "new directory", dir: filepath.Join(t.TempDir(), "a", "b")},
		{name: "unset env", dir: "{env.CADDY_SESSION_TEST_UNSET}", wantErr: []string{"store file: dir: evaluated placeholder {env.CADDY_SESSION_TEST_UNSET} is empty"}},
		{name: "unset env in a path", dir: "/var/lib/{env.CADDY_SESSION_TEST_UNSET}/sessions", wantErr: []string{"store file: dir: evaluated placeholder"}},
		{name: "placeholder typo", dir: "{envCADDY_SESSION_TEST_DIR}", wantErr: []string{"store file: dir: unrecognized placeholder {envCADDY_SESSION_TEST_DIR}"}},
		{name: "mode 0755", dir: dirWithMode(t, 0o755), wantErr: []string{"store file: session directory ", "mode 0755", "chmod 700 "}},
		{name: "mode 0750", dir: dirWithMode(t, 0o750), wantErr: []string{"store file: session directory ", "mode 0750"}},
		{name: "mode 0701", dir: dirWithMode(t, 0o701), wantErr: []string{"store file: session directory ", "mode 0701"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &FileStore{Dir: tt.dir}
			err := f.Provision(provisionCtx(t))
			if err == nil {
				t.Cleanup(func() { _ = f.Cleanup() })
				_, err = f.OpenStore(StoreOptions{}) // the directory is opened for the handler
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Provision: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Provision succeeded; want an error containing %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("Provision error = %v; want one containing %q", err, want)
				}
			}
			if strings.Contains(tt.wantErr[0], "session directory") && !strings.Contains(err.Error(), tt.dir) {
				t.Fatalf("Provision error = %v; want it to name the directory %s", err, tt.dir)
			}
		})
	}
}

func TestProvisionRedisStore(t *testing.T) {
	t.Setenv("CADDY_SESSION_TEST_UNSET", "")
	os.Unsetenv("CADDY_SESSION_TEST_UNSET")
	t.Setenv("CADDY_SESSION_TEST_REDIS_PASSWORD", "hunter2")

	tests := []struct {
		name      string
		store     RedisStore
		wantErr   string // "" when provisioning must succeed
		hideInErr string
	}{
		{name: "single node", store: RedisStore{RedisConn: RedisConn{Addresses: []string{"127.0.0.1:1"}, Password: "{env.CADDY_SESSION_TEST_REDIS_PASSWORD}", DB: 3}}},
		{name: "sentinel with db", store: RedisStore{RedisConn: RedisConn{Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}, MasterName: "m", DB: 3}}},
		{name: "cluster", store: RedisStore{RedisConn: RedisConn{Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}}}},
		{
			name:    "unset password",
			store:   RedisStore{RedisConn: RedisConn{Password: "{env.CADDY_SESSION_TEST_UNSET}"}},
			wantErr: "store redis: password: evaluated placeholder {env.CADDY_SESSION_TEST_UNSET} is empty",
		},
		{
			name:      "password placeholder typo",
			store:     RedisStore{RedisConn: RedisConn{Password: "pre{envCADDY_SESSION_TEST_REDIS_PASSWORD}"}},
			wantErr:   "store redis: password: unrecognized placeholder",
			hideInErr: "envCADDY",
		},
		{
			name:    "unset username",
			store:   RedisStore{RedisConn: RedisConn{Username: "{env.CADDY_SESSION_TEST_UNSET}"}},
			wantErr: "store redis: username: evaluated placeholder {env.CADDY_SESSION_TEST_UNSET} is empty",
		},
		{
			name:    "unset address",
			store:   RedisStore{RedisConn: RedisConn{Addresses: []string{"127.0.0.1:1", "{env.CADDY_SESSION_TEST_UNSET}:6379"}}},
			wantErr: "store redis: address: evaluated placeholder {env.CADDY_SESSION_TEST_UNSET} is empty",
		},
		{
			name:    "address placeholder typo",
			store:   RedisStore{RedisConn: RedisConn{Addresses: []string{"{envREDIS_HOST}:6379"}}},
			wantErr: "store redis: address: unrecognized placeholder {envREDIS_HOST}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := tt.store
			err := rs.Provision(provisionCtx(t))
			if err == nil {
				t.Cleanup(func() { _ = rs.Cleanup() })
				err = rs.Validate()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Provision, Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v; want one containing %q", err, tt.wantErr)
			}
			if tt.hideInErr != "" && strings.Contains(err.Error(), tt.hideInErr) {
				t.Fatalf("error = %v; it shows %q", err, tt.hideInErr)
			}
		})
	}
}

// Validate refuses options that cannot apply, naming them.
func TestRedisStoreValidate(t *testing.T) {
	two := []string{"127.0.0.1:1", "127.0.0.1:2"}
	tests := []struct {
		name    string
		store   RedisStore
		wantErr string // "" when valid
	}{
		{name: "defaults", store: RedisStore{}},
		{name: "db on a single node", store: RedisStore{RedisConn: RedisConn{Addresses: two[:1], DB: 5}}},
		{name: "db on sentinels", store: RedisStore{RedisConn: RedisConn{Addresses: two, MasterName: "m", DB: 5}}},
		{name: "cluster with db 0", store: RedisStore{RedisConn: RedisConn{Addresses: two, PoolSize: 20, Username: "u", Password: "p"}}},
		{name: "db on a cluster", store: RedisStore{RedisConn: RedisConn{Addresses: two, DB: 5}}, wantErr: "store redis: db 5: a Redis Cluster"},
		{name: "negative db", store: RedisStore{RedisConn: RedisConn{DB: -1}}, wantErr: "store redis: db: must not be negative"},
		{name: "sentinel without addresses", store: RedisStore{RedisConn: RedisConn{MasterName: "m"}}, wantErr: "store redis: master_name: needs the sentinels' addresses"},
		{name: "empty address", store: RedisStore{RedisConn: RedisConn{Addresses: []string{""}}}, wantErr: "store redis: address: must not be empty"},
		{name: "negative pool_size", store: RedisStore{RedisConn: RedisConn{PoolSize: -1}}, wantErr: "store redis: pool_size: must not be negative"},
		{name: "negative dial_timeout", store: RedisStore{RedisConn: RedisConn{DialTimeout: -1}}, wantErr: "store redis: dial_timeout: must not be negative"},
		{name: "negative timeout", store: RedisStore{RedisConn: RedisConn{Timeout: -1}}, wantErr: "store redis: timeout: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.store.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate error = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// checkProvision holds Provision's error err to wantErr ("": none; else a
// part of the message) and checks that it does not show hideInErr (a
// secret or a key).
func checkProvision(t *testing.T, err error, wantErr, hideInErr string) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("Provision: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("Provision error = %v; want one containing %q", err, wantErr)
	}
	if hideInErr != "" && strings.Contains(err.Error(), hideInErr) {
		t.Fatalf("Provision error = %v; it shows %q", err, hideInErr)
	}
}
