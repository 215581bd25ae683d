package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/memstore"
)

func init() {
	caddy.RegisterModule(thirdPartyStore{})
	caddy.RegisterModule(notAStore{})
}

// thirdPartyStore is a store as a third party writes one: a module that
// implements StoreModule and nothing of this package's.
type thirdPartyStore struct {
	got StoreOptions
}

func (thirdPartyStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".test_third_party", New: func() caddy.Module { return new(thirdPartyStore) }}
}

// lastOptions is what the last thirdPartyStore was opened with.
var lastOptions StoreOptions

func (s *thirdPartyStore) OpenStore(o StoreOptions) (session.Store, error) {
	s.got, lastOptions = o, o
	return memstore.New(), nil
}

// notAStore is a module in the namespace that opens no store.
type notAStore struct{}

func (notAStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".test_not_a_store", New: func() caddy.Module { return new(notAStore) }}
}

// A third party's store module is opened through StoreModule alone, with
// the handler's options; a module that is not one is refused by name.
func TestThirdPartyStoreModule(t *testing.T) {
	h := newHandler(t, &Handler{
		StoreRaw:   json.RawMessage(`{"backend":"test_third_party"}`),
		CookieName: "app_sess",
		CookieAge:  caddy.Duration(time.Hour),
		Codec:      "json",
	})
	o := lastOptions
	if o.CookieName != "app_sess" || o.Age != time.Hour || o.Codec != "json" || o.Logger == nil || o.OnBadValue == nil {
		t.Fatalf("options %+v; want the handler's cookie name, age, codec, logger and bad value policy", o)
	}
	if c, err := o.Encoding(true); err != nil || c != (session.JSONCodec{}) {
		t.Fatalf("Encoding under codec json = %v, %v; want JSON", c, err)
	}
	if h.purge != nil {
		t.Fatal("a store that is no Purger got a purge")
	}

	err := (&Handler{Secret: goodSecret, StoreRaw: json.RawMessage(`{"backend":"test_not_a_store"}`)}).Provision(provisionCtx(t))
	if err == nil || !strings.Contains(err.Error(), "not a session store (caddymodule.StoreModule)") {
		t.Fatalf("a module that opens no store: error %v", err)
	}
}

// Encoding: codec json is JSON, codec django Django's, and no codec the
// layout's default.
func TestStoreOptionsEncoding(t *testing.T) {
	django := &struct{ session.JSONCodec }{} // any codec, told apart by identity
	o := StoreOptions{Django: func() (session.Codec, error) { return django, nil }}
	for _, tc := range []struct {
		codec         string
		djangoDefault bool
		wantDjango    bool
	}{
		{"", false, false},
		{"", true, true},
		{"json", true, false},
		{"django", false, true},
	} {
		o.Codec = tc.codec
		c, err := o.Encoding(tc.djangoDefault)
		if err != nil {
			t.Fatal(err)
		}
		if got := c == session.Codec(django); got != tc.wantDjango {
			t.Errorf("codec %q, djangoDefault %v: Django's = %v, want %v", tc.codec, tc.djangoDefault, got, tc.wantDjango)
		}
	}
}

// The stores that keep expired sessions until purged are Purgers, through
// whatever layout the codec picks; one handler's purge reaches the shared
// store.
func TestStorePurgers(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, store, codec string
		purger             bool
	}{
		{"memory", `{"backend":"memory"}`, "", true},
		{"file", `{"backend":"file","dir":"` + dir + `/own"}`, "", true},
		{"file, Django's layout", `{"backend":"file","dir":"` + dir + `/django"}`, "django", true},
		{"db", `{"backend":"db","dsn":"` + dir + `/s.sqlite3"}`, "", true},
		{"signed_cookies", `{"backend":"signed_cookies"}`, "django", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandler(t, &Handler{StoreRaw: json.RawMessage(tc.store), Codec: tc.codec, DjangoSecretKey: "django-key-0123456789abcdef0123456789"})
			if (h.purge != nil) != tc.purger {
				t.Fatalf("purge set: %v, want %v", h.purge != nil, tc.purger)
			}
			if h.purge == nil {
				return
			}
			if _, err := h.purge(time.Now()); err != nil {
				t.Fatalf("purge: %v", err)
			}
			if _, ok := h.store.(Purger); !ok {
				t.Fatalf("store %T is not a Purger", h.store)
			}
		})
	}
}
