package integration

// The Ruby adapter (adapters/ruby): its Sinatra example under puma, with
// Debian's ruby, ruby-rack and ruby-sinatra. The same browser flows as
// the other adapters (adapters_test.go), on Sinatra's own cookie session
// and behind the module; one session shared with PHP, Express, Flask and
// Django; Ruby's own values (symbols, times, binary strings) kept as Ruby
// keeps them; EdDSA tokens with the JWKS and an audience.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// rubyLang is the Sinatra example for the shared flows. Its login keeps
// the data (Rack's :renew); Sinatra's cookie session cannot be revoked.
var rubyLang = adapterLang{name: "ruby", start: startRubyExample, nativeCookie: "rack.session", keepsOnLogin: true}

// rubyInstall is what the Ruby example needs (scripts/install-deps.sh).
const rubyInstall = "apt-get install -y ruby ruby-rack ruby-sinatra puma"

// TestAdapterRuby: the Sinatra example, unchanged but for the adapter
// line, passes the browser flows on its own cookie session and behind the
// proxy (32 concurrent writers lose nothing there), refuses tokens it did
// not get from Caddy, reads back the symbols, times and binary strings it
// wrote as Ruby values identical to them, and fails a request whose
// session holds a value the session cannot store, keeping nothing of it.
func TestAdapterRuby(t *testing.T) {
	t.Run("native", func(t *testing.T) {
		c := startCaddy(t, "", startRubyExample(t, false))
		testAdapterFlow(t, c.URL, rubyLang, false)
	})
	t.Run("adapter", func(t *testing.T) {
		route := startRubyExample(t, true)
		c := startCaddy(t, "", adapterSessionConfig(testredis.Start(t))+"\n"+route)
		testAdapterFlow(t, c.URL, rubyLang, true)

		t.Run("refuses forged and expired tokens", func(t *testing.T) {
			testUpstreamVerifies(t, startCaddy(t, "", route).URL)
			testUpstreamVerifies(t, "http://"+strings.TrimPrefix(route, "reverse_proxy "))
		})
		t.Run("symbols, times and binary strings", func(t *testing.T) {
			s := adapterSetup{base: c.URL, cookie: "sessionid", lang: rubyLang, proxied: true}
			client := newClient(t)
			s.home(t, client)
			if resp, body := s.send(t, client, "POST", "/ruby", "", nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /ruby: status %d; body %s", resp.StatusCode, body)
			}
			resp, body := s.send(t, client, "GET", "/ruby", "", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /ruby: status %d; body %s", resp.StatusCode, body)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("GET /ruby: %v in %s", err, body)
			}
			want := map[string]any{
				"role": "Symbol :admin",
				"at":   "Time 2026-12-05T08:00:00.123456789 offset 3600 utc false",
				"key":  "String ASCII-8BIT 256 bytes true",
				"prefs": map[string]any{
					"theme": "Symbol :dark",
					"since": "Time 2023-11-14T22:13:20.000000005 offset 0 utc true",
				},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("what Ruby wrote, read back by Ruby through Caddy:\n got %s\nwant %s", djJSON(got), djJSON(want))
			}
			if v := s.home(t, client); v.Visits != 2 {
				t.Errorf("the visit count after the Ruby values: %d, want 2", v.Visits)
			}
		})
		t.Run("a value the session cannot store", func(t *testing.T) {
			s := adapterSetup{base: c.URL, cookie: "sessionid", lang: rubyLang, proxied: true}
			client := newClient(t)
			s.home(t, client)
			if resp, body := s.send(t, client, "GET", "/bad", "", nil); resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("GET /bad: status %d, want 500; body %s", resp.StatusCode, body)
			}
			got := s.dump(t, client)
			if got["visits"] != 1.0 || got["when"] != nil {
				t.Errorf("after /bad the session holds %v, want visits 1 and no when", got)
			}
		})
	})
}

// TestAdapterRubySharedSession: one Caddy with `codec django` and Django's
// file layout in front of the Ruby, PHP, Express and Flask examples; what
// PHP writes Ruby reads exactly, what Ruby writes the others and Django
// read, a login and a logout through Ruby hold for all of them.
func TestAdapterRubySharedSession(t *testing.T) {
	djRequireDjango(t)
	dir := filepath.Join(t.TempDir(), "sessions")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	dj := djTool{t: t, env: []string{"DJ_SECRET_KEY=" + djSecretKey, "DJ_ENGINE=file",
		"DJ_DATABASE=" + djAuthDB(t), "DJ_FILE_PATH=" + dir}}
	ruby := startRubyExample(t, true)
	php := startPHPExample(t, true)
	node := startNodeExample(t, true)
	flask := startFlaskExample(t, true)
	c := startCaddy(t, "", fmt.Sprintf(`session {
	secret {env.SESSION_SECRET}
	codec django
	django_secret_key {env.DJANGO_SECRET_KEY}
	store file %s
}
handle_path /ruby/* {
	%s
}
handle_path /node/* {
	%s
}
handle_path /flask/* {
	%s
}
handle {
%s
}`, dir, ruby, node, flask, indent(php)), "DJANGO_SECRET_KEY="+djSecretKey)
	client := newClient(t)
	// Rack::Protection, on in every Sinatra app, keeps its csrf and
	// tracking keys in the session: the other apps see them too.
	read := func(prefix string) map[string]any {
		t.Helper()
		got := adapterSetup{base: c.URL + prefix, cookie: "sessionid"}.dump(t, client)
		delete(got, "csrf")
		delete(got, "tracking")
		return got
	}
	readAll := func(what string, want map[string]any) {
		t.Helper()
		for _, prefix := range []string{"", "/node", "/flask", "/ruby"} {
			if got := read(prefix); !reflect.DeepEqual(got, want) {
				t.Errorf("%s, read through %q:\n got %s\nwant %s", what, "/"+strings.TrimPrefix(prefix, "/"), djJSON(got), djJSON(want))
			}
		}
		key := onlySessionCookie(t, client, c.URL)
		got := dj.load(key)[0].Data
		delete(got, "csrf")
		delete(got, "tracking")
		djWantData(t, what+", loaded by Django", got, want)
	}

	written := `{"user":"zoë","cart":[1,2,{"sku":"a-1","qty":3}],"price":9.5,"whole":1.0,"ok":true,"none":null}`
	djPost(t, client, c.URL+"/set", written, http.StatusOK)
	var want map[string]any
	if err := json.Unmarshal([]byte(written), &want); err != nil {
		t.Fatal(err)
	}
	readAll("the PHP adapter's write", want)
	key := onlySessionCookie(t, client, c.URL)

	// Ruby writes (and its reads above changed nothing of PHP's values).
	send(t, client, "GET", c.URL+"/ruby/put?k=from_ruby&v=6", "", nil)
	want = djWith(want, map[string]any{"from_ruby": 6.0})
	readAll("after the Ruby adapter's write", want)

	// The others write; Ruby reads.
	send(t, client, "GET", c.URL+"/node/put?k=from_node&v=7", "", nil)
	send(t, client, "GET", c.URL+"/flask/put?k=from_flask&v=8", "", nil)
	if set := dj.set(key, `{"from_django":9}`); set.Error != "" {
		t.Fatalf("djtool set: %s", set.Error)
	}
	want = djWith(want, map[string]any{"from_node": 7.0, "from_flask": 8.0, "from_django": 9.0})
	readAll("after Node, Flask and Django wrote", want)

	// A login through Ruby: a new key, the data kept, the old key dead.
	form := url.Values{"user": {"rübe"}}
	resp, body := send(t, client, "POST", c.URL+"/ruby/login", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST /ruby/login: status %d; body %s", resp.StatusCode, body)
	}
	loggedIn := onlySessionCookie(t, client, c.URL)
	if loggedIn == key {
		t.Errorf("the Ruby login kept the session key")
	}
	if dj.exists(key) {
		t.Errorf("the key from before the Ruby login still exists")
	}
	want = djWith(want, map[string]any{"user": "rübe"})
	readAll("after a login through Ruby", want)

	// A logout through Ruby ends the session for every app.
	resp, body = send(t, client, "POST", c.URL+"/ruby/logout", "", nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST /ruby/logout: status %d; body %s", resp.StatusCode, body)
	}
	if dj.exists(loggedIn) {
		t.Errorf("the logged-in session still exists after the Ruby logout")
	}
	for _, prefix := range []string{"", "/node", "/flask"} {
		if got := read(prefix); len(got) != 0 {
			t.Errorf("after the Ruby logout, %q reads %s, want an empty session", "/"+strings.TrimPrefix(prefix, "/"), djJSON(got))
		}
	}
}

// TestAdapterRubyEdDSA: the Ruby adapter with the JWKS URL and its
// audience (and the HS256 secret, which the JWKS URL overrides) keeps the
// session through Caddy's EdDSA tokens, and refuses tokens for another
// audience, expired, signed by another key, HS256 ones and alg none; the
// same with one PEM public key.
func TestAdapterRubyEdDSA(t *testing.T) {
	checkAdapterEdDSA(t, func(env ...string) string { return startRubyExampleEnv(t, true, env...) }, true)
}

// startRubyExample runs adapters/ruby/example under puma, on Sinatra's
// cookie session or with the adapter line (CADDY_SESSION=1) and the test
// secret, and returns its route.
func startRubyExample(t *testing.T, adapter bool) string {
	t.Helper()
	if adapter {
		return startRubyExampleEnv(t, true, "SESSION_SECRET="+testSecret)
	}
	return startRubyExampleEnv(t, false)
}

func startRubyExampleEnv(t *testing.T, adapter bool, env ...string) string {
	t.Helper()
	puma, err := exec.LookPath("puma")
	if err != nil {
		missingTool(t, "puma", rubyInstall)
	}
	if err := exec.Command("ruby", "-e", `require "sinatra/base"`).Run(); err != nil {
		missingTool(t, "ruby with Sinatra", rubyInstall)
	}
	dir := filepath.Join(adaptersDir(t, "ruby"), "example")
	port := testredis.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// 16 threads: the 32 concurrent writers run side by side.
	cmd := exec.Command(puma, "-e", "production", "-t", "16:16", "-b", "tcp://"+addr, filepath.Join(dir, "config.ru"))
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if adapter {
		cmd.Env = append(cmd.Env, "CADDY_SESSION=1")
	}
	cmd.Env = append(cmd.Env, env...)
	startProcess(t, "ruby example", cmd, addr)
	return "reverse_proxy " + addr
}
