package integration

// Issue 19, PHP: two unchanged, widely deployed PHP applications from
// Debian's archive, Adminer and phpMyAdmin, against a MariaDB of the
// test's own, driven like a browser: log in, run a query through a form
// that carries the session's CSRF token, log out. Each runs natively (PHP's
// files sessions) and behind the session handler with its defaults and the
// adapter prepended, through the same Caddy and php-fpm.

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

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// mariaDB is a MariaDB server of the test's own, on a free port.
type mariaDB struct {
	addr, user, password, db string
}

// startMariaDB initializes a data directory and runs mariadbd on it (as
// the current user), with a user that owns one database.
func startMariaDB(t *testing.T) mariaDB {
	t.Helper()
	mariadbd, err := exec.LookPath("mariadbd")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/mariadbd"); err != nil {
			missingTool(t, "mariadbd", "apt-get install -y mariadb-server")
		}
		mariadbd = "/usr/sbin/mariadbd"
	}
	client, err := exec.LookPath("mariadb")
	if err != nil {
		missingTool(t, "mariadb", "apt-get install -y mariadb-client")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "mysqld.sock")
	user := []string{}
	if os.Geteuid() == 0 {
		user = []string{"--user=root"}
	}
	install := exec.Command("mariadb-install-db", append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=socket", "--skip-test-db"}, user...)...)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	port := testredis.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, "mariadbd", exec.Command(mariadbd, append([]string{"--no-defaults", "--datadir=" + data,
		"--socket=" + sock, "--bind-address=127.0.0.1", "--port=" + strconv.Itoa(port),
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"), "--skip-log-bin", "--innodb-buffer-pool-size=16M"}, user...)...), addr)
	m := mariaDB{addr: addr, user: "legacy", password: "s3cret-" + strconv.Itoa(port), db: "legacy"}
	sql := fmt.Sprintf(`CREATE DATABASE %[1]s;
CREATE USER '%[2]s'@'127.0.0.1' IDENTIFIED BY '%[3]s';
CREATE USER '%[2]s'@'localhost' IDENTIFIED BY '%[3]s';
GRANT ALL ON %[1]s.* TO '%[2]s'@'127.0.0.1';
GRANT ALL ON %[1]s.* TO '%[2]s'@'localhost';
CREATE TABLE %[1]s.answers (id INT PRIMARY KEY, answer VARCHAR(40));
INSERT INTO %[1]s.answers VALUES (1, 'forty-two');`, m.db, m.user, m.password)
	cmd := exec.Command(client, "--no-defaults", "--socket="+sock, "-uroot")
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("creating the test database: %v\n%s", err, out)
	}
	return m
}

// legacyApp is one PHP application under test.
type legacyApp struct {
	name string
	// root builds the document root (the package's files, unchanged).
	root func(t *testing.T, db mariaDB) string
	// flow logs in, runs a query, logs out; loggedIn is called once the
	// browser is logged in.
	flow func(t *testing.T, base string, db mariaDB, loggedIn func(*http.Client))
	// cookie is the app's own session cookie, page a page it is sent to.
	cookie, page string
}

// TestLegacyPHPApps: Adminer and phpMyAdmin log in, run a query and log
// out, natively and behind the module with its defaults.
func TestLegacyPHPApps(t *testing.T) {
	db := startMariaDB(t)
	for _, app := range []legacyApp{
		{name: "adminer", root: adminerRoot, flow: adminerFlow, cookie: "adminer_sid", page: "/adminer.php"},
		{name: "phpmyadmin", root: phpMyAdminRoot, flow: phpMyAdminFlow, cookie: "phpMyAdmin", page: "/index.php"},
	} {
		t.Run(app.name, func(t *testing.T) {
			root := app.root(t, db)
			for _, adapter := range []bool{false, true} {
				name := "native"
				if adapter {
					name = "behind the module"
				}
				t.Run(name, func(t *testing.T) {
					s := startLegacyPHP(t, root, adapter, "")
					// The login lives in the session it should: PHP's own
					// (the app's cookie), or Caddy's (sessionid, and no
					// cookie of PHP's).
					want, unwanted := app.cookie, "sessionid"
					if adapter {
						want, unwanted = unwanted, want
					}
					app.flow(t, s.url, db, func(client *http.Client) {
						u, _ := url.Parse(s.url + app.page)
						names := map[string]bool{}
						for _, c := range client.Jar.Cookies(u) {
							names[c.Name] = true
						}
						if !names[want] || names[unwanted] {
							t.Errorf("logged in with the cookies %v; want %s and no %s", names, want, unwanted)
						}
					})
					if t.Failed() {
						logged, _ := os.ReadFile(s.errorLog)
						t.Logf("PHP's error log:\n%s", logged)
						t.Logf("Caddy's log:\n%s", s.caddy.Logs())
					}
				})
			}
		})
	}
}

// --- Adminer ---

func adminerRoot(t *testing.T, _ mariaDB) string {
	t.Helper()
	const root = "/usr/share/adminer"
	if _, err := os.Stat(filepath.Join(root, "adminer.php")); err != nil {
		missingTool(t, "Adminer", "apt-get install -y adminer php-mysql")
	}
	return root
}

var tokenField = regexp.MustCompile(`name=["']?token["']? value=["']?([^"' >]+)`)

// formToken is the CSRF token of the first form in page that has one.
func formToken(t *testing.T, what string, page []byte) string {
	t.Helper()
	m := tokenField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("%s: no token field in the page:\n%.3000s", what, page)
	}
	return html.UnescapeString(string(m[1]))
}

func adminerFlow(t *testing.T, base string, db mariaDB, loggedIn func(*http.Client)) {
	client := newClient(t)
	page := base + "/adminer.php"
	resp, body := send(t, client, "GET", page, "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "auth[username]") {
		t.Fatalf("the login form: status %d\n%.2000s", resp.StatusCode, body)
	}
	form := url.Values{"auth[driver]": {"server"}, "auth[server]": {db.addr}, "auth[username]": {db.user},
		"auth[password]": {db.password}, "auth[db]": {db.db}}
	resp, body = send(t, client, "POST", page, "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("log in: status %d, want 302\n%.3000s", resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	// Logged in: the database's page lists its table.
	resp, body = send(t, client, "GET", loc.String(), "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "answers") || !strings.Contains(string(body), "Logout") {
		t.Fatalf("after log in: status %d, want the database's page\n%.3000s", resp.StatusCode, body)
	}
	loggedIn(client)

	// The SQL command page: its form carries the session's token.
	q := loc.Query()
	q.Set("sql", "")
	sqlPage := page + "?" + q.Encode()
	_, body = send(t, client, "GET", sqlPage, "", nil)
	token := formToken(t, "the SQL command page", body)
	form = url.Values{"query": {"SELECT answer FROM answers WHERE id = 1"}, "limit": {""}, "token": {token}}
	resp, body = send(t, client, "POST", sqlPage, "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "forty-two") {
		t.Fatalf("the query: status %d, want its result\n%.3000s", resp.StatusCode, body)
	}
	// A forged token is refused: the token really is the session's.
	form.Set("token", "1:forged")
	_, body = send(t, client, "POST", sqlPage, "application/x-www-form-urlencoded", []byte(form.Encode()))
	if strings.Contains(string(body), "forty-two") {
		t.Errorf("a query with a forged token ran")
	}

	// Log out, and the next visit asks for a login again.
	_, body = send(t, client, "GET", loc.String(), "", nil)
	token = formToken(t, "the page with the logout form", body)
	form = url.Values{"logout": {"Logout"}, "token": {token}}
	resp, body = send(t, client, "POST", loc.String(), "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("log out: status %d, want 302\n%.3000s", resp.StatusCode, body)
	}
	resp, body = send(t, client, "GET", loc.String(), "", nil)
	if !strings.Contains(string(body), "auth[username]") {
		t.Errorf("after log out: status %d, want the login form\n%.2000s", resp.StatusCode, body)
	}
}

// --- phpMyAdmin ---

// phpMyAdminRoot is a document root that serves Debian's phpMyAdmin
// unchanged, with a configuration of the test's own: index.php copied (so
// that phpMyAdmin's ROOT_PATH is this root), every other file linked, and
// the distributor's libraries/vendor_config.php naming the test's
// config.inc.php and temporary directory instead of /etc/phpmyadmin's.
func phpMyAdminRoot(t *testing.T, db mariaDB) string {
	t.Helper()
	const pkg = "/usr/share/phpmyadmin"
	if _, err := os.Stat(filepath.Join(pkg, "index.php")); err != nil {
		missingTool(t, "phpMyAdmin", "apt-get install -y phpmyadmin php-mysql")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "phpmyadmin")
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{root, tmp, filepath.Join(root, "libraries")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(from, to string, except ...string) {
		entries, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !contains(except, e.Name()) {
				if err := os.Symlink(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	link(pkg, root, "index.php", "libraries")
	link(filepath.Join(pkg, "libraries"), filepath.Join(root, "libraries"), "vendor_config.php")
	index, err := os.ReadFile(filepath.Join(pkg, "index.php"))
	if err != nil {
		t.Fatal(err)
	}
	vendor, err := os.ReadFile(filepath.Join(pkg, "libraries", "vendor_config.php"))
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.inc.php")
	v := strings.Replace(string(vendor), "'/etc/phpmyadmin/config.inc.php'", strconv.Quote(config), 1)
	v = strings.Replace(v, "'/var/lib/phpmyadmin/tmp/'", strconv.Quote(tmp+"/"), 1)
	if v == string(vendor) {
		t.Fatal("libraries/vendor_config.php names neither /etc/phpmyadmin/config.inc.php nor /var/lib/phpmyadmin/tmp/")
	}
	host, port, _ := strings.Cut(db.addr, ":")
	cfg := fmt.Sprintf(`<?php
$cfg['blowfish_secret'] = %q;
$cfg['Servers'][1]['auth_type'] = 'cookie';
$cfg['Servers'][1]['host'] = %q;
$cfg['Servers'][1]['port'] = %q;
$cfg['Servers'][1]['connect_type'] = 'tcp';
$cfg['TempDir'] = %q;
$cfg['VersionCheck'] = false;
$cfg['SendErrorReports'] = 'never';
`, strings.Repeat("k", 32), host, port, tmp)
	for name, content := range map[string]string{
		filepath.Join(root, "index.php"):                      string(index),
		filepath.Join(root, "libraries", "vendor_config.php"): v,
		config: cfg,
	} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func phpMyAdminFlow(t *testing.T, base string, db mariaDB, loggedIn func(*http.Client)) {
	client := newClient(t)
	resp, body := send(t, client, "GET", base+"/index.php", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "pma_username") {
		t.Fatalf("the login form: status %d\n%.3000s", resp.StatusCode, body)
	}
	token := formToken(t, "the login form", body)
	form := url.Values{"pma_username": {db.user}, "pma_password": {db.password}, "server": {"1"},
		"token": {token}, "set_session": {""}, "route": {"/"}}
	resp, body = send(t, client, "POST", base+"/index.php?route=/", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("log in: status %d, want 302\n%.3000s", resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	resp, body = send(t, client, "GET", loc.String(), "", nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "pma_username") || !strings.Contains(string(body), "logout") {
		t.Fatalf("after log in: status %d, want the home page, logged in\n%.3000s", resp.StatusCode, body)
	}
	loggedIn(client)
	token = formToken(t, "the home page", body)

	// A query through the SQL form, which checks the session's token.
	form = url.Values{"db": {db.db}, "sql_query": {"SELECT answer FROM answers WHERE id = 1"}, "token": {token},
		"server": {"1"}, "ajax_request": {"true"}, "pos": {"0"}}
	resp, body = send(t, client, "POST", base+"/index.php?route=/sql", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "forty-two") {
		t.Fatalf("the query: status %d, want its result\n%.3000s", resp.StatusCode, body)
	}
	form.Set("token", "forged")
	_, body = send(t, client, "POST", base+"/index.php?route=/sql", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if strings.Contains(string(body), "forty-two") {
		t.Errorf("a query with a forged token ran")
	}

	// Log out, and the next visit asks for a login again.
	form = url.Values{"token": {token}, "server": {"1"}}
	resp, body = send(t, client, "POST", base+"/index.php?route=/logout", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusOK {
		t.Fatalf("log out: status %d\n%.3000s", resp.StatusCode, body)
	}
	_, body = send(t, client, "GET", base+"/index.php", "", nil)
	if !strings.Contains(string(body), "pma_username") {
		t.Errorf("after log out: want the login form\n%.2000s", body)
	}
}
