package integration

// A real, unchanged Sinatra application from Debian's archive behind the
// Ruby adapter: debci's self-service (Debian package debci, the web side of
// Debian's CI). Its login form carries the CSRF token it keeps in the
// session (Rack::Protection's, checked by OmniAuth), the login keeps the
// user and the page asked for in the session, and the pages behind it
// read them; logout sets the user to nil. debci logs in through Salsa's
// OAuth, or, in its development environment, through OmniAuth's developer
// form: the test uses that one (there is no network to Salsa).

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// debciSelfService is where Debian's debci package keeps the app.
const debciSelfService = "/usr/lib/ruby/vendor_ruby/debci/self_service.rb"

// TestAdapterRubyDebci: debci's self-service logs in, works and logs out
// the same on Sinatra's cookie session and behind the module with the
// adapter, with the module's defaults.
func TestAdapterRubyDebci(t *testing.T) {
	if _, err := os.Stat(debciSelfService); err != nil {
		missingTool(t, "debci", "apt-get install -y --no-install-recommends debci")
	}
	if _, err := exec.LookPath("puma"); err != nil {
		missingTool(t, "puma", rubyInstall)
	}
	data := t.TempDir()
	env := []string{"debci_data_basedir=" + data, "debci_database_url=sqlite3://" + filepath.Join(data, "debci.sqlite3"), "debci_quiet=true"}
	migrate := exec.Command("ruby", "-e", `require "debci/db"; Debci::DB.migrate`)
	migrate.Env = append(os.Environ(), env...)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("debci's database migration: %v\n%s", err, out)
	}

	t.Run("native", func(t *testing.T) {
		c := startCaddy(t, "", startDebci(t, false, env))
		testDebciFlow(t, c.URL, "rack.session")
	})
	t.Run("adapter", func(t *testing.T) {
		route := startDebci(t, true, env)
		c := startCaddy(t, "", fmt.Sprintf("session {\n\tsecret {env.SESSION_SECRET}\n\tstore redis {\n\t\taddress %s\n\t}\n}\n%s",
			testredis.Start(t).Addr(), route))
		testDebciFlow(t, c.URL, "sessionid")
	})
}

// startDebci runs debci's self-service under puma, mounted at /user as
// debci's own config.ru mounts it, with the adapter line or without.
func startDebci(t *testing.T, adapter bool, env []string) string {
	t.Helper()
	dir := t.TempDir()
	// debci loads in a minute on a busy machine (ActiveRecord, its shell
	// configuration): Puma listens at once and the first request waits
	// for the app, which is mounted at /user as debci's own config.ru does.
	ru := `loaded = Queue.new
Thread.new { require 'debci/self_service'; loaded << Rack::URLMap.new('/user' => Debci::SelfService) }
app = nil
lock = Mutex.new
run ->(env) { lock.synchronize { app ||= loaded.pop }.call(env) }
`
	if adapter {
		ru = "require 'caddy_session/sinatra'\n" + ru // the adapter line
	}
	if err := os.WriteFile(filepath.Join(dir, "config.ru"), []byte(ru), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testredis.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("puma", "-e", "development", "-t", "4:4", "-b", "tcp://"+addr, "config.ru")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "RUBYLIB="+filepath.Join(adaptersDir(t, "ruby"), "lib"))
	if adapter {
		cmd.Env = append(cmd.Env, "SESSION_SECRET="+testSecret)
	}
	startProcess(t, "debci", cmd, addr)
	// Wait for the app to load: its login form answers.
	ready := &http.Client{Timeout: 10 * time.Minute}
	resp, err := ready.Get("http://" + addr + "/user/login")
	if err != nil {
		t.Fatalf("debci did not load: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("debci's login form answered %d", resp.StatusCode)
	}
	return "reverse_proxy " + addr
}

var debciToken = regexp.MustCompile(`name="authenticity_token" value="([^"]*)"`)

func testDebciFlow(t *testing.T, base, cookie string) {
	client := newClient(t)
	get := func(path string, want int) (*http.Response, string) {
		t.Helper()
		resp, body := send(t, client, "GET", base+path, "", nil)
		if resp.StatusCode != want {
			t.Fatalf("GET %s: status %d, want %d; body %.300s", path, resp.StatusCode, want, body)
		}
		return resp, string(body)
	}
	post := func(path string, form url.Values, want int) (*http.Response, string) {
		t.Helper()
		resp, body := send(t, client, "POST", base+path, "application/x-www-form-urlencoded", []byte(form.Encode()))
		if resp.StatusCode != want {
			t.Fatalf("POST %s: status %d, want %d; body %.300s", path, resp.StatusCode, want, body)
		}
		return resp, string(body)
	}
	wantLocation := func(resp *http.Response, path string) {
		t.Helper()
		if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, path) {
			t.Errorf("%s %s: Location %q, want %s", resp.Request.Method, resp.Request.URL.Path, loc, path)
		}
	}

	// The login needs the CSRF token the session keeps: a wrong one fails.
	get("/user/login", http.StatusOK)
	resp, _ := send(t, client, "POST", base+"/user/auth/developer", "application/x-www-form-urlencoded",
		[]byte(url.Values{"authenticity_token": {"forged"}}.Encode()))
	if resp.StatusCode == http.StatusOK {
		t.Errorf("POST /user/auth/developer with a forged token: status 200, want a refusal")
	}

	// A page behind the login sends to the login form, and remembers the
	// page in the session.
	resp, _ = get("/user/alice/jobs", http.StatusFound)
	wantLocation(resp, "/user/login")
	_, form := get("/user/login", http.StatusOK)
	m := debciToken.FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("the login form has no authenticity_token:\n%.500s", form)
	}
	csrf := html.UnescapeString(m[1])
	if csrf == "" {
		t.Fatalf("the login form's authenticity_token is empty: the session's csrf was not kept")
	}

	post("/user/auth/developer", url.Values{"authenticity_token": {csrf}}, http.StatusOK)
	resp, _ = post("/user/auth/developer/callback", url.Values{"name": {"alice"}}, http.StatusSeeOther)
	wantLocation(resp, "/user/alice/jobs") // the page asked for, from the session
	if !hasCookie(client, base, cookie) {
		t.Errorf("after the login the browser holds no %s cookie", cookie)
	}

	// Pages that need the logged-in user.
	if _, page := get("/user/alice", http.StatusOK); !strings.Contains(page, "Welcome alice!") {
		t.Errorf("GET /user/alice after the login does not welcome alice:\n%.500s", page)
	}
	get("/user/alice/jobs", http.StatusOK)
	if _, key := post("/user/alice/getkey", url.Values{}, http.StatusCreated); len(strings.TrimSpace(key)) < 16 {
		t.Errorf("POST /user/alice/getkey: %q, want an API key", key)
	}

	// Logout: the user is gone, the pages send to the login again.
	get("/user/logout", http.StatusFound)
	resp, _ = get("/user/alice", http.StatusFound)
	wantLocation(resp, "/user/login")
}

func hasCookie(client *http.Client, base, name string) bool {
	u, _ := url.Parse(base + "/")
	for _, c := range client.Jar.Cookies(u) {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}
