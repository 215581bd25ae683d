package integration

// Issue 19, PHP: what unchanged PHP apps keep in their sessions and when
// they write them. Each page of integration/upstreams/php-legacy runs on
// PHP's own files sessions and behind the session handler (defaults, the
// adapter by auto_prepend_file), through the same Caddy and php-fpm; a
// browser must see the same pages in both.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// legacyPHP is one setup: a Caddy in front of php-fpm serving dir, on PHP's
// own sessions (adapter false) or behind the session handler.
type legacyPHP struct {
	url      string
	errorLog string
	caddy    *Caddy
}

// startLegacyPHP serves root with php_fastcgi, natively or with the
// adapter prepended behind `session` with its defaults; pool adds lines to
// the php-fpm pool.
func startLegacyPHP(t *testing.T, root string, adapter bool, pool string) legacyPHP {
	t.Helper()
	dir := t.TempDir()
	errorLog := filepath.Join(dir, "php-errors.log")
	pool += "php_admin_value[error_log] = " + errorLog + "\nphp_admin_flag[log_errors] = on\n"
	site := ""
	if adapter {
		pool += "php_admin_value[auto_prepend_file] = " + filepath.Join(adaptersDir(t, "php"), "caddy-session.php") + "\n"
		// The object key file the adapter creates on first use, here
		// rather than in session.save_path.
		pool += "env[CADDY_SESSION_PHP_OBJECT_KEY_FILE] = " + filepath.Join(dir, "object.key") + "\n"
		site = "session {\n\tsecret {env.SESSION_SECRET}\n}\n"
	} else {
		sessions := filepath.Join(dir, "sessions")
		if err := os.Mkdir(sessions, 0o700); err != nil {
			t.Fatal(err)
		}
		pool += "php_admin_value[session.save_path] = " + sessions + "\n"
	}
	addr := startPHPFPM(t, 4, pool)
	c := startCaddy(t, "", fmt.Sprintf("%sroot * %s\nphp_fastcgi %s", site, root, addr))
	return legacyPHP{url: c.URL, errorLog: errorLog, caddy: c}
}

func legacyPagesDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("upstreams", "php-legacy"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLegacyPHPRepros: the four repros of issue 19 and two more, each page
// requested three times by one browser, natively and behind the module; the
// outputs must be the expected ones in both.
func TestLegacyPHPRepros(t *testing.T) {
	root := legacyPagesDir(t)
	setups := map[string]legacyPHP{
		"native":  startLegacyPHP(t, root, false, ""),
		"adapter": startLegacyPHP(t, root, true, ""),
	}
	for _, tc := range []struct {
		page string
		want []string
	}{
		// A ~6 KB session (default size limit).
		{"size.php", []string{"n=1", "n=2", "n=3"}},
		// 64 KiB under php_fastcgi with the defaults.
		{"big.php", []string{"n=1 big=65504", "n=2 big=65504", "n=3 big=65504"}},
		// random_bytes() kept and given back byte for byte.
		{"binary.php", []string{"n=1 same=true", "n=2 same=true", "n=3 same=true"}},
		// exit in a shutdown function, with an error handler installed.
		{"exit.php", []string{"n=1", "n=2", "n=3"}},
		// a write in a destructor.
		{"destruct.php", []string{"d=1", "d=2", "d=3"}},
	} {
		t.Run(strings.TrimSuffix(tc.page, ".php"), func(t *testing.T) {
			for name, s := range setups {
				client := newClient(t)
				for i, want := range tc.want {
					resp, body := send(t, client, "GET", s.url+"/"+tc.page, "", nil)
					if resp.StatusCode != http.StatusOK || string(body) != want {
						t.Errorf("%s, request %d: status %d, %q; want 200, %q", name, i+1, resp.StatusCode, body, want)
					}
				}
			}
		})
	}

	// Objects, dates, binary strings inside objects, integer keys, a key
	// that looks like a tag: the page prints the session as PHP sees it.
	t.Run("values", func(t *testing.T) {
		pages := map[string][]string{}
		for name, s := range setups {
			client := newClient(t)
			for i := 0; i < 3; i++ {
				resp, body := send(t, client, "GET", s.url+"/values.php", "", nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s, request %d: status %d; body %s", name, i+1, resp.StatusCode, body)
				}
				pages[name] = append(pages[name], string(body))
			}
		}
		for i := range pages["native"] {
			if pages["native"][i] != pages["adapter"][i] {
				t.Errorf("request %d: behind the module\n%s\nnatively\n%s", i+1, pages["adapter"][i], pages["native"][i])
			}
		}
	})
}

// TestLegacyPHPLostChange: a change made after the app sent the first byte
// of its body cannot reach Caddy; what was changed before it is kept, and
// PHP's error log says what is lost even though the app's error handler
// swallows every error.
func TestLegacyPHPLostChange(t *testing.T) {
	s := startLegacyPHP(t, legacyPagesDir(t), true, "")
	client := newClient(t)
	for i, want := range []string{"n=1", "n=2"} {
		resp, body := send(t, client, "GET", s.url+"/lost.php", "", nil)
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("request %d: status %d, %q; want 200, %q", i+1, resp.StatusCode, body, want)
		}
	}
	logged, _ := os.ReadFile(s.errorLog)
	if !strings.Contains(string(logged), "cannot be sent to Caddy and are LOST") {
		t.Errorf("PHP's error log does not report the lost change:\n%s", logged)
	}
}

// TestLegacyPHPObjectInjection: another upstream of the same session (here
// Caddy's own `header` directive) writes a PHP object value. Without this
// app's object key it is refused: PHP creates no object and runs none of
// its methods, and the refusal is logged. Signed with the app's key it is
// the app's own object again.
func TestLegacyPHPObjectInjection(t *testing.T) {
	const objectKey = "the-php-apps-own-object-key-0123456789"
	for _, tc := range []struct {
		name, key, want string
	}{
		{"forged", "the session secret, or any key but the app's", "evil=absent"},
		{"the app's own", objectKey, "evil=Gadget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errorLog := filepath.Join(t.TempDir(), "php-errors.log")
			addr := startPHPFPM(t, 2, "env[CADDY_SESSION_PHP_OBJECT_KEY] = "+objectKey+"\n"+
				"php_admin_value[auto_prepend_file] = "+filepath.Join(adaptersDir(t, "php"), "caddy-session.php")+"\n"+
				"php_admin_value[error_log] = "+errorLog+"\nphp_admin_flag[log_errors] = on\n")
			const class, ser = "Gadget", `O:6:"Gadget":1:{s:3:"cmd";s:2:"id";}`
			mac := hmac.New(sha256.New, []byte(tc.key))
			mac.Write([]byte(class + "\n" + ser))
			value, _ := json.Marshal(map[string]any{"evil": map[string]any{" php": map[string]string{
				"c": class, "s": ser, "h": hex.EncodeToString(mac.Sum(nil))}}})
			c := startCaddy(t, "", fmt.Sprintf(`session {
	secret {env.SESSION_SECRET}
}
handle /forge {
	header X-Session-Set `+"`%s`"+`
	respond "forged" 200
}
handle {
	root * %s
	php_fastcgi %s
}`, value, legacyPagesDir(t), addr))
			client := newClient(t)
			if resp, body := send(t, client, "GET", c.URL+"/forge", "", nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /forge: status %d, %s", resp.StatusCode, body)
			}
			resp, body := send(t, client, "GET", c.URL+"/inject.php", "", nil)
			if resp.StatusCode != http.StatusOK || string(body) != tc.want {
				t.Errorf("GET /inject.php: status %d, %q; want 200, %q", resp.StatusCode, body, tc.want)
			}
			logged, _ := os.ReadFile(errorLog)
			gadget := strings.Contains(string(logged), "GADGET")
			refused := strings.Contains(string(logged), "$_SESSION['evil'] refused")
			if tc.want == "evil=absent" && (gadget || !refused) {
				t.Errorf("a forged object: PHP's error log shows gadgets run %v, the refusal logged %v:\n%s", gadget, refused, logged)
			}
			if tc.want != "evil=absent" && refused {
				t.Errorf("the app's own object was refused:\n%s", logged)
			}
		})
	}
}

// TestLegacyPHPReadsEveryTag: values written in the convention by another
// upstream (Flask's tags, Ruby's, an unknown tag, an escaped one) reach a
// PHP app as docs/adapters.md says.
func TestLegacyPHPReadsEveryTag(t *testing.T) {
	addr := startPHPFPM(t, 2, "php_admin_value[auto_prepend_file] = "+filepath.Join(adaptersDir(t, "php"), "caddy-session.php")+"\n")
	written := `{"bytes":{" b":"/wABAg=="},"tuple":{" t":[1,{" b":"AA=="}]},"uuid":{" u":"7f1c2a3e-0c1d-4e5f-8a9b-0c1d2e3f4a5b"},` +
		`"markup":{" m":"<b>hi</b>"},"flask_time":{" d":"Wed, 21 Oct 2015 07:28:00 GMT"},` +
		`"ruby_time":{" tm":"2026-12-05T08:00:00.123456789+01:00"},"symbol":{" sym":"admin"},` +
		`"escaped":{" di":{" b__":"not base64"}},"unknown":{" zz":1},"plain":{"a":[1,"é"]}}`
	c := startCaddy(t, "", fmt.Sprintf(`session {
	secret {env.SESSION_SECRET}
}
handle /write {
	header X-Session-Set `+"`%s`"+`
	respond "written" 200
}
handle {
	root * %s
	php_fastcgi %s
}`, written, legacyPagesDir(t), addr))
	client := newClient(t)
	if resp, body := send(t, client, "GET", c.URL+"/write", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /write: status %d, %s", resp.StatusCode, body)
	}
	resp, body := send(t, client, "GET", c.URL+"/tags.php", "", nil)
	want := `{"bytes":"binary ff000102","escaped":{" b":"not base64"},"flask_time":"DateTimeImmutable 2015-10-21T07:28:00.000000+00:00",` +
		`"markup":"<b>hi</b>","plain":{"a":[1,"é"]},"ruby_time":"DateTimeImmutable 2026-12-05T08:00:00.123456+01:00",` +
		`"symbol":"admin","tuple":[1,"\u0000"],"unknown":{" zz":1},"uuid":"7f1c2a3e-0c1d-4e5f-8a9b-0c1d2e3f4a5b"}`
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("GET /tags.php: status %d\n got %s\nwant %s", resp.StatusCode, body, want)
	}
}
