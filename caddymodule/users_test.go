package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-session/caddy-session/session"
)

func TestProvisionUserKey(t *testing.T) {
	memory := json.RawMessage(`{"backend":"memory"}`)
	for _, tt := range []struct {
		name    string
		handler Handler
		wantErr string
	}{
		{name: "memory", handler: Handler{Secret: goodSecret, StoreRaw: memory, UserKey: "_auth_user_id", MaxSessionsPerUser: 3}},
		{name: "signed_cookies", handler: Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"signed_cookies"}`), UserKey: "_auth_user_id"}, wantErr: "user_key: store signed_cookies keeps each session in its cookie"},
		{name: "redis cluster", handler: Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"redis","addresses":["127.0.0.1:1","127.0.0.1:2","127.0.0.1:3"]}`), UserKey: "u"}, wantErr: "user_key: store redis: a Redis Cluster cannot keep the index"},
		{name: "redis cluster, django layout", handler: Handler{Secret: goodSecret, Codec: "django", StoreRaw: json.RawMessage(`{"backend":"redis","addresses":["127.0.0.1:1","127.0.0.1:2","127.0.0.1:3"]}`), UserKey: "u"}, wantErr: "user_key: store redis: a Redis Cluster cannot keep the index"},
		{name: "cache cluster", handler: Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"cache","addresses":["127.0.0.1:1","127.0.0.1:2","127.0.0.1:3"]}`), UserKey: "u"}, wantErr: "user_key: store cache: a Redis Cluster cannot keep the index"},
		{name: "limit without user_key", handler: Handler{Secret: goodSecret, StoreRaw: memory, MaxSessionsPerUser: 3}, wantErr: "max_sessions_per_user: needs user_key"},
		{name: "negative limit", handler: Handler{Secret: goodSecret, StoreRaw: memory, UserKey: "u", MaxSessionsPerUser: -1}, wantErr: "max_sessions_per_user: must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			err := h.Provision(provisionCtx(t))
			t.Cleanup(func() { _ = h.Cleanup() })
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Provision: %v", err)
				}
				if _, ok := h.manager.Store.(session.UserIndexer); !ok {
					t.Fatal("the manager's store keeps no user index")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Provision error = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCaddyfileUserKey(t *testing.T) {
	h, err := unmarshalSession("user_key _auth_user_id; max_sessions_per_user 2")
	if err != nil {
		t.Fatal(err)
	}
	if h.UserKey != "_auth_user_id" || h.MaxSessionsPerUser != 2 {
		t.Fatalf("user_key %q, max_sessions_per_user %d", h.UserKey, h.MaxSessionsPerUser)
	}
	if _, err := unmarshalSession("max_sessions_per_user 0"); err == nil {
		t.Fatal("max_sessions_per_user 0 accepted; want a positive integer")
	}
}

// The admin routes in process, on the memory store: what an operator gets
// from each, and that no key or data leaves.
func TestAdminUserRoutes(t *testing.T) {
	h := Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"memory"}`), UserKey: "_auth_user_id", CookieName: "admintest"}
	if err := h.Provision(provisionCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	ctx := t.Context()
	var keys []string
	for range 3 {
		s, _ := h.manager.Load(ctx, "")
		res, err := h.manager.Commit(ctx, s, &session.Update{Set: session.Data{"_auth_user_id": []byte(`"42"`), "secret_value": []byte(`"hunter2"`)}})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, res.Key)
	}
	call := func(method, path string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		err := serveSessions(rec, httptest.NewRequest(method, path, nil))
		if err != nil {
			var ae caddy.APIError
			if e, ok := err.(caddy.APIError); ok {
				ae = e
			}
			return ae.HTTPStatus, ae.Err.Error()
		}
		body := rec.Body.String()
		for _, k := range keys {
			if strings.Contains(body, k) {
				t.Fatalf("%s %s shows a session key", method, path)
			}
		}
		if strings.Contains(body, "hunter2") {
			t.Fatalf("%s %s shows session data", method, path)
		}
		return rec.Code, body
	}
	q := "?handler=admintest"
	if code, body := call("GET", "/sessions/users/42/count"+q); code != 200 || !strings.Contains(body, `"count":3`) {
		t.Fatalf("count: %d %s", code, body)
	}
	code, body := call("GET", "/sessions/users/42"+q)
	var list struct {
		Sessions []userSessionJSON `json:"sessions"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Sessions) != 3 {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, s := range list.Sessions {
		for _, ts := range []string{s.Created, s.LastModified, s.ExpiresAt} {
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Fatalf("list: time %q: %v", ts, err)
			}
		}
	}
	sid := h.signer.SID(keys[1])
	if code, body := call("DELETE", "/sessions/users/42/"+sid+q); code != 200 || !strings.Contains(body, `"revoked":1`) {
		t.Fatalf("revoke one: %d %s", code, body)
	}
	if _, ok, _ := h.manager.Store.Load(ctx, keys[1]); ok {
		t.Fatal("the revoked session is still stored")
	}
	if code, _ := call("DELETE", "/sessions/users/42/"+sid+q); code != 404 {
		t.Fatalf("revoking it again: %d; want 404", code)
	}
	if code, body := call("DELETE", "/sessions/users/42"+q); code != 200 || !strings.Contains(body, `"revoked":2`) {
		t.Fatalf("revoke all: %d %s", code, body)
	}
	if code, body := call("GET", "/sessions/users/42/count"+q); code != 200 || !strings.Contains(body, `"count":0`) {
		t.Fatalf("count after: %d %s", code, body)
	}
	if code, body := call("POST", "/sessions/purge?handler=admintest"); code != 200 || !strings.Contains(body, `"removed":0`) {
		t.Fatalf("purge: %d %s", code, body)
	}
	if code, _ := call("GET", "/sessions/users/42?handler=nosuch"); code != http.StatusNotFound {
		t.Fatalf("unknown handler: %d; want 404", code)
	}
	if code, _ := call("PUT", "/sessions/users/42"+q); code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d; want 405", code)
	}
}

// secret_fallbacks verify Django values wherever the Django codec signs
// with the secret, db and cached_db's default included; elsewhere Caddy
// warns that they have no effect.
func TestDjangoKeyIsSecret(t *testing.T) {
	for _, tc := range []struct {
		store, codec, djangoKey string
		want                    bool
	}{
		{`{"backend":"db","dsn":"x"}`, "", "", true},
		{`{"backend":"cached_db"}`, "", "", true},
		{`{"backend":"file"}`, "django", "", true},
		{`{"backend":"db","dsn":"x"}`, "", "{env.DJANGO_KEY}", false},
		{`{"backend":"file"}`, "", "", false},
		{`{"backend":"redis"}`, "json", "", false},
		{`{"backend":"cache"}`, "", "", false},
	} {
		h := Handler{StoreRaw: json.RawMessage(tc.store), Codec: tc.codec, DjangoSecretKey: tc.djangoKey}
		if got := h.djangoKeyIsSecret(); got != tc.want {
			t.Errorf("store %s, codec %q, django_secret_key %q: %v; want %v", tc.store, tc.codec, tc.djangoKey, got, tc.want)
		}
	}
}

// Several handlers with user_key: a route names one by its cookie name;
// without a name it is ambiguous. Handlers alike count as one.
func TestAdminPicksHandler(t *testing.T) {
	provision := func(cookie string, cleanup bool) *Handler {
		t.Helper()
		h := &Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"memory"}`), UserKey: "_auth_user_id", CookieName: cookie}
		if err := h.Provision(provisionCtx(t)); err != nil {
			t.Fatal(err)
		}
		if cleanup {
			t.Cleanup(func() { _ = h.Cleanup() })
		}
		return h
	}
	a, _, b := provision("pick_a", true), provision("pick_a", true), provision("pick_b", false)
	status := func(path string) int {
		err := serveSessions(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
		if err == nil {
			return 200
		}
		return err.(caddy.APIError).HTTPStatus
	}
	if got := status("/sessions/users/1/count"); got != http.StatusConflict {
		t.Fatalf("two different handlers, none named: %d; want 409", got)
	}
	for _, h := range []*Handler{a, b} {
		if got := status("/sessions/users/1/count?handler=" + h.cookieName()); got != 200 {
			t.Fatalf("handler %s named: %d; want 200", h.cookieName(), got)
		}
	}
	_ = b.Cleanup()
	if got := status("/sessions/users/1/count"); got != 200 {
		t.Fatalf("one handler (twice alike), none named: %d; want 200", got)
	}
}
