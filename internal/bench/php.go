package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The PHP peers do the same work per request: read a counter from the
// session, add one, write it back, answer a small body. native.php uses
// PHP's own sessions on Redis (phpredis' save handler); module.php sits
// behind this module, verifies the token as
// integration/upstreams/php/index.php does, and answers X-Session-Set (or,
// with ?incr=1, X-Session-Incr: the same count as an atomic increment).
// With ?read=1 both only print the counter.
const nativePHP = `<?php
if (isset($_GET['lock'])) {
    ini_set('redis.session.locking_enabled', '1');
    if ($_GET['lock'] === 'wait') {
        ini_set('redis.session.lock_retries', '-1'); // wait as long as it takes
    }
}
if (isset($_GET['read'])) {
    session_start(['read_and_close' => true]);
    echo (int) ($_SESSION['n'] ?? 0), "\n";
    exit;
}
session_start();
$_SESSION['n'] = (int) ($_SESSION['n'] ?? 0) + 1;
echo "ok\n";
`

const modulePHP = `<?php
function b64url_decode(string $s): string|false
{
    return base64_decode(strtr($s, '-_', '+/'), true);
}
$parts = explode('.', $_SERVER['HTTP_X_SESSION'] ?? '');
$secret = (string) getenv('SESSION_SECRET');
if (count($parts) !== 3) {
    http_response_code(401);
    exit;
}
[$h64, $p64, $s64] = $parts;
$header = json_decode((string) b64url_decode($h64), true);
$sig = b64url_decode($s64);
if (($header['alg'] ?? null) !== 'HS256' || $sig === false
    || !hash_equals(hash_hmac('sha256', $h64 . '.' . $p64, $secret, true), $sig)) {
    http_response_code(401);
    exit;
}
$claims = json_decode((string) b64url_decode($p64), true);
if (!is_array($claims) || time() >= ($claims['exp'] ?? 0)) {
    http_response_code(401);
    exit;
}
$n = (int) ($claims['data']['n'] ?? 0);
if (isset($_GET['read'])) {
    echo $n, "\n";
    exit;
}
if (isset($_GET['incr'])) {
    header('X-Session-Incr: {"n":1}'); // the store adds it, atomically
} else {
    header('X-Session-Set: ' . json_encode(['n' => $n + 1]));
}
echo "ok\n";
`

func phpFPM() string {
	if p, err := exec.LookPath("php-fpm"); err == nil {
		return p
	}
	var found []string
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		m, _ := filepath.Glob(filepath.Join(dir, "php-fpm*"))
		found = append(found, m...)
	}
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	return found[len(found)-1]
}

// startPHP starts php-fpm (8 static workers) with PHP's sessions on the
// Redis at redisAddr, and returns the Caddyfile lines that reach it.
func startPHP(dir, redisAddr string) (string, error) {
	fpm := phpFPM()
	if fpm == "" {
		return "", fmt.Errorf("php-fpm not found: scripts/install-deps.sh bench installs it")
	}
	d := filepath.Join(dir, "php")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	for name, src := range map[string]string{"native.php": nativePHP, "module.php": modulePHP} {
		if err := os.WriteFile(filepath.Join(d, name), []byte(src), 0o600); err != nil {
			return "", err
		}
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	owner := ""
	args := []string{"-F", "-y", filepath.Join(d, "php-fpm.conf"), "-p", d}
	if os.Geteuid() == 0 {
		owner = "user = root\ngroup = root\n"
		args = append(args, "-R")
	}
	conf := fmt.Sprintf(`[global]
pid = %[1]s/php-fpm.pid
error_log = %[1]s/php-fpm.log
daemonize = no

[bench]
%[2]slisten = %[3]s
listen.backlog = 1024
pm = static
pm.max_children = 8
clear_env = yes
env[SESSION_SECRET] = "%[4]s"
php_admin_value[session.save_handler] = redis
php_admin_value[session.save_path] = "tcp://%[5]s"
php_admin_value[session.name] = PHPSESSID
php_admin_value[session.use_strict_mode] = 1
`, d, owner, addr, secret, redisAddr)
	if err := os.WriteFile(filepath.Join(d, "php-fpm.conf"), []byte(conf), 0o600); err != nil {
		return "", err
	}
	if err := startProcess("php-fpm", exec.Command(fpm, args...), addr, filepath.Join(d, "stderr.log")); err != nil {
		return "", err
	}
	return fmt.Sprintf("\troot * %s\n\tphp_fastcgi %s", d, addr), nil
}

// seedPHP creates one session on a PHP peer (its counter at 1) and returns
// its Cookie header.
func seedPHP(url, cookieName string) (string, error) {
	status, body, v, err := get(url, "", cookieName)
	if err != nil {
		return "", err
	}
	if status != 200 || v == "" {
		return "", fmt.Errorf("seeding a session at %s: status %d, no %s cookie: %s", url, status, cookieName, body)
	}
	return cookieName + "=" + v, nil
}

// lostResult is one lost-increments test: writers concurrent clients of
// one session send total requests that each increment its counter.
type lostResult struct {
	Name      string
	Writers   int
	Requests  int
	OK        int // 200 answers
	Failed    int // anything else, or a transport error
	Increased int // the counter's final value minus its value before
	Took      time.Duration
}

func (r lostResult) Lost() int { return r.OK - r.Increased }

func readCounter(url, cookie string) (int, error) {
	status, body, _, err := get(url, cookie, "")
	if err != nil {
		return 0, err
	}
	if status != 200 {
		return 0, fmt.Errorf("reading the counter at %s: status %d: %s", url, status, body)
	}
	return strconv.Atoi(strings.TrimSpace(body))
}

func lostIncrements(name, writeURL, readURL, cookie string, writers, total int) (lostResult, error) {
	r := lostResult{Name: name, Writers: writers, Requests: total}
	before, err := readCounter(readURL, cookie)
	if err != nil {
		return r, err
	}
	var ok, failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) {
				status, _, _, err := get(writeURL, cookie, "")
				if err == nil && status == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	r.Took = time.Since(start)
	after, err := readCounter(readURL, cookie)
	if err != nil {
		return r, err
	}
	r.OK, r.Failed, r.Increased = int(ok.Load()), int(failed.Load()), after-before
	return r, nil
}
