package integration

// Reliability scenario 8, "Hostile upstream stacks": the smuggling matrix
// through three real stacks (php-fpm behind php_fastcgi, gunicorn serving a
// WSGI app, Node's http module), over HTTP/1.1 and HTTP/2, in both
// directions.
//
// Request direction: the client (the attacker) sends session-family
// headers in every spelling (case, '_', '.', duplicates, empty values,
// names listed in Connection, request trailers) and the upstream echoes
// everything it received, folded as its gateway folds names. A leak is any
// family header there other than the one genuine token (HS256 with the
// test secret), or any forged value anywhere.
//
// Response direction: the upstream sends family headers in every spelling
// (and trailers and a 103 Early Hints where its stack can) and the client
// must receive none of them, on any status; an unknown or malformed one
// makes a 2xx a 502 and passes, stripped, on a 5xx.
//
// The upstreams are puppets: integration/upstreams/php/hostile.php,
// integration/upstreams/wsgi/app.py, integration/upstreams/node/hostile.js.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/relreport"
	"github.com/caddy-session/caddy-session/internal/testredis"
)

const smugScenario = "8. Hostile upstream stacks"

// Markers in every value the attacker sends: a marker seen where it must
// not be is a leak, whatever name carried it.
const (
	smugForged   = "forged-by-client"
	smugSmuggled = "smuggled"
)

// smugStack is one upstream stack behind the shared Caddy.
type smugStack struct {
	name     string // as in the figures
	prefix   string // the Caddy route, e.g. /php
	cgi      bool   // names arrive as HTTP_* variables
	trailers bool   // can send response trailers
	hints    bool   // can send 103 Early Hints
	conn     bool   // can send a Connection response header
}

var smugStacks = []smugStack{
	{name: "php-fpm", prefix: "/php", cgi: true, conn: true},
	{name: "gunicorn", prefix: "/wsgi", cgi: true},
	{name: "node", prefix: "/node", trailers: true, hints: true, conn: true},
}

func TestReliabilitySmuggling(t *testing.T) {
	spellings := smugSpellings(relreport.Scale(80, 2000))
	php := smugStartPHP(t)
	wsgi := smugStartGunicorn(t)
	node := smugStartNode(t)
	c := smugStartCaddy(t, spellings, php, wsgi, node)

	h1 := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	h2 := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the client is the attacker; Caddy's internal CA is not what is under test
		ForceAttemptHTTP2: true,
	}}
	t.Cleanup(h1.CloseIdleConnections)
	t.Cleanup(h2.CloseIdleConnections)
	protos := []struct {
		name         string
		base, opened string
		client       *http.Client
		major        int
	}{
		{"HTTP/1.1", c.h1URL, c.h1OpenURL, h1, 1},
		{"HTTP/2", c.h2URL, c.h2OpenURL, h2, 2},
	}

	// The detector must see what it is to count: through the same stacks
	// with no session handler, every vehicle leaks.
	t.Run("detector sees leaks without the handler", func(t *testing.T) {
		for _, st := range smugStacks {
			r := &smugRun{t: t, stack: st, base: c.bareURL + st.prefix, client: h1, major: 1}
			r.detectorSees()
		}
	})

	var total struct {
		sync.Mutex
		cases int
	}
	t.Run("matrix", func(t *testing.T) {
		for _, st := range smugStacks {
			t.Run(st.name, func(t *testing.T) {
				t.Parallel()
				for _, p := range protos {
					r := &smugRun{t: t, stack: st, base: p.base + st.prefix, client: p.client, major: p.major}
					req := r.requestDirection(spellings)
					relreport.Record(t, relreport.Figure{
						Scenario: smugScenario, Name: fmt.Sprintf("leaks, %s, %s, request → upstream", st.name, p.name),
						Value: req.leaks, Unit: "headers", Goal: "0", Met: relreport.Met(req.leaks == 0),
						Note: req.note() + "; Caddy's default server drops request header names with _ or . before any handler",
					})
					// The same with Caddy's own _/. filter opened for every
					// spelling: the session handler alone stands between.
					ro := &smugRun{t: t, stack: st, base: p.opened + st.prefix, client: p.client, major: p.major, opened: true}
					reqOpen := ro.requestDirection(spellings)
					relreport.Record(t, relreport.Figure{
						Scenario: smugScenario, Name: fmt.Sprintf("leaks, %s, %s, request → upstream, every _ and . spelling allowlisted", st.name, p.name),
						Value: reqOpen.leaks, Unit: "headers", Goal: "0", Met: relreport.Met(reqOpen.leaks == 0),
						Note: reqOpen.note() + "; expected_underscore_headers and expected_dot_headers list every spelling, so only the session handler strips them",
					})
					req.leaks += reqOpen.leaks
					req.cases += reqOpen.cases
					resp := r.responseDirection(spellings)
					relreport.Record(t, relreport.Figure{
						Scenario: smugScenario, Name: fmt.Sprintf("leaks, %s, %s, response → client", st.name, p.name),
						Value: resp.leaks, Unit: "headers", Goal: "0", Met: relreport.Met(resp.leaks == 0), Note: resp.note(),
					})
					if req.leaks != 0 || resp.leaks != 0 {
						t.Errorf("%s over %s: %d leaks toward the upstream, %d toward the client", st.name, p.name, req.leaks, resp.leaks)
					}
					total.Lock()
					total.cases += req.cases + resp.cases
					total.Unlock()
				}
			})
		}
	})
	relreport.Record(t, relreport.Figure{
		Scenario: smugScenario, Name: "cases tried, 3 stacks × 2 protocols × 2 directions",
		Value: total.cases, Unit: "headers",
		Note: fmt.Sprintf("%d generated spellings of the token and update headers", len(spellings)),
	})
}

// --- spellings ---

// smugSpelling is one way to write a family name.
type smugSpelling struct {
	name string
	kind string // "" for the bare token, "set", ..., "unknown"
}

var smugKinds = []struct {
	kind  string
	parts []string
}{
	{"", nil},
	{"set", []string{"Set"}},
	{"delete", []string{"Delete"}},
	{"clear", []string{"Clear"}},
	{"flush", []string{"Flush"}},
	{"cycle-key", []string{"Cycle", "Key"}},
	{"expiry", []string{"Expiry"}},
	{"incr", []string{"Incr"}},
	{"logout-others", []string{"Logout", "Others"}},
	{"logout-all", []string{"Logout", "All"}},
	{"unknown", []string{"Anything"}},
	// A token part: Caddy's own toward the upstream (a client's is
	// stripped), an unknown update header from it.
	{"unknown", []string{"Part", "2"}},
}

// smugSpellings returns the fixed spellings (canonical, lower, upper, all
// '_', all '.', mixed) of every kind and a few odd family names, then
// seeded random ones (random case
// per letter, random separator per gap) up to n in all.
func smugSpellings(n int) []smugSpelling {
	var out []smugSpelling
	seen := map[string]bool{}
	add := func(name, kind string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, smugSpelling{name, kind})
		}
	}
	for _, k := range smugKinds {
		parts := append([]string{"X", "Session"}, k.parts...)
		canon := strings.Join(parts, "-")
		add(canon, k.kind)
		add(strings.ToLower(canon), k.kind)
		add(strings.ToUpper(canon), k.kind)
		add(strings.Join(parts, "_"), k.kind)
		add(strings.ToLower(strings.Join(parts, ".")), k.kind)
		mixed := parts[0]
		for i, p := range parts[1:] {
			mixed += [...]string{"_", ".", "-"}[i%3] + p
		}
		add(mixed, k.kind)
	}
	// Names of the family that no update kind has: refused on a 2xx.
	for _, odd := range []string{"X-Session-", "x_session_", "X-Session--Set", "X-Session-Set-", "X.Session.Set.Set"} {
		add(odd, "unknown")
	}
	rng := rand.New(rand.NewPCG(8, 2026))
	for tries := 0; len(out) < n && tries < 100*n; tries++ {
		k := smugKinds[rng.IntN(len(smugKinds))]
		parts := append([]string{"X", "Session"}, k.parts...)
		var b strings.Builder
		for i, p := range parts {
			if i > 0 {
				b.WriteString([...]string{"-", "_", "."}[rng.IntN(3)])
			}
			for _, c := range p {
				if rng.IntN(2) == 0 {
					b.WriteString(strings.ToLower(string(c)))
				} else {
					b.WriteString(strings.ToUpper(string(c)))
				}
			}
		}
		add(b.String(), k.kind)
	}
	return out
}

// smugFold is the family comparison: lower case, '_' and '.' as '-'.
func smugFold(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

func smugInFamily(name string) bool {
	f := smugFold(name)
	return f == "x-session" || strings.HasPrefix(f, "x-session-")
}

// smugListed counts the family names in a Connection or Trailer value.
func smugListed(values []string) int {
	n := 0
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			if smugInFamily(strings.TrimSpace(name)) {
				n++
			}
		}
	}
	return n
}

// smugBatches cuts s into batches of at most size.
func smugBatches(s []smugSpelling, size int) [][]smugSpelling {
	var out [][]smugSpelling
	for len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// --- one stack over one protocol ---

type smugRun struct {
	t      *testing.T
	stack  smugStack
	base   string
	client *http.Client
	major  int
	opened bool // Caddy lets every _ and . spelling through
}

// smugTally is what one direction of one cell measured.
type smugTally struct {
	leaks    int
	cases    int
	requests int
	kinds    map[string]int // vehicle -> headers tried
	notes    []string
}

func (s *smugTally) tried(vehicle string, n int) {
	if s.kinds == nil {
		s.kinds = map[string]int{}
	}
	s.kinds[vehicle] += n
	s.cases += n
}

func (s *smugTally) note() string {
	var parts []string
	for _, v := range []string{"headers", "duplicates", "empty values", "Connection-listed", "trailers", "103 Early Hints", "malformed or unknown on 2xx", "on 5xx"} {
		if n := s.kinds[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v, n))
		}
	}
	out := fmt.Sprintf("%d cases in %d requests: %s", s.cases, s.requests, strings.Join(parts, ", "))
	if len(s.notes) > 0 {
		out += "; " + strings.Join(s.notes, "; ")
	}
	return out
}

// smugEcho is what an upstream reports it received.
type smugEcho struct {
	Headers  [][2]string `json:"headers"`
	Trailers [][2]string `json:"trailers"`
}

// requestDirection sends forged headers in every spelling and vehicle and
// counts what reached the upstream.
func (r *smugRun) requestDirection(spellings []smugSpelling) smugTally {
	t := r.t
	var tally smugTally
	sawTrailer := false
	send := func(vehicle string, hdr http.Header, trailer http.Header, tried int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, r.base+"/?do=echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range hdr {
			req.Header[k] = vs // as spelled: no canonicalization
		}
		req.Header.Set("X-Control", "control-header")
		if r.opened {
			req.Header["X_Control_U"] = []string{"control-header"}
			req.Header["X.Control.D"] = []string{"control-header"}
		}
		if trailer != nil {
			req.Body = io.NopCloser(strings.NewReader("payload"))
			req.ContentLength = -1 // chunked, so that trailers can follow
			req.Trailer = trailer
			req.Trailer["X-Checksum"] = []string{"control-trailer"}
		} else {
			req.Body = io.NopCloser(strings.NewReader("payload"))
			req.ContentLength = int64(len("payload"))
		}
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", vehicle, r.base, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != r.major {
			t.Fatalf("answered over %s, want HTTP/%d", resp.Proto, r.major)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, body %s", vehicle, resp.StatusCode, body)
		}
		var echo smugEcho
		if err := json.Unmarshal(body, &echo); err != nil {
			t.Fatalf("%s: echo %q: %v", vehicle, body, err)
		}
		tally.requests++
		tally.tried(vehicle, tried)
		leaks, tokens, control := r.countRequestLeaks(echo)
		if r.opened && !smugSawAll(echo, r.stack.cgi, "x-control-u", "x-control-d") {
			t.Errorf("%s: with the filter opened, X_Control_U and X.Control.D did not both reach the upstream (saw %q): Caddy still drops _ and . names", vehicle, echo.Headers)
		}
		if leaks > 0 {
			t.Errorf("LEAK %s %s request → upstream via %s: %d (upstream saw %q, trailers %q)", r.stack.name, r.protoName(), vehicle, leaks, echo.Headers, echo.Trailers)
		}
		tally.leaks += leaks
		if tokens != 1 {
			t.Errorf("%s: the upstream got %d genuine tokens, want 1 (saw %q)", vehicle, tokens, echo.Headers)
		}
		if !control {
			t.Errorf("%s: the control header did not reach the upstream (saw %q): the echo cannot see headers", vehicle, echo.Headers)
		}
		for _, kv := range echo.Trailers {
			if strings.EqualFold(kv[0], "X-Checksum") && kv[1] == "control-trailer" {
				sawTrailer = true
			}
		}
	}

	families := smugBatches(spellings, 20)
	for bi, batch := range families {
		// Every spelling once, with a forged value.
		hdr := http.Header{}
		for i, s := range batch {
			hdr[s.name] = []string{fmt.Sprintf("%s-%d-%d", smugForged, bi, i)}
		}
		send("headers", hdr, nil, len(batch))

		// Duplicates (two lines each) and empty values.
		hdr = http.Header{}
		for i, s := range batch[:len(batch)/2] {
			hdr[s.name] = []string{smugForged + "-dup-" + strconv.Itoa(i), smugForged + "-dup2"}
		}
		send("duplicates", hdr, nil, len(batch)/2)
		hdr = http.Header{}
		for _, s := range batch[len(batch)/2:] {
			hdr[s.name] = []string{""}
		}
		send("empty values", hdr, nil, len(batch)-len(batch)/2)

		// Names listed in Connection: HTTP/2 has no Connection header
		// (Go's client refuses one), so HTTP/1.1 only.
		if r.major == 1 {
			hdr = http.Header{}
			var listed []string
			for i, s := range batch {
				hdr[s.name] = []string{smugForged + "-conn-" + strconv.Itoa(i)}
				listed = append(listed, s.name)
			}
			hdr["Connection"] = []string{"keep-alive, " + strings.Join(listed, ", ")}
			send("Connection-listed", hdr, nil, len(batch))
		}

		// Request trailers: chunked HTTP/1.1 and HTTP/2 trailers.
		tr := http.Header{}
		for i, s := range batch {
			tr[s.name] = []string{smugForged + "-trailer-" + strconv.Itoa(i)}
		}
		send("trailers", http.Header{}, tr, len(batch))
	}
	if !sawTrailer {
		tally.notes = append(tally.notes, "request trailers do not reach this upstream at all (a control trailer did not arrive)")
	} else {
		tally.notes = append(tally.notes, "request trailers reach this upstream (a control trailer arrived)")
	}
	return tally
}

// smugSawAll reports whether every folded name in want is among the
// echoed headers.
func smugSawAll(echo smugEcho, cgi bool, want ...string) bool {
	seen := map[string]bool{}
	for _, kv := range echo.Headers {
		name := kv[0]
		if cgi {
			name = strings.TrimPrefix(name, "HTTP_")
		}
		seen[smugFold(name)] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}

// countRequestLeaks counts, in what the upstream saw, the family headers
// other than the one genuine token, family names in Connection/Trailer
// lists, and forged values anywhere.
func (r *smugRun) countRequestLeaks(echo smugEcho) (leaks, tokens int, control bool) {
	all := make([][2]string, 0, len(echo.Headers)+len(echo.Trailers))
	all = append(all, echo.Headers...)
	all = append(all, echo.Trailers...)
	for i, kv := range all {
		name := kv[0]
		if r.stack.cgi {
			name = strings.TrimPrefix(name, "HTTP_")
		}
		f := smugFold(name)
		switch {
		case f == "x-control":
			control = control || kv[1] == "control-header"
		case f == "connection" || f == "trailer":
			leaks += smugListed([]string{kv[1]})
		case i < len(echo.Headers) && f == "x-session" && tokens == 0 && smugVerifyHS256(kv[1]) == nil:
			tokens++
			continue
		case smugInFamily(name):
			leaks++
			continue
		}
		if strings.Contains(kv[1], smugForged) {
			leaks++
		}
	}
	return leaks, tokens, control
}

// smugVerifyHS256 checks that token is a compact JWT signed HS256 with the
// test secret: Caddy's, not one a client made up.
func smugVerifyHS256(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%d parts", len(parts))
	}
	head, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return err
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(head, &h); err != nil || h.Alg != "HS256" {
		return fmt.Errorf("header %s", head)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return fmt.Errorf("bad signature")
	}
	return nil
}

func (r *smugRun) protoName() string {
	if r.major >= 2 {
		return fmt.Sprintf("HTTP/%d", r.major)
	}
	return "HTTP/1.1"
}

// detectorSees checks, against a route with no session handler, that the
// request echo and the response counters see a forged header, a request
// trailer (where the stack receives them), a response trailer and a 103
// (where the stack sends them).
func (r *smugRun) detectorSees() {
	t := r.t
	req, err := http.NewRequest(http.MethodPost, r.base+"/?do=echo", io.NopCloser(strings.NewReader("payload")))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header["x-SESSION-set"] = []string{smugForged} // Caddy drops _ and . names before any handler
	req.Header.Set("X-Control", "control-header")
	req.Trailer = http.Header{"X-Session-Flush": {smugForged}}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var echo smugEcho
	if err := json.Unmarshal(body, &echo); err != nil {
		t.Fatalf("%s: echo %q: %v", r.stack.name, body, err)
	}
	if leaks, _, _ := r.countRequestLeaks(smugEcho{Headers: echo.Headers}); leaks == 0 {
		t.Errorf("%s: a forged request header went unseen without the handler (echo %q)", r.stack.name, echo.Headers)
	}
	if r.stack.name == "node" {
		if leaks, _, _ := r.countRequestLeaks(smugEcho{Trailers: echo.Trailers}); leaks == 0 {
			t.Errorf("%s: a forged request trailer went unseen without the handler (echo %q)", r.stack.name, echo.Trailers)
		}
	}

	spec := smugSpec{Status: 200, Headers: [][2]string{{"x_Session.set", smugValid("set")}}}
	if r.stack.trailers {
		spec.Trailers = [][2]string{{"X-Session-Clear", smugSmuggled}}
	}
	if r.stack.hints {
		spec.Hints = [][2]string{{"X-Session-Flush", smugSmuggled}}
	}
	raw, _ := json.Marshal(spec)
	var hints []http.Header
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, http.Header(h).Clone())
			return nil
		},
	})
	req, err = http.NewRequestWithContext(ctx, http.MethodGet,
		r.base+"/?do=respond&spec="+url.QueryEscape(base64.RawURLEncoding.EncodeToString(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if smugResponseLeaks(&http.Response{Header: resp.Header}, nil) == 0 {
		t.Errorf("%s: a session response header went unseen without the handler (%q)", r.stack.name, resp.Header)
	}
	if r.stack.trailers && smugResponseLeaks(&http.Response{Trailer: resp.Trailer}, nil) == 0 {
		t.Errorf("%s: a session response trailer went unseen without the handler (%q)", r.stack.name, resp.Trailer)
	}
	if r.stack.hints && smugResponseLeaks(&http.Response{}, hints) == 0 {
		t.Errorf("%s: a session header in a 103 went unseen without the handler (%q)", r.stack.name, hints)
	}
}

// smugSpec is what the puppet upstream is told to answer.
type smugSpec struct {
	Status   int         `json:"status"`
	Headers  [][2]string `json:"headers"`
	Trailers [][2]string `json:"trailers,omitempty"`
	Hints    [][2]string `json:"hints,omitempty"`
}

// smugValid is a value the update parser accepts for kind, the same for
// every spelling so that repeated spellings agree.
func smugValid(kind string) string {
	switch kind {
	case "set":
		return `{"` + smugSmuggled + `":1}`
	case "delete":
		return `["` + smugSmuggled + `-gone"]`
	case "incr":
		return `{"` + smugSmuggled + `-n":1}`
	case "clear", "flush", "cycle-key", "logout-others", "logout-all":
		return "1"
	case "expiry":
		return "3600"
	}
	return smugSmuggled // the bare token (ignored) and unknown names
}

// smugMalformed is a value the parser refuses for kind.
func smugMalformed(kind string) string {
	switch kind {
	case "set":
		return `{"` + smugSmuggled + `":`
	case "delete":
		return `"` + smugSmuggled + `"`
	case "incr":
		return `{"` + smugSmuggled + `-n":"1"}`
	case "clear", "flush", "cycle-key", "logout-others", "logout-all":
		return smugSmuggled
	case "expiry":
		return smugSmuggled + "-soon"
	}
	return smugSmuggled
}

// responseDirection makes the upstream answer family headers in every
// spelling and vehicle its stack can, and counts what reached the client.
func (r *smugRun) responseDirection(spellings []smugSpelling) smugTally {
	t := r.t
	var tally smugTally
	sawHint, sawTrailer := false, false
	send := func(vehicle string, spec smugSpec, want []int, tried int) {
		t.Helper()
		raw, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		var hints []http.Header
		var mu sync.Mutex
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				mu.Lock()
				defer mu.Unlock()
				hints = append(hints, http.Header(h).Clone())
				return nil
			},
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet,
			r.base+"/?do=respond&spec="+url.QueryEscape(base64.RawURLEncoding.EncodeToString(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", vehicle, err)
		}
		body, _ := io.ReadAll(resp.Body) // trailers are in once the body is read
		resp.Body.Close()
		tally.requests++
		tally.tried(vehicle, tried)
		ok := false
		for _, w := range want {
			ok = ok || resp.StatusCode == w
		}
		if !ok {
			t.Errorf("%s %s %s (upstream %d, %q): status %d, want one of %v; body %q", r.stack.name, r.protoName(), vehicle, spec.Status, spec.Headers, resp.StatusCode, want, body)
		}
		if resp.StatusCode >= 500 && spec.Status >= 500 && !bytes.Contains(body, []byte("hostile upstream")) {
			t.Errorf("%s: the upstream's %d did not pass as it is: %d %q", vehicle, spec.Status, resp.StatusCode, body)
		}
		if resp.Trailer.Get("X-Checksum") == "control-trailer" {
			sawTrailer = true
		}
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hints {
			if h.Get("Link") != "" {
				sawHint = true
			}
		}
		leaks := smugResponseLeaks(resp, hints)
		if leaks > 0 {
			t.Errorf("LEAK %s %s response → client via %s: %d (headers %q, trailers %q, 1xx %q)", r.stack.name, r.protoName(), vehicle, leaks, resp.Header, resp.Trailer, hints)
		}
		tally.leaks += leaks
	}
	pairs := func(batch []smugSpelling, value func(string) string) [][2]string {
		out := make([][2]string, 0, len(batch))
		for _, s := range batch {
			out = append(out, [2]string{s.name, value(s.kind)})
		}
		return out
	}
	known := func(batch []smugSpelling) []smugSpelling {
		var out []smugSpelling
		for _, s := range batch {
			if s.kind != "unknown" {
				out = append(out, s)
			}
		}
		return out
	}
	ok2xx := []int{http.StatusOK}
	bad2xx := []int{http.StatusBadGateway}
	passed5xx := []int{http.StatusInternalServerError}

	for _, batch := range smugBatches(spellings, 20) {
		good := known(batch)
		// Valid updates in every spelling, each spelling twice.
		if len(good) > 0 {
			hs := pairs(good, smugValid)
			send("headers", smugSpec{Status: 200, Headers: hs}, ok2xx, len(hs))
			send("duplicates", smugSpec{Status: 200, Headers: append(hs, hs...)}, ok2xx, len(hs))
			send("on 5xx", smugSpec{Status: 500, Headers: hs}, passed5xx, len(hs))
		}
		// Empty values: the bare token's is ignored, every update's is
		// malformed.
		for _, s := range batch {
			want := bad2xx
			if s.kind == "" {
				want = ok2xx
			}
			send("empty values", smugSpec{Status: 200, Headers: [][2]string{{s.name, ""}}}, want, 1)
		}
		// One malformed or unknown header among valid ones: 502 on a
		// 2xx, passed stripped on a 5xx.
		for _, s := range batch {
			if s.kind == "" {
				continue // the bare token is ignored on a response
			}
			hs := [][2]string{{s.name, smugMalformed(s.kind)}, {"X-Session-Set", smugValid("set")}}
			send("malformed or unknown on 2xx", smugSpec{Status: 200, Headers: hs}, bad2xx, 1)
			send("on 5xx", smugSpec{Status: 503, Headers: hs}, []int{http.StatusServiceUnavailable}, 1)
		}
		if r.stack.conn {
			// Names listed in Connection: the proxy drops them as
			// hop-by-hop, and the list itself must not name the family.
			hs := pairs(good, smugValid)
			var listed []string
			for _, s := range batch {
				listed = append(listed, s.name)
			}
			hs = append(hs, [2]string{"Connection", "keep-alive, " + strings.Join(listed, ", ")})
			send("Connection-listed", smugSpec{Status: 200, Headers: hs}, ok2xx, len(batch))
		}
		if r.stack.trailers {
			// Trailers, undeclared: they arrive after the 200 is sent.
			tr := append(pairs(batch, smugValid), [2]string{"X-Checksum", "control-trailer"})
			send("trailers", smugSpec{Status: 200, Trailers: tr}, ok2xx, len(batch))
			// Declared in Trailer: refused before the status goes out.
			var declared []string
			for _, s := range batch {
				declared = append(declared, s.name)
			}
			hs := [][2]string{{"Trailer", strings.Join(declared, ", ")}}
			send("trailers", smugSpec{Status: 200, Headers: hs, Trailers: tr}, bad2xx, len(batch))
			send("on 5xx", smugSpec{Status: 500, Headers: hs, Trailers: tr}, passed5xx, len(batch))
		}
		if r.stack.hints {
			hs := pairs(batch, smugValid)
			send("103 Early Hints", smugSpec{Status: 200, Hints: hs}, ok2xx, len(hs))
		}
	}
	var can []string
	if r.stack.trailers {
		can = append(can, "response trailers")
		if !sawTrailer {
			t.Errorf("%s %s: a control response trailer never reached the client: the trailer cases prove nothing", r.stack.name, r.protoName())
		}
	}
	if r.stack.hints {
		can = append(can, "103 Early Hints")
		if !sawHint {
			t.Errorf("%s %s: no 103 with its Link reached the client: the Early Hints cases prove nothing", r.stack.name, r.protoName())
		}
	}
	switch r.stack.name {
	case "php-fpm":
		tally.notes = append(tally.notes, "PHP 8.2 under FastCGI cannot send trailers or a 103")
	case "gunicorn":
		tally.notes = append(tally.notes, "WSGI cannot send trailers or a 103; gunicorn refuses a Connection header")
	}
	if len(can) > 0 {
		tally.notes = append(tally.notes, "sent "+strings.Join(can, " and ")+" too")
	}
	return tally
}

// smugResponseLeaks counts the family headers the client received: header
// and trailer names, names in Connection/Trailer lists, 1xx headers, and
// smuggled values under any name.
func smugResponseLeaks(resp *http.Response, hints []http.Header) int {
	leaks := 0
	count := func(h http.Header) {
		for k, vs := range h {
			switch {
			case smugInFamily(k):
				leaks += len(vs)
				continue
			case strings.EqualFold(k, "Connection") || strings.EqualFold(k, "Trailer"):
				leaks += smugListed(vs)
			}
			for _, v := range vs {
				if strings.Contains(v, smugSmuggled) {
					leaks++
				}
			}
		}
	}
	count(resp.Header)
	count(resp.Trailer) // declared names are keys here too
	for _, h := range hints {
		count(h)
	}
	return leaks
}

// --- the stacks and Caddy ---

// smugCaddy is one Caddy serving the three stacks over HTTP/1.1 (cleartext)
// and HTTP/2 (TLS with Caddy's internal CA).
type smugCaddy struct {
	*Caddy
	h1URL, h2URL         string
	h1OpenURL, h2OpenURL string // with every _ and . spelling allowlisted
	bareURL              string // the same stacks with no session handler
}

func smugStartCaddy(t *testing.T, spellings []smugSpelling, php, wsgi, node string) *smugCaddy {
	t.Helper()
	c := &Caddy{t: t, Port: testredis.FreePort(t), AdminPort: testredis.FreePort(t), Dir: t.TempDir()}
	tlsPort, barePort := testredis.FreePort(t), testredis.FreePort(t)
	openPort, openTLSPort := testredis.FreePort(t), testredis.FreePort(t)
	// Caddy drops request header names holding '_' or '.' unless they are
	// allowlisted exactly (a name with both is never matched by a glob).
	underscore, dot := []string{"X_Control_U"}, []string{"X.Control.D"}
	for _, s := range spellings {
		switch {
		case strings.Contains(s.name, "_"):
			underscore = append(underscore, s.name)
		case strings.Contains(s.name, "."):
			dot = append(dot, s.name)
		}
	}
	opened := fmt.Sprintf("{\n\t\texpected_underscore_headers %s\n\t\texpected_dot_headers %s\n\t}",
		strings.Join(underscore, " "), strings.Join(dot, " "))
	c.URL = "http://127.0.0.1:" + strconv.Itoa(c.Port)
	caddyfile := fmt.Sprintf(`{
	admin 127.0.0.1:%[1]d
	persist_config off
	auto_https disable_redirects
	skip_install_trust
	servers :%[9]d %[11]s
	servers :%[10]d %[11]s
}

(session) {
	session {
		secret {env.SESSION_SECRET}
		store memory
		# The logout headers apply (under a user_key) rather than being refused.
		user_key _auth_user_id
	}
}

(stacks) {
	handle_path /php/* {
		root * %[4]s
		rewrite * /hostile.php?{query}
		php_fastcgi %[5]s
	}
	handle_path /wsgi/* {
		reverse_proxy %[6]s
	}
	handle_path /node/* {
		reverse_proxy %[7]s
	}
}

http://127.0.0.1:%[2]d {
	import session
	import stacks
}

https://127.0.0.1:%[3]d {
	tls internal
	import session
	import stacks
}

# The same with Caddy's _/. filter opened (servers above).
http://127.0.0.1:%[9]d {
	import session
	import stacks
}

https://127.0.0.1:%[10]d {
	tls internal
	import session
	import stacks
}

# No session handler: the detector's control.
http://127.0.0.1:%[8]d {
	import stacks
}
`, c.AdminPort, c.Port, tlsPort, upstreamDir(t, "php"), php, wsgi, node, barePort, openPort, openTLSPort, opened)
	c.config = filepath.Join(c.Dir, "Caddyfile")
	if err := os.WriteFile(c.config, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	c.env = []string{
		"SESSION_SECRET=" + testSecret,
		"XDG_DATA_HOME=" + filepath.Join(c.Dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(c.Dir, "config"),
	}
	c.Start()
	t.Cleanup(c.Stop)
	for _, p := range []int{tlsPort, barePort, openPort, openTLSPort} {
		if err := testredis.WaitPort("127.0.0.1:"+strconv.Itoa(p), 20*time.Second); err != nil {
			t.Fatalf("caddy's port %d: %v\n%s", p, err, c.Logs())
		}
	}
	return &smugCaddy{Caddy: c, h1URL: c.URL, h2URL: "https://127.0.0.1:" + strconv.Itoa(tlsPort),
		h1OpenURL: "http://127.0.0.1:" + strconv.Itoa(openPort), h2OpenURL: "https://127.0.0.1:" + strconv.Itoa(openTLSPort),
		bareURL: "http://127.0.0.1:" + strconv.Itoa(barePort)}
}

// smugStartPHP starts php-fpm (as TestUpstreams does) and returns its
// address.
func smugStartPHP(t *testing.T) string {
	t.Helper()
	route := startPHPUpstream(t)
	return route[strings.LastIndex(route, " ")+1:]
}

func smugStartGunicorn(t *testing.T) string {
	t.Helper()
	g, err := exec.LookPath("gunicorn")
	if err != nil {
		missingTool(t, "gunicorn", "apt-get install -y gunicorn")
	}
	addr := "127.0.0.1:" + strconv.Itoa(testredis.FreePort(t))
	cmd := exec.Command(g, "--chdir", upstreamDir(t, "wsgi"), "--bind", addr,
		"--workers", "2", "app:app")
	startProcess(t, "gunicorn", cmd, addr)
	return addr
}

func smugStartNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node", "apt-get install -y nodejs")
	}
	addr := "127.0.0.1:" + strconv.Itoa(testredis.FreePort(t))
	cmd := exec.Command(node, filepath.Join(upstreamDir(t, "node"), "hostile.js"), addr[strings.LastIndex(addr, ":")+1:])
	startProcess(t, "node hostile upstream", cmd, addr)
	return addr
}
