package caddymodule

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/dbstore"
	"github.com/caddy-session/caddy-session/session/django"
)

// `store db` in the Caddyfile becomes the JSON store object, and that JSON
// unmarshals into the same module and back.
func TestDBStoreCaddyfile(t *testing.T) {
	tests := []struct {
		name, input, want, wantErr, notErr string
	}{
		{name: "postgres", input: `store db { dsn postgres://app@127.0.0.1/app }`, want: `{"backend":"db","dsn":"postgres://app@127.0.0.1/app"}`},
		{name: "sqlite with table", input: `store db { dsn /var/lib/caddy/sessions.sqlite3; table my_sessions }`, want: `{"backend":"db","dsn":"/var/lib/caddy/sessions.sqlite3","table":"my_sessions"}`},
		{name: "placeholder", input: `store db { dsn {env.DATABASE_URL}; table app.django_session }`, want: `{"backend":"db","dsn":"{env.DATABASE_URL}","table":"app.django_session"}`},
		{name: "mysql", input: `store db { dsn "mysql://app:pw@tcp(127.0.0.1:3306)/app" }`, want: `{"backend":"db","dsn":"mysql://app:pw@tcp(127.0.0.1:3306)/app"}`},

		{name: "no dsn", input: `store db { table x }`, wantErr: "store db: dsn: required"},
		{name: "empty block", input: `store db`, wantErr: "store db: dsn: required"},
		{name: "argument", input: `store db /tmp/x.sqlite3`, wantErr: "store db: takes a block"},
		{name: "dsn twice", input: `store db { dsn /a.sqlite3; dsn /b.sqlite3 }`, wantErr: "store db: dsn: already specified"},
		{name: "table twice", input: `store db { dsn /a.sqlite3; table a; table b }`, wantErr: "store db: table: already specified"},
		{name: "dsn without value", input: `store db { dsn }`, wantErr: "store db: "},
		{name: "dsn with two values", input: `store db { dsn a b }`, wantErr: "store db: "},
		{name: "unknown subdirective", input: `store db { dsn /a.sqlite3; pool 3 }`, wantErr: `store db: unrecognized subdirective "pool"`},
		{name: "bad table", input: `store db { dsn /a.sqlite3; table "x; DROP TABLE y" }`, wantErr: "store db: table"},
		{
			name:    "placeholder typo in dsn",
			input:   `store db { dsn postgres://app:{envDB_PASSWORD}@db/app }`,
			wantErr: "store db: dsn: unrecognized placeholder",
			notErr:  "envDB_PASSWORD",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := unmarshalSession(tt.input)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v; want one containing %q", err, tt.wantErr)
				}
				if tt.notErr != "" && strings.Contains(err.Error(), tt.notErr) {
					t.Fatalf("error = %v, which shows %q", err, tt.notErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, h.StoreRaw, []byte(tt.want)) {
				t.Fatalf("store JSON = %s; want %s", h.StoreRaw, tt.want)
			}
			var s DBStore
			if err := json.Unmarshal(h.StoreRaw, &s); err != nil {
				t.Fatal(err)
			}
			back, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := json.Unmarshal(h.StoreRaw, &obj); err != nil {
				t.Fatal(err)
			}
			delete(obj, "backend")
			want, _ := json.Marshal(obj)
			if !jsonEqual(t, back, want) {
				t.Fatalf("JSON round trip = %s; want %s", back, want)
			}
		})
	}
}

func TestProvisionDBStore(t *testing.T) {
	t.Setenv("CADDY_SESSION_TEST_UNSET", "")
	os.Unsetenv("CADDY_SESSION_TEST_UNSET")
	dir := t.TempDir()
	t.Setenv("CADDY_SESSION_TEST_DB_DIR", dir)

	tests := []struct {
		name      string
		store     DBStore
		wantErr   string
		hideInErr string
	}{
		{name: "sqlite", store: DBStore{DSN: "{env.CADDY_SESSION_TEST_DB_DIR}/a.sqlite3"}},
		// Caddy starts while a network database is down.
		{name: "postgres down", store: DBStore{DSN: "postgres://u:hunter2@127.0.0.1:1/app?connect_timeout=1"}},
		{name: "mysql down", store: DBStore{DSN: "mysql://u:hunter2@tcp(127.0.0.1:1)/app"}},
		{name: "no dsn", store: DBStore{}, wantErr: "store db: dsn: required"},
		{name: "unset dsn", store: DBStore{DSN: "{env.CADDY_SESSION_TEST_UNSET}"}, wantErr: "store db: dsn: evaluated placeholder {env.CADDY_SESSION_TEST_UNSET} is empty"},
		{name: "placeholder typo", store: DBStore{DSN: "postgres://u:{envPW}@h/app"}, wantErr: "store db: dsn: unrecognized placeholder", hideInErr: "envPW"},
		{name: "unknown scheme", store: DBStore{DSN: "mongodb://h/app"}, wantErr: `store db: dsn: unknown scheme "mongodb"`},
		{name: "malformed postgres", store: DBStore{DSN: "postgres://u:hunter2@[::1/app"}, wantErr: "store db: dsn: not a valid PostgreSQL URL", hideInErr: "hunter2"},
		{name: "bad table", store: DBStore{DSN: dir + "/b.sqlite3", Table: "a-b"}, wantErr: `store db: table "a-b"`},
		{name: "sqlite dir missing", store: DBStore{DSN: dir + "/missing/c.sqlite3"}, wantErr: "store db: creating SQLite database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.store
			err := s.Provision(provisionCtx(t))
			if err == nil {
				t.Cleanup(func() { _ = s.Cleanup() })
				err = s.Validate()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Provision, Validate: %v", err)
				}
				if st, err := s.OpenStore(StoreOptions{Codec: "json", Age: 3600e9}); err != nil || st == nil {
					t.Fatalf("OpenStore = %v, %v", st, err)
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

// The store is Django's layout only: the module opens a store in the
// handler's codec and is never a session.Store of its own.
func TestDBStoreIsBlobOnly(t *testing.T) {
	var m any = new(DBStore)
	if _, ok := m.(session.Store); ok {
		t.Fatal("DBStore implements session.Store")
	}
	if _, ok := m.(StoreModule); !ok {
		t.Fatal("DBStore is not a StoreModule")
	}
}

// One pool per dsn and table, shared by every config that names them, and
// closed when the last one is cleaned up.
func TestDBStorePool(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "pool.sqlite3")
	a, b, c := DBStore{DSN: dsn}, DBStore{DSN: dsn}, DBStore{DSN: dsn, Table: "other"}
	for _, s := range []*DBStore{&a, &b, &c} {
		if err := s.Provision(provisionCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if a.backend != b.backend {
		t.Fatal("two stores with one dsn and table have two pools")
	}
	if a.backend == c.backend {
		t.Fatal("two tables share one pool")
	}
	if err := c.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.backend.Read(t.Context(), session.NewKey()); err != nil {
		t.Fatalf("the pool closed while a config still holds it: %v", err)
	}
	if err := b.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.backend.Read(t.Context(), session.NewKey()); err == nil {
		t.Fatal("the pool is still open after the last Cleanup")
	}
}

// Through the handler: the default codec for `store db` is Django's, the
// row is Django's layout, and the file is private.
func TestDBStoreHandler(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite3")
	djangoKey := "django-insecure-test-key-for-the-db-layout"
	h := newHandler(t, &Handler{
		DjangoSecretKey: djangoKey,
		StoreRaw:        json.RawMessage(`{"backend":"db","dsn":` + jsonString(path) + `}`),
	})
	cookie := login(t, h, `{"_auth_user_id":"7"}`)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode %o; want 0600", fi.Mode().Perm())
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var data string
	if err := db.QueryRow(`SELECT session_data FROM django_session WHERE session_key = ?`, cookie.Value).Scan(&data); err != nil {
		t.Fatalf("no row for the session: %v", err)
	}
	c := &django.Codec{Key: []byte(djangoKey), Salt: django.SessionSalt}
	got, err := c.Decode([]byte(data))
	if err != nil {
		t.Fatalf("session_data does not decode with Django's key: %v", err)
	}
	if string(got["_auth_user_id"]) != `"7"` {
		t.Fatalf("row holds %v", got)
	}

	if readClaims(t, h, cookie)["data"].(map[string]any)["_auth_user_id"] != "7" {
		t.Fatal("the session did not read back")
	}
}

// While the database is down, a request with a session cookie gets 503 and
// the upstream is not called.
func TestDBStoreDown(t *testing.T) {
	h := newHandler(t, &Handler{StoreRaw: json.RawMessage(`{"backend":"db","dsn":"postgres://postgres@127.0.0.1:1/app?connect_timeout=1"}`)})
	r := newRequest("GET", "/")
	r.AddCookie(&http.Cookie{Name: "sessionid", Value: session.NewKey()})
	up := &upstream{}
	_, err := serve(t, h, r, nil, up)
	if statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("status %d (%v); want 503", statusOf(err), err)
	}
	if up.got != nil {
		t.Fatal("the upstream was called with a made-up session")
	}
}

// A Caddy built without package sqlstores refuses store db and cached_db
// when the Caddyfile is adapted, and in JSON when the config loads, with
// the --with that adds the drivers, not Caddy's "unknown module".
func TestDBStoreWithoutSQLDrivers(t *testing.T) {
	saved := sqlDrivers
	sqlDrivers = SQLDrivers{}
	t.Cleanup(func() { sqlDrivers = saved })
	const want = "built without the SQL drivers (PostgreSQL, SQLite, MySQL); build it with one more --with: " +
		"xcaddy build --with github.com/caddy-session/caddy-session --with github.com/caddy-session/caddy-session/sqlstores"

	for name, input := range map[string]string{
		"db":        `store db { dsn /var/lib/caddy/sessions.sqlite3 }`,
		"db no dsn": `store db`,
		"cached_db": "store cached_db {\ncache {\naddress 127.0.0.1:6379\n}\ndb {\ndsn postgres://app@db/app\n}\n}",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := unmarshalSession(input)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v; want one containing %q", err, want)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		s := DBStore{DSN: filepath.Join(t.TempDir(), "a.sqlite3")}
		err := s.Provision(provisionCtx(t))
		if err == nil {
			_ = s.Cleanup()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Provision: error = %v; want one containing %q", err, want)
		}
	})
}

// defaultTable, which this package keeps so as not to import dbstore, is
// dbstore's.
func TestDefaultTable(t *testing.T) {
	if defaultTable != dbstore.DefaultTable {
		t.Fatalf("defaultTable = %q; dbstore.DefaultTable = %q", defaultTable, dbstore.DefaultTable)
	}
}
