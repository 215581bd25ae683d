package integration

// Sites: several sites in one Caddy, attacked where their features meet.
// A session opens only through the handler that serves the request; a
// matcher or placeholder never reaches another site's store; a handler
// gated by its own session matcher is refused at load.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// Secrets of the sites; each at least 32 bytes.
const (
	siteSecretA = "site-a-secret-0123456789abcdef-0123456789"
	siteSecretB = "site-b-secret-0123456789abcdef-0123456789"
)

// startSites runs one Caddy whose sites (host name to site body) all
// listen on one port, so that they share one server, as the sites of one
// Caddyfile on :443 do.
func startSites(t *testing.T, sites map[string]string, env ...string) *Caddy {
	t.Helper()
	c := &Caddy{t: t, Port: testredis.FreePort(t), AdminPort: testredis.FreePort(t), Dir: t.TempDir()}
	c.URL = "http://127.0.0.1:" + strconv.Itoa(c.Port)
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tpersist_config off\n}\n", c.AdminPort)
	for host, body := range sites {
		fmt.Fprintf(&b, "\nhttp://%s:%d {\n%s\n}\n", host, c.Port, body)
	}
	c.config = filepath.Join(c.Dir, "Caddyfile")
	if err := os.WriteFile(c.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c.launch(append([]string{"SECRET_A=" + siteSecretA, "SECRET_B=" + siteSecretB}, env...))
	return c
}

// siteClient is a browser that reaches every host name at c, keeping its
// cookies per host as a browser does.
func siteClient(t *testing.T, c *Caddy) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(c.Port)
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// siteURL is the URL of path on host, served by c.
func siteURL(c *Caddy, host, path string) string {
	return "http://" + host + ":" + strconv.Itoa(c.Port) + path
}

// sessionCookie is the value of the cookie name that client holds for
// host.
func sessionCookie(t *testing.T, client *http.Client, c *Caddy, host, name string) string {
	t.Helper()
	u, _ := http.NewRequest("GET", siteURL(c, host, "/"), nil)
	for _, ck := range client.Jar.Cookies(u.URL) {
		if ck.Name == name {
			return ck.Value
		}
	}
	t.Fatalf("no %s cookie for %s", name, host)
	return ""
}

// getWithCookie GETs url carrying only the cookie name=value: a hostile
// client replaying one site's cookie at another.
func getWithCookie(t *testing.T, c *Caddy, url, name, value string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	resp, err := siteClient(t, c).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(t, resp))
	return resp.StatusCode, b.String()
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// A session matcher that runs before the session handler (here under
// `redir`, ordered ahead of `session`) loads through the handler of its
// own site, never another's: sites a and b each gate /admin/ on their own
// admin session, with the default cookie name. Site c has no session
// handler: its matcher and placeholders see no session, whatever cookie
// comes. Site d gates a `handle` whose session handler is inside it (a
// second `handle` holds the same handler, for the login), and site e gates
// with a CEL expression.
func TestSitesMatcherSeesOwnSite(t *testing.T) {
	up := newOpsUpstream(t)
	up.answer("/login-admin", "X-Session-Set", `{"_auth_user_id":"1","role":"admin"}`)
	gated := func(secret, dir string) string {
		return fmt.Sprintf(`@notadmin {
	path /admin/*
	not session role admin
}
redir @notadmin /login 302
session {
	secret {env.%s}
	store file %s
}
reverse_proxy %s`, secret, dir, up.host)
	}
	dirs := t.TempDir()
	c := startSites(t, map[string]string{
		"a.test": gated("SECRET_A", filepath.Join(dirs, "a")),
		"b.test": gated("SECRET_B", filepath.Join(dirs, "b")),
		"c.test": `@admin session role admin
respond @admin "admin {http.session.role}{http.session._auth_user_id}" 200
respond "nobody {http.session.role}{http.session._auth_user_id}" 200`,
		"d.test": fmt.Sprintf(`@admin {
	path /admin/*
	session role admin
}
handle @admin {
	session {
		secret {env.SECRET_B}
		store file %[1]s
	}
	reverse_proxy %[2]s
}
handle /login-admin {
	session {
		secret {env.SECRET_B}
		store file %[1]s
	}
	reverse_proxy %[2]s
}
respond "not admin" 403`, filepath.Join(dirs, "d"), up.host),
		"e.test": fmt.Sprintf(`@notadmin expression path('/admin/*') && !session('role', 'admin')
redir @notadmin /login 302
session {
	secret {env.SECRET_A}
	store file %s
}
reverse_proxy %s`, filepath.Join(dirs, "e"), up.host),
	})

	// Each site's own admin logs in there.
	admins := map[string]string{}
	for _, host := range []string{"a.test", "b.test", "d.test", "e.test"} {
		client := siteClient(t, c)
		if status, _, _ := opsGet(t, client, siteURL(c, host, "/login-admin")); status != http.StatusOK {
			t.Fatalf("%s login: %d", host, status)
		}
		admins[host] = sessionCookie(t, client, c, host, "sessionid")
	}

	for _, tc := range []struct {
		name       string
		host, from string // the site asked, the site whose admin cookie is sent
		want       int
		bodyPrefix string
	}{
		{"a's admin at a", "a.test", "a.test", http.StatusOK, "upstream /admin/x"},
		{"b's admin at b", "b.test", "b.test", http.StatusOK, "upstream /admin/x"},
		{"e's admin at e (CEL)", "e.test", "e.test", http.StatusOK, "upstream /admin/x"},
		{"a's admin at b", "b.test", "a.test", http.StatusFound, ""},
		{"b's admin at a", "a.test", "b.test", http.StatusFound, ""},
		{"a's admin at e (CEL)", "e.test", "a.test", http.StatusFound, ""},
		{"e's admin at a", "a.test", "e.test", http.StatusFound, ""},
		{"a's admin at c (no handler)", "c.test", "a.test", http.StatusOK, "nobody "},
		{"b's admin at c (no handler)", "c.test", "b.test", http.StatusOK, "nobody "},
		{"d's admin at d (handler in the gated handle)", "d.test", "d.test", http.StatusOK, "upstream /admin/x"},
		{"a's admin at d (handler in the gated handle)", "d.test", "a.test", http.StatusForbidden, "not admin"},
		{"b's admin at d (handler in the gated handle)", "d.test", "b.test", http.StatusForbidden, "not admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := up.called("/admin/x")
			status, body := getWithCookie(t, c, siteURL(c, tc.host, "/admin/x"), "sessionid", admins[tc.from])
			if status != tc.want || !strings.HasPrefix(body, tc.bodyPrefix) {
				t.Errorf("GET %s/admin/x with %s's admin cookie = %d %q, want %d %q", tc.host, tc.from, status, body, tc.want, tc.bodyPrefix)
			}
			if reached := up.called("/admin/x") > calls; reached != (tc.want == http.StatusOK && tc.bodyPrefix != "nobody ") {
				t.Errorf("upstream reached: %v", reached)
			}
		})
	}
	if strings.Contains(c.Logs(), "panic") {
		t.Errorf("caddy logged a panic:\n%s", c.Logs())
	}
}

// The session handler's own matcher cannot test the session it is about
// to load: `session @member` with `@member session ...` is refused by
// `caddy adapt` already, and at load, with a message naming the
// fix, instead of recursing until the stack overflows on the first
// request.
func TestSitesHandlerGatedByOwnMatcherRefused(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"plain": `@member session member
session @member {
	secret {env.SESSION_SECRET}
	store memory
}
respond "ok"`,
		"not": `@guest not session member
session @guest {
	secret {env.SESSION_SECRET}
	store memory
}
respond "ok"`,
		"cel": `@member expression session('member') || path('/x')
session @member {
	secret {env.SESSION_SECRET}
	store memory
}
respond "ok"`,
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name+".Caddyfile")
			cfg := "{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:1 {\n" + body + "\n}\n"
			if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			env := []string{"SESSION_SECRET=" + testSecret, "XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config")}
			for _, args := range [][]string{
				{"adapt", "--config", file, "--adapter", "caddyfile"},
				{"adapt", "--config", file, "--adapter", "caddyfile", "--validate"},
				{"validate", "--config", file, "--adapter", "caddyfile"},
			} {
				out, err := runCaddy(t, dir, env, args...)
				if err == nil {
					t.Fatalf("caddy %s accepted a handler gated by its own session matcher:\n%s", args[0], out)
				}
				if !strings.Contains(out, "session matcher") || !strings.Contains(out, "handle") {
					t.Errorf("caddy %s: the message does not name the fix:\n%s", args[0], out)
				}
				if strings.Contains(out, "stack overflow") || strings.Contains(out, "goroutine ") {
					t.Errorf("caddy %s crashed:\n%s", args[0], out)
				}
			}
		})
	}
}

// Sites whose handlers have different secrets never open each other's
// sessions, on one default file store, one memory store or one Redis key
// prefix, with the default cookie name: a client replaying site a's cookie
// at site b gets no session there (the upstream's token says new, and b
// can neither read nor change a's session). Sites with the same secret
// share the login: that is the documented way to share one.
func TestSitesSecretsSeparateSessionsOnOneStore(t *testing.T) {
	rds := testredis.Start(t)
	for _, st := range []struct{ name, store string }{
		{"default file store", ""},
		{"memory", "store memory"},
		{"one redis prefix", "store redis {\n\t\taddress " + rds.Addr() + "\n\t}"},
	} {
		t.Run(st.name, func(t *testing.T) {
			up := newOpsUpstream(t)
			up.answer("/login", "X-Session-Set", `{"_auth_user_id":"1"}`)
			up.answer("/write", "X-Session-Set", `{"written_by":"b"}`)
			site := func(secret string) string {
				return fmt.Sprintf("session {\n\tsecret {env.%s}\n\t%s\n}\nreverse_proxy %s", secret, st.store, up.host)
			}
			c := startSites(t, map[string]string{
				"a.test":     site("SECRET_A"),
				"b.test":     site("SECRET_B"),
				"alsoa.test": site("SECRET_A"),
			})
			client := siteClient(t, c)
			if status, _, _ := opsGet(t, client, siteURL(c, "a.test", "/login")); status != http.StatusOK {
				t.Fatalf("login at a: %d", status)
			}
			key := sessionCookie(t, client, c, "a.test", "sessionid")

			claims := func(host, path string) map[string]any {
				t.Helper()
				if status, _ := getWithCookie(t, c, siteURL(c, host, path), "sessionid", key); status != http.StatusOK {
					t.Fatalf("GET %s%s: %d", host, path, status)
				}
				var got map[string]any
				if err := decodePayload(up.header(path).Get("X-Session"), &got); err != nil {
					t.Fatal(err)
				}
				return got
			}
			if got := claims("b.test", "/b"); got["new"] != true || fmt.Sprint(got["data"]) != "map[]" {
				t.Errorf("site b opened site a's session: %v", got)
			}
			// b's write with a's cookie starts b's own session; a's stays.
			claims("b.test", "/write")
			if got := claims("a.test", "/a"); got["new"] != false || fmt.Sprint(got["data"]) != "map[_auth_user_id:1]" {
				t.Errorf("site a's session after b's write: %v", got)
			}
			if got := claims("alsoa.test", "/alsoa"); got["new"] != false || fmt.Sprint(got["data"]) != "map[_auth_user_id:1]" {
				t.Errorf("a site with a's secret does not share a's login: %v", got)
			}
		})
	}
}

// signed_cookies under HS256 with the Django key left to default to
// secret, or set to it, would let any app (which holds secret) mint a
// session cookie for any user: refused by `caddy adapt` and at load, with
// the fix in the message. A Django key of its own, or EdDSA, is accepted.
func TestSitesSignedCookiesNeedOwnDjangoKey(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SESSION_SECRET=" + testSecret, "SAME_SECRET=" + testSecret, "DJANGO_SECRET_KEY=django-secret-key-0123456789abcdef-xyz",
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config")}
	write := func(name, body string) string {
		file := filepath.Join(dir, name+".Caddyfile")
		cfg := "{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:1 {\n\tsession {\n\t\tsecret {env.SESSION_SECRET}\n\t\tcodec django\n\t\tstore signed_cookies\n" + body + "\t}\n\trespond \"ok\"\n}\n"
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	for _, tc := range []struct {
		name, body string
		adapt      bool // refused by `caddy adapt` already, without the environment
		ok         bool
	}{
		{"default django key", "", true, false},
		{"django key written as secret", "\t\tdjango_secret_key {env.SESSION_SECRET}\n", true, false},
		{"django key equal once expanded", "\t\tdjango_secret_key {env.SAME_SECRET}\n", false, false},
		{"django key of its own", "\t\tdjango_secret_key {env.DJANGO_SECRET_KEY}\n", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := write(strings.ReplaceAll(tc.name, " ", "-"), tc.body)
			out, err := runCaddy(t, dir, env, "adapt", "--config", file, "--adapter", "caddyfile")
			if refused := err != nil; refused != tc.adapt {
				t.Errorf("caddy adapt refused: %v, want %v:\n%s", refused, tc.adapt, out)
			}
			out, err = runCaddy(t, dir, env, "validate", "--config", file, "--adapter", "caddyfile")
			if (err == nil) != tc.ok {
				t.Fatalf("caddy validate accepted: %v, want %v:\n%s", err == nil, tc.ok, out)
			}
			if !tc.ok && !strings.Contains(out, "set django_secret_key") {
				t.Errorf("the message does not name the fix:\n%s", out)
			}
		})
	}
}
