package integration

// The smuggling matrix of reliability_smuggling_test.go over HTTP/3, part
// of the reliability suite's scenario 8 (its figures render into
// docs/reliability.md beside HTTP/1.1's and HTTP/2's): Caddy
// serves QUIC by default on every HTTPS site, so the stripping of the
// session family in both directions (headers, duplicates, empty values,
// request and response trailers, 103 Early Hints, 5xx) and the one genuine
// token must hold there too. The client is quic-go's, the one Caddy itself
// serves with, trusting Caddy's internal CA from its data directory.
//
// Request trailers: over HTTP/3 none reaches any upstream, forged or not
// (quic-go hands them to the request it holds, not to the copy Caddy's
// handlers see), so the matrix records that the control trailer did not
// arrive; a forged one arriving would still count as a leak.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/caddy-session/caddy-session/internal/relreport"
	"github.com/caddy-session/caddy-session/internal/testredis"
)

func TestReliabilitySmugglingHTTP3(t *testing.T) {
	spellings := smugSpellings(relreport.Scale(80, 2000))
	php := smugStartPHP(t)
	wsgi := smugStartGunicorn(t)
	node := smugStartNode(t)
	c := smugStartCaddy(t, spellings, php, wsgi, node)
	h3 := http3Client(t, c.Caddy)
	waitHTTP3(t, h3, c.h2URL+"/node/?do=echo")

	// The session works over QUIC: an update persists, the cookie comes
	// back Secure, and the next request's upstream gets one genuine token
	// carrying it.
	t.Run("session round trip", func(t *testing.T) {
		spec, _ := json.Marshal(smugSpec{Status: 200, Headers: [][2]string{{"X-Session-Set", `{"user":"h3"}`}}})
		resp := http3Get(t, h3, c.h2URL+"/node/?do=respond&spec="+url.QueryEscape(base64.RawURLEncoding.EncodeToString(spec)), nil)
		var cookie *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "sessionid" {
				cookie = ck
			}
		}
		if resp.StatusCode != http.StatusOK || cookie == nil || !cookie.Secure {
			t.Fatalf("login over HTTP/3: status %d, cookie %v; want 200 and a Secure session cookie", resp.StatusCode, cookie)
		}
		echoResp := http3Get(t, h3, c.h2URL+"/node/?do=echo", cookie)
		var echo smugEcho
		body, _ := io.ReadAll(echoResp.Body)
		if err := json.Unmarshal(body, &echo); err != nil {
			t.Fatalf("echo %q: %v", body, err)
		}
		var tokens []string
		for _, kv := range echo.Headers {
			if smugInFamily(kv[0]) {
				tokens = append(tokens, kv[1])
			}
		}
		if len(tokens) != 1 || smugVerifyHS256(tokens[0]) != nil {
			t.Fatalf("the upstream got session headers %q, want one token signed with the secret", tokens)
		}
		var claims struct {
			Data map[string]any `json:"data"`
			New  bool           `json:"new"`
		}
		if err := decodePayload(tokens[0], &claims); err != nil || claims.New || claims.Data["user"] != "h3" {
			t.Fatalf("token claims %+v (%v), want the stored session {user: h3}", claims, err)
		}
	})

	// The detector must see what it is to count: over HTTP/3, with no
	// session handler, each vehicle the matrix tries there carries a
	// family header through.
	t.Run("detector sees leaks without the handler", func(t *testing.T) {
		bare := http3BareSite(t, node)
		client := http3Client(t, bare)
		base := "https://127.0.0.1:" + strconv.Itoa(bare.Port)
		waitHTTP3(t, client, base+"/?do=echo")
		r := &smugRun{t: t, stack: smugStacks[2], base: base, client: client, major: 3}
		req, err := http.NewRequest(http.MethodPost, base+"/?do=echo", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header["x-SESSION-set"] = []string{smugForged}
		echoResp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(echoResp.Body)
		echoResp.Body.Close()
		var echo smugEcho
		if err := json.Unmarshal(body, &echo); err != nil {
			t.Fatalf("echo %q: %v", body, err)
		}
		if leaks, _, _ := r.countRequestLeaks(echo); leaks == 0 {
			t.Errorf("a forged request header went unseen over HTTP/3 without the handler (echo %q)", echo.Headers)
		}
		spec, _ := json.Marshal(smugSpec{Status: 200,
			Headers:  [][2]string{{"X-Session-Set", smugValid("set")}},
			Trailers: [][2]string{{"X-Session-Clear", smugSmuggled}},
			Hints:    [][2]string{{"X-Session-Flush", smugSmuggled}},
		})
		var hints []http.Header
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			Got1xxResponse: func(_ int, h textproto.MIMEHeader) error {
				hints = append(hints, http.Header(h).Clone())
				return nil
			},
		})
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/?do=respond&spec="+url.QueryEscape(base64.RawURLEncoding.EncodeToString(spec)), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for what, n := range map[string]int{
			"header":  smugResponseLeaks(&http.Response{Header: resp.Header}, nil),
			"trailer": smugResponseLeaks(&http.Response{Trailer: resp.Trailer}, nil),
			"103":     smugResponseLeaks(&http.Response{}, hints),
		} {
			if n == 0 {
				t.Errorf("a session response %s went unseen over HTTP/3 without the handler (headers %q, trailers %q, 1xx %q)", what, resp.Header, resp.Trailer, hints)
			}
		}
	})

	protos := []struct{ name, base, opened string }{
		{"HTTP/3", c.h2URL, c.h2OpenURL},
	}
	for _, st := range smugStacks {
		t.Run(st.name, func(t *testing.T) {
			for _, p := range protos {
				r := &smugRun{t: t, stack: st, base: p.base + st.prefix, client: h3, major: 3}
				req := r.requestDirection(spellings)
				ro := &smugRun{t: t, stack: st, base: p.opened + st.prefix, client: h3, major: 3, opened: true}
				reqOpen := ro.requestDirection(spellings)
				resp := r.responseDirection(spellings)
				for _, f := range []struct {
					what  string
					tally smugTally
				}{
					{"request → upstream", req},
					{"request → upstream, every _ and . spelling allowlisted", reqOpen},
					{"response → client", resp},
				} {
					relreport.Record(t, relreport.Figure{
						Scenario: smugScenario, Name: fmt.Sprintf("leaks, %s, %s, %s", st.name, p.name, f.what),
						Value: f.tally.leaks, Unit: "headers", Goal: "0", Met: relreport.Met(f.tally.leaks == 0),
						Note: f.tally.note(),
					})
					t.Logf("%s, %s: %s", st.name, f.what, f.tally.note())
				}
				if n := req.leaks + reqOpen.leaks + resp.leaks; n != 0 {
					t.Errorf("%s over %s: %d leaks", st.name, p.name, n)
				}
			}
		})
	}
}

// http3BareSite starts a Caddy serving the node puppet at node over HTTPS
// (and so HTTP/3) with no session handler.
func http3BareSite(t *testing.T, node string) *Caddy {
	t.Helper()
	c := &Caddy{t: t, Port: testredis.FreePort(t), AdminPort: testredis.FreePort(t), Dir: t.TempDir()}
	c.URL = "https://127.0.0.1:" + strconv.Itoa(c.Port)
	caddyfile := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tauto_https disable_redirects\n\tskip_install_trust\n}\n\nhttps://127.0.0.1:%d {\n\ttls internal\n\treverse_proxy %s\n}\n",
		c.AdminPort, c.Port, node)
	c.config = filepath.Join(c.Dir, "Caddyfile")
	if err := os.WriteFile(c.config, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	c.launch(nil)
	return c
}

// http3Client is an HTTP/3-only client that trusts the root of c's
// internal CA, read from its data directory.
func http3Client(t *testing.T, c *Caddy) *http.Client {
	t.Helper()
	root := filepath.Join(c.Dir, "data", "caddy", "pki", "authorities", "local", "root.crt")
	pem, err := os.ReadFile(root)
	if err != nil {
		t.Fatalf("reading Caddy's internal root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", root)
	}
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}
	t.Cleanup(func() { _ = tr.Close() })
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// waitHTTP3 waits until url answers over HTTP/3: Caddy issues its
// internal certificate in the background once it has started, and a
// handshake before that fails.
func waitHTTP3(t *testing.T, client *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer over HTTP/3 within 30s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// http3Get GETs url over HTTP/3 with cookie (if any) and returns the
// response with its body read into it again.
func http3Get(t *testing.T, client *http.Client, url string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s over HTTP/3: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 3 {
		t.Fatalf("GET %s answered over %s, want HTTP/3", url, resp.Proto)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}
