package redisblob_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	djangocodec "github.com/caddy-session/caddy-session/session/django"
	"github.com/caddy-session/caddy-session/session/redisblob"
)

const python = "/usr/bin/python3"

// djangoConfig is the helper's configuration (testdata/django_sessions.py).
type djangoConfig struct {
	Engine     string `json:"engine"` // "cache" or "redis_sessions"
	Port       int    `json:"port"`
	KeyPrefix  string `json:"key_prefix"`
	Version    int    `json:"version"`
	Serializer string `json:"serializer,omitempty"` // "json" (default) or "pickle"
	Prefix     string `json:"prefix"`               // django-redis-sessions
	SecretKey  string `json:"secret_key"`
}

// secretKey is the Django SECRET_KEY of the interop tests.
const secretKey = "django-insecure-interop-test-key-0123456789"

// needDjango skips the test without Django and the two Redis packages, or
// fails it under CI=true.
func needDjango(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import django, django_redis, redis_sessions").CombinedOutput()
	if err == nil {
		return
	}
	const install = "apt-get install -y python3-django python3-django-redis python3-django-redis-sessions"
	if os.Getenv("CI") == "true" {
		t.Fatalf("Django and its Redis session packages are required: %s (%v: %s)", install, err, out)
	}
	t.Skipf("Django or its Redis session packages are not installed (%s)", install)
}

// django runs one command of the helper and decodes its JSON output.
func django(t *testing.T, cfg djangoConfig, stdin any, out any, args ...string) {
	t.Helper()
	c, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, append([]string{"testdata/django_sessions.py", string(c)}, args...)...)
	switch in := stdin.(type) {
	case nil:
	case string:
		cmd.Stdin = strings.NewReader(in)
	default:
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = bytes.NewReader(b)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("django %v: %v\n%s", args, err, stderr.Bytes())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("django %v: output %q: %v", args, b, err)
	}
}

type loaded struct {
	Data   map[string]any `json:"data"`
	Exists bool           `json:"exists"`
}

// load is Django's SessionStore(key).load() and exists(key).
func load(t *testing.T, cfg djangoConfig, key string) loaded {
	t.Helper()
	var got loaded
	django(t, cfg, nil, &got, "load", key)
	return got
}

// Django's cache engine on django-redis with the JSON serializer and this
// backend with CacheJSONCodec share sessions both ways.
func TestDjangoCacheInterop(t *testing.T) {
	needDjango(t)
	srv := testredis.Start(t)
	for _, tc := range []struct {
		name      string
		keyPrefix string
		version   int
	}{
		{"defaults", "", 1},
		{"prefix and version", "djc", 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			cfg := djangoConfig{Engine: "cache", Port: srv.Port, KeyPrefix: tc.keyPrefix, Version: tc.version}
			s := &blob.Store{
				Backend: redisblob.New(client(t, srv), redisblob.CacheKey(tc.keyPrefix, tc.version, redisblob.CacheEngine)),
				Codec:   redisblob.CacheJSONCodec{},
			}

			// Django logs a user in; we read the session.
			var created struct {
				Key       string `json:"key"`
				ExpiryAge int    `json:"expiry_age"`
			}
			django(t, cfg, map[string]any{
				"_auth_user_id":      "42",
				"_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
				"_auth_user_hash":    "0123abcd",
				"cart":               []any{1, 2.5, "é"},
				"inf":                json.RawMessage("1e400"), // Python writes Infinity
			}, &created, "create")
			rec, ok, err := s.Load(ctx, created.Key)
			if err != nil || !ok {
				t.Fatalf("Load of Django's session = %v, %v", ok, err)
			}
			want := map[string]string{
				"_auth_user_id":      `"42"`,
				"_auth_user_backend": `"django.contrib.auth.backends.ModelBackend"`,
				"_auth_user_hash":    `"0123abcd"`,
				"cart":               `[1, 2.5, "\u00e9"]`,
				"inf":                `1e999`,
			}
			if len(rec.Data) != len(want) {
				t.Errorf("Data = %q; want %q", rec.Data, want)
			}
			for k, v := range want {
				if string(rec.Data[k]) != v {
					t.Errorf("Data[%q] = %s; want %s", k, rec.Data[k], v)
				}
			}
			age := time.Duration(created.ExpiryAge) * time.Second
			if d := time.Until(rec.ExpiresAt) - age; d > time.Second || d < -5*time.Second {
				t.Errorf("ExpiresAt is in %s; want about %s", time.Until(rec.ExpiresAt), age)
			}

			// We change it; Django sees the change.
			expiresAt := time.Now().Add(time.Hour)
			if _, err := s.Save(ctx, created.Key, session.Change{
				Mode:      session.ModeUpdate,
				Delete:    []string{"cart"},
				Set:       session.Data{"theme": []byte(`"dark"`), "big": []byte(`9007199254740993`)},
				ExpiresAt: expiresAt,
			}); err != nil {
				t.Fatal(err)
			}
			got := load(t, cfg, created.Key)
			wantJSON := `{"_auth_user_id":"42","_auth_user_backend":"django.contrib.auth.backends.ModelBackend","_auth_user_hash":"0123abcd","inf":"inf","theme":"dark","big":9007199254740993}`
			if !got.Exists || !sameJSON(t, got.Data, wantJSON) {
				t.Errorf("Django loads %v (exists %v); want %s", got.Data, got.Exists, wantJSON)
			}
			ttl := client(t, srv).PTTL(ctx, redisblob.CacheKey(tc.keyPrefix, tc.version, redisblob.CacheEngine)(created.Key)).Val()
			if ttl > time.Hour || ttl < time.Hour-5*time.Second {
				t.Errorf("PTTL = %s; want about 1h", ttl)
			}

			// Django changes it again; we see Django's change and ours.
			django(t, cfg, map[string]any{"django_side": true}, &struct{}{}, "update", created.Key)
			rec, ok, err = s.Load(ctx, created.Key)
			if err != nil || !ok || string(rec.Data["django_side"]) != "true" || string(rec.Data["theme"]) != `"dark"` || string(rec.Data["big"]) != "9007199254740993" {
				t.Fatalf("Load after Django's update = %q, %v, %v", rec.Data, ok, err)
			}

			// A session we create, Django reads.
			key := session.NewKey()
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"_auth_user_id": []byte(`"7"`), "name": []byte(`"Zoë ✓"`)}, ExpiresAt: expiresAt}); err != nil {
				t.Fatal(err)
			}
			got = load(t, cfg, key)
			if !got.Exists || !sameJSON(t, got.Data, `{"_auth_user_id":"7","name":"Zoë ✓"}`) {
				t.Errorf("Django loads %v (exists %v) from our session", got.Data, got.Exists)
			}

			// We flush; Django sees nothing.
			if found, err := s.Delete(ctx, created.Key); err != nil || !found {
				t.Fatalf("Delete = %v, %v; want true, nil", found, err)
			}
			got = load(t, cfg, created.Key)
			if got.Exists || len(got.Data) != 0 {
				t.Errorf("Django loads %v (exists %v) after our flush; want nothing", got.Data, got.Exists)
			}
		})
	}
}

// With django-redis's default pickle serializer the codec refuses the
// value, clearly, and never unpickles it: the session is no session, and a
// security event.
func TestDjangoCachePickleRefused(t *testing.T) {
	needDjango(t)
	srv := testredis.Start(t)
	cfg := djangoConfig{Engine: "cache", Port: srv.Port, Version: 1, Serializer: "pickle"}
	var created struct{ Key string }
	django(t, cfg, map[string]any{"_auth_user_id": "42"}, &created, "create")

	b := redisblob.New(client(t, srv), redisblob.CacheKey("", 1, redisblob.CacheEngine))
	v, ok, err := b.Read(t.Context(), created.Key)
	if err != nil || !ok {
		t.Fatalf("Read = %v, %v; want the pickled value", ok, err)
	}
	_, err = redisblob.CacheJSONCodec{}.Decode(v.Data)
	if !errors.Is(err, session.ErrBadValue) || !strings.Contains(err.Error(), "pickled") || !strings.Contains(err.Error(), "JSONSerializer") {
		t.Fatalf("Decode of a pickle = %v; want ErrBadValue naming the pickle and the fix", err)
	}

	var reported []error
	s := &blob.Store{Backend: b, Codec: redisblob.CacheJSONCodec{}, OnBadValue: func(err error) { reported = append(reported, err) }}
	if _, ok, err := s.Load(t.Context(), created.Key); ok || err != nil {
		t.Fatalf("Load of a pickle = %v, %v; want no session", ok, err)
	}
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "pickled") {
		t.Fatalf("reported %v; want the pickle refusal", reported)
	}
}

// django-redis-sessions: the key layout and TTL, with the value an opaque
// blob both ways (Django's signed encoding done in Python); then the whole
// store, this backend under the project's Django codec, sharing sessions
// with Django both ways.
func TestDjangoRedisSessionsInterop(t *testing.T) {
	needDjango(t)
	srv := testredis.Start(t)
	for _, prefix := range []string{"", "session"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			ctx := t.Context()
			cfg := djangoConfig{Engine: "redis_sessions", Port: srv.Port, Prefix: prefix, SecretKey: secretKey}
			b := redisblob.New(client(t, srv), redisblob.SessionsKey(prefix))

			// Django writes; we read the value Django signed, and Django
			// decodes what we read.
			var created struct {
				Key       string `json:"key"`
				ExpiryAge int    `json:"expiry_age"`
			}
			django(t, cfg, map[string]any{"_auth_user_id": "42", "n": 1}, &created, "create")
			v, ok, err := b.Read(ctx, created.Key)
			if err != nil || !ok {
				t.Fatalf("Read of Django's session = %v, %v", ok, err)
			}
			age := time.Duration(created.ExpiryAge) * time.Second
			if d := time.Until(v.ExpiresAt) - age; d > time.Second || d < -5*time.Second {
				t.Errorf("ExpiresAt is in %s; want about %s", time.Until(v.ExpiresAt), age)
			}
			var decoded map[string]any
			django(t, cfg, string(v.Data), &decoded, "decode")
			if !sameJSON(t, decoded, `{"_auth_user_id":"42","n":1}`) {
				t.Errorf("Django decodes what we read as %v", decoded)
			}

			// We write a value Django encoded; Django loads it.
			var encoded string
			django(t, cfg, map[string]any{"_auth_user_id": "7", "theme": "dark"}, &encoded, "encode")
			expiresAt := time.Now().Add(time.Hour)
			err = b.Modify(ctx, created.Key, func(cur blob.Value, exists bool) (blob.Op, error) {
				if !exists {
					return blob.Op{}, errors.New("the session is gone")
				}
				return blob.Op{Kind: blob.Put, Value: blob.Value{Data: []byte(encoded), ExpiresAt: expiresAt}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := load(t, cfg, created.Key)
			if !got.Exists || !sameJSON(t, got.Data, `{"_auth_user_id":"7","theme":"dark"}`) {
				t.Errorf("Django loads %v (exists %v); want our write", got.Data, got.Exists)
			}

			// The store with Django's codec reads Django's session...
			s := &blob.Store{Backend: b, Codec: djangocodec.Codec{Key: []byte(secretKey), Salt: djangocodec.SessionSalt}}
			rec, ok, err := s.Load(ctx, created.Key)
			if err != nil || !ok || len(rec.Data) != 2 || string(rec.Data["_auth_user_id"]) != `"7"` || string(rec.Data["theme"]) != `"dark"` {
				t.Fatalf("Load with the Django codec = %q, %v, %v", rec.Data, ok, err)
			}
			// ... changes it, and Django sees the change.
			if _, err := s.Save(ctx, created.Key, session.Change{Mode: session.ModeUpdate, Delete: []string{"theme"}, Set: session.Data{"cart": []byte(`[1, "é"]`)}, ExpiresAt: expiresAt}); err != nil {
				t.Fatal(err)
			}
			got = load(t, cfg, created.Key)
			if !got.Exists || !sameJSON(t, got.Data, `{"_auth_user_id":"7","cart":[1,"é"]}`) {
				t.Errorf("Django loads %v (exists %v); want our update", got.Data, got.Exists)
			}
			// A session we create, Django reads.
			key := session.NewKey()
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"_auth_user_id": []byte(`"8"`)}, ExpiresAt: expiresAt}); err != nil {
				t.Fatal(err)
			}
			if got := load(t, cfg, key); !got.Exists || !sameJSON(t, got.Data, `{"_auth_user_id":"8"}`) {
				t.Errorf("Django loads %v (exists %v) from our session", got.Data, got.Exists)
			}

			// We flush; Django sees nothing.
			if found, err := s.Delete(ctx, created.Key); err != nil || !found {
				t.Fatalf("Delete = %v, %v; want true, nil", found, err)
			}
			got = load(t, cfg, created.Key)
			if got.Exists || len(got.Data) != 0 {
				t.Errorf("Django loads %v (exists %v) after our delete; want nothing", got.Data, got.Exists)
			}
		})
	}
}

// sameJSON reports whether v, marshalled, equals the JSON text want as a
// value (key order and spacing aside).
func sameJSON(t *testing.T, v any, want string) bool {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(v)
	b, _ := json.Marshal(w)
	return bytes.Equal(a, b)
}
