package integration

// The harness: the real ./caddy binary (built by ../xcaddy.sh), started per
// test on free ports with its own data directory, and HTTP clients that
// behave like a browser (cookie jar, no redirect following).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// testSecret is the signing secret every test Caddy gets as SESSION_SECRET.
const testSecret = "integration-test-secret-0123456789abcdef"

var caddyPath string

func TestMain(m *testing.M) {
	p, err := buildCaddy()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	caddyPath = p
	os.Exit(m.Run())
}

// buildCaddy returns $CADDY_BIN, or builds ../caddy with ../xcaddy.sh so
// that the tests never run a stale binary.
func buildCaddy() (string, error) {
	if p := os.Getenv("CADDY_BIN"); p != "" {
		return filepath.Abs(p)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(root, "xcaddy.sh"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building caddy with xcaddy.sh: %w", err)
	}
	return filepath.Join(root, "caddy"), nil
}

// Caddy is one running ./caddy process.
type Caddy struct {
	t         *testing.T
	URL       string // http://127.0.0.1:<port>
	Port      int
	AdminPort int
	Dir       string // holds the config and Caddy's data dir (XDG_DATA_HOME)
	config    string
	env       []string
	cmd       *exec.Cmd
	waitDone  chan struct{}
	waitErr   error // how the process ended, once waitDone is closed
	logs      *syncBuffer
	raced     bool // a data race was reported already
}

// startCaddy runs ./caddy with a Caddyfile whose only site listens on a free
// port and holds site (the directives inside the site block). global is
// added to the global options block. Caddy is stopped when the test ends.
func startCaddy(t *testing.T, global, site string, env ...string) *Caddy {
	t.Helper()
	c := &Caddy{t: t, Port: testredis.FreePort(t), AdminPort: testredis.FreePort(t), Dir: t.TempDir()}
	c.URL = "http://127.0.0.1:" + strconv.Itoa(c.Port)
	caddyfile := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tpersist_config off\n%s\n}\n\nhttp://127.0.0.1:%d {\n%s\n}\n",
		c.AdminPort, global, c.Port, site)
	c.config = filepath.Join(c.Dir, "Caddyfile")
	if err := os.WriteFile(c.config, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	c.launch(env)
	return c
}

// launch starts c, configured, with the test secret, its own data and
// config directories, and env, and stops it when the test ends.
func (c *Caddy) launch(env []string) {
	c.env = append([]string{
		"SESSION_SECRET=" + testSecret,
		"XDG_DATA_HOME=" + filepath.Join(c.Dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(c.Dir, "config"),
	}, env...)
	c.Start()
	c.t.Cleanup(c.Stop)
}

// getStatus GETs url in the background and sends its status (0 when the
// request failed).
func getStatus(client *http.Client, url string) <-chan int {
	ch := make(chan int, 1)
	go func() {
		resp, err := client.Get(url)
		if err != nil {
			ch <- 0
			return
		}
		resp.Body.Close()
		ch <- resp.StatusCode
	}()
	return ch
}

// Start (re)starts the process on the same ports, config and data dir.
func (c *Caddy) Start() {
	c.t.Helper()
	c.Stop()
	if c.logs == nil {
		c.logs = &syncBuffer{}
	}
	cmd := exec.Command(caddyPath, "run", "--config", c.config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("starting caddy: %v", err)
	}
	c.cmd = cmd
	done := make(chan struct{})
	c.waitDone = done
	go func() { c.waitErr = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			c.cmd = nil
			c.t.Fatalf("caddy exited at start:\n%s", c.Logs())
		default:
		}
		if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(c.AdminPort) + "/config/"); err == nil {
			resp.Body.Close()
			if testredis.WaitPort("127.0.0.1:"+strconv.Itoa(c.Port), time.Second) == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("caddy did not start within 20s:\n%s", c.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.waitDone = done
}

// Stop ends the process gracefully (SIGINT), then kills it if need be. It
// fails the test when the process reported a data race: test.sh runs a
// ./caddy-race built with the race detector, which prints the report to
// stderr and, having found one, exits with status 66.
func (c *Caddy) Stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.waitDone:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.waitDone
	}
	c.cmd = nil
	c.checkRace()
}

// raceExitCode is the status a race-enabled binary exits with after it
// reported a race (GORACE exitcode, 66 by default).
const raceExitCode = 66

// checkRace fails the test, once per Caddy, when the race detector
// reported a data race in the process.
func (c *Caddy) checkRace() {
	if c.raced {
		return
	}
	logs := c.Logs()
	exitErr, _ := c.waitErr.(*exec.ExitError)
	switch {
	case strings.Contains(logs, "WARNING: DATA RACE"):
		c.raced = true
		c.t.Errorf("caddy reported a data race:\n%s", logs)
	case exitErr != nil && exitErr.ExitCode() == raceExitCode:
		c.raced = true
		c.t.Errorf("caddy exited with status %d, the race detector's, after:\n%s", raceExitCode, logs)
	}
}

// Logs is everything the process wrote so far.
func (c *Caddy) Logs() string { return c.logs.String() }

// runCaddy runs ./caddy with args (e.g. "adapt") and returns its combined
// output and error.
func runCaddy(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(caddyPath, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// newClient returns a client that keeps cookies like a browser and returns
// redirects instead of following them.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// syncBuffer is a bytes.Buffer safe for a process's two output streams.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// indent prefixes every line of s with a tab, for embedding blocks.
func indent(s string) string {
	return "\t" + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n\t")
}

// decodePayload unmarshals a JWT's claims into v without verifying it;
// tests that care verify separately.
func decodePayload(token string, v any) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("token has %d parts, want 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("decoding token payload: %w", err)
	}
	return json.Unmarshal(payload, v)
}
