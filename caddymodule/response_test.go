package caddymodule

// The one response wrapper, with either hook, on every way an upstream can
// send its header: the client must never see the session family, and a
// request with a session must get its cookie on the header that is sent.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// sender is an upstream that sets a session update and an unrelated header,
// then sends the header the way send says.
type sender struct {
	send func(w http.ResponseWriter) error
}

func (s sender) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("X-Session-Set", `{"user":"alice"}`)
	w.Header().Set("X-Other", "kept")
	return s.send(w)
}

func TestResponseWrapperHooks(t *testing.T) {
	sends := map[string]func(w http.ResponseWriter) error{
		"WriteHeader": func(w http.ResponseWriter) error {
			w.WriteHeader(http.StatusOK)
			return nil
		},
		"Write": func(w http.ResponseWriter) error {
			_, err := w.Write([]byte("body"))
			return err
		},
		"ReadFrom": func(w http.ResponseWriter) error {
			_, err := io.Copy(w, strings.NewReader("body"))
			return err
		},
		"Flush": func(w http.ResponseWriter) error {
			return http.NewResponseController(w).Flush()
		},
	}
	h := newHandler(t, &Handler{MatcherSetsRaw: caddyhttp.RawMatcherSets{{"path": json.RawMessage(`["/app/*"]`)}}})
	for name, send := range sends {
		for _, tc := range []struct {
			path       string
			wantCookie bool
		}{
			{"/app/x", true},  // commitHeader: the update applied, its cookie sent
			{"/other", false}, // stripHeader: nothing applied
		} {
			t.Run(name+tc.path, func(t *testing.T) {
				w := httptest.NewRecorder()
				if err := h.ServeHTTP(w, newRequest("GET", tc.path), sender{send}); err != nil {
					t.Fatal(err)
				}
				sent := w.Result().Header // as the header left, not as the map is now
				for k := range sent {
					if h.names.Match(k) {
						t.Errorf("%s reached the client", k)
					}
				}
				if sent.Get("X-Other") != "kept" {
					t.Errorf("X-Other = %q; want kept", sent.Get("X-Other"))
				}
				if got := len(w.Result().Cookies()) == 1; got != tc.wantCookie {
					t.Errorf("cookie sent: %v; want %v (Set-Cookie %q)", got, tc.wantCookie, sent.Values("Set-Cookie"))
				}
			})
		}
	}
}
