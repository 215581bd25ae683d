package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/django"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

// freePort returns a port nothing listens on, and never the same one twice
// in a run: the kernel may hand a just-closed port out again, and the run
// binds some forty (each Caddy's site and admin endpoint, the upstreams).
func freePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !givenPorts[port] {
			givenPorts[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port not already given out")
}

var givenPorts = map[int]bool{}

func waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startProcess starts cmd in its own process group, logging to logFile,
// waits until addr accepts connections, and kills the group at the end.
func startProcess(name string, cmd *exec.Cmd, addr, logFile string) error {
	f, err := os.Create(logFile)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	atExit(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		f.Close()
	})
	if err := waitListening(addr, 20*time.Second); err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("%s: %w\n%s", name, err, tail(log))
	}
	return nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// upstream is the fixed app behind every configuration: a Go HTTP server
// that answers 200 with a small body, and on /write sets one key.
type upstream struct {
	addr    string
	counter atomic.Int64
}

func startUpstream() (*upstream, error) {
	u := &upstream{}
	mux := http.NewServeMux()
	body := []byte("ok\n")
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Session-Set", `{"n":`+strconv.FormatInt(u.counter.Add(1), 10)+`}`)
		_, _ = w.Write(body)
	})
	// /probe echoes the request's headers as JSON: what the upstream gets
	// through a configuration (the floor lines are built from it).
	mux.HandleFunc("/probe", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Header)
	})
	// /seed?size=N creates the benchmarked session: {"n":0,"pad":"..."}
	// of about N bytes.
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("size"))
		w.Header().Set("X-Session-Set", string(sessionJSON(n)))
		_, _ = w.Write(body)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u.addr = l.Addr().String()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	atExit(func() { _ = srv.Close() })
	return u, nil
}

// sessionJSON is a session of about size bytes: {"n":0,"pad":"<filler>"},
// the filler incompressible enough that signed cookies keep their size.
func sessionJSON(size int) []byte {
	pad := size - len(`{"n":0,"pad":""}`)
	if pad < 0 {
		pad = 0
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, pad)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return []byte(`{"n":0,"pad":"` + string(b) + `"}`)
}

var jsonUnmarshal = json.Unmarshal

// preloadKey is the i-th pre-loaded session key: 32 characters of [a-z0-9].
func preloadKey(i int) string { return fmt.Sprintf("bench%027d", i) }

// startRedis starts a redis-server of its own on a free port.
func startRedis(dir, name string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", d)
	return addr, startProcess("redis-server "+name, cmd, addr, filepath.Join(d, "redis.log"))
}

// preloadRedis writes n sessions in the hash layout of `store redis`
// (key "session:<key>", one field per session key holding the value's JSON
// text, the expiry field, PEXPIREAT the expiry) through redis-cli --pipe.
func preloadRedis(addr string, n int) error {
	if n == 0 {
		return nil
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-cli", "-h", host, "-p", port, "--pipe")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	var pad string
	{
		var d map[string]string
		_ = jsonUnmarshal(sessionJSON(small), &d)
		pad = `"` + d["pad"] + `"`
	}
	expires := strconv.FormatInt(time.Now().Add(14*24*time.Hour).UnixMilli(), 10)
	resp := func(args ...string) {
		fmt.Fprintf(w, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	for i := range n {
		k := "session:" + preloadKey(i)
		resp("HSET", k, "n", "1", "pad", pad, redisstore.ExpiryField, expires)
		resp("PEXPIREAT", k, expires)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("redis-cli --pipe: %w: %s", err, out.String())
	}
	if !strings.Contains(out.String(), "errors: 0") {
		return fmt.Errorf("redis-cli --pipe: %s", out.String())
	}
	return nil
}

const pgAdminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// createPostgres makes a fresh database with Django's django_session table
// holding n sessions, each a valid Django-signed value (one value computed
// here with the project's codec, copied by generate_series), and drops the
// database at the end. It returns the database's dsn.
func createPostgres(name string, n int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin, err := sql.Open("pgx", pgAdminDSN)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("PostgreSQL on 127.0.0.1:5432 as postgres: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("CREATE DATABASE %s: %w", name, err)
	}
	atExit(func() {
		a, err := sql.Open("pgx", pgAdminDSN)
		if err != nil {
			return
		}
		defer a.Close()
		if _, err := a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			logf("DROP DATABASE %s: %v", name, err)
		}
	})
	dsn := "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
	if err := fillSessionTable(ctx, dsn, n, "ANALYZE"); err != nil {
		return "", err
	}
	return dsn, nil
}

// fillSessionTable creates Django's django_session table in the database
// at dsn and pre-loads n sessions ("bench" and 27 digits), each the
// Django-signed value of a ~100-byte session copied by generate_series,
// then runs analyze ("ANALYZE" or "VACUUM ANALYZE") on it.
func fillSessionTable(ctx context.Context, dsn string, n int, analyze string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE django_session ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL)`,
		`CREATE INDEX django_session_expire_date_a5c62663 ON django_session ("expire_date")`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if n > 0 {
		var d session.Data
		if err := jsonUnmarshal(sessionJSON(small), &d); err != nil {
			return err
		}
		d["n"] = []byte("1")
		value, err := django.Codec{Key: []byte(secret)}.Encode(d)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO django_session
			SELECT 'bench' || lpad(i::text, 27, '0'), $1, now() + interval '14 days'
			FROM generate_series(0, $2::int - 1) AS i`, string(value), n); err != nil {
			return fmt.Errorf("pre-loading %d sessions: %w", n, err)
		}
		if _, err := db.ExecContext(ctx, analyze+" django_session"); err != nil {
			return err
		}
	}
	return nil
}

// caddy is one Caddy process serving one configuration on its own port.
type caddy struct {
	name, url string
	admin     string // the admin endpoint's address, for profiles
	pid       int    // the Caddy process itself (no shell between), for its CPU time
}

func startCaddy(bin, dir, name, site string) (*caddy, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d := filepath.Join(dir, "caddy-"+name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	admin := "127.0.0.1:" + strconv.Itoa(adminPort)
	conf := fmt.Sprintf("{\n\tadmin %s\n\tauto_https off\n\tpersist_config off\n}\n\nhttp://127.0.0.1:%d {\n%s\n}\n", admin, port, site)
	path := filepath.Join(d, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"SESSION_SECRET="+secret,
		"XDG_DATA_HOME="+filepath.Join(d, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(d, "config"),
		"GOMAXPROCS=2",
	)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := startProcess("caddy "+name, cmd, addr, filepath.Join(d, "caddy.log")); err != nil {
		return nil, err
	}
	return &caddy{name: name, url: "http://" + addr, admin: admin, pid: cmd.Process.Pid}, nil
}

var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
}

// get sends GET url with the cookie (name=value, or none) and returns the
// status, the body and the value of the named cookie the response set.
func get(url, cookie, setName string) (int, string, string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, "", "", err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	set := ""
	for _, c := range resp.Cookies() {
		if c.Name == setName {
			set = c.Value
		}
	}
	return resp.StatusCode, string(b), set, nil
}

// seed creates the benchmarked session of about size bytes through Caddy
// and returns its Cookie header.
func seed(c *caddy, size int) (string, error) {
	status, body, v, err := get(c.url+"/seed?size="+strconv.Itoa(size), "", "sessionid")
	if err != nil {
		return "", err
	}
	if status != 200 || v == "" {
		return "", fmt.Errorf("seeding a %d-byte session on %s: status %d, no session cookie: %s", size, c.name, status, body)
	}
	// Check that it reads back.
	status, _, _, err = get(c.url+"/read", "sessionid="+v, "sessionid")
	if err != nil || status != 200 {
		return "", fmt.Errorf("reading the seeded session on %s: %d %v", c.name, status, err)
	}
	return "sessionid=" + v, nil
}
