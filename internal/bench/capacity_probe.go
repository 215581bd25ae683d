package main

// What the capacity run reads from outside the processes it measures: a
// process tree's CPU time, a process found by its command line, Redis'
// INFO, Caddy's heap, and a relay that counts round trips.

import (
	"bufio"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // "sqlite", to size the SQLite store
)

// pidByCmdline finds the one process whose command line contains s.
func pidByCmdline(s string) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	found := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			if found != 0 {
				return 0, fmt.Errorf("two processes' command lines hold %q: %d and %d", s, found, pid)
			}
			found = pid
		}
	}
	if found == 0 {
		return 0, fmt.Errorf("no process's command line holds %q", s)
	}
	return found, nil
}

// treeCPU is the CPU time used so far by root and each of its children
// (one level: a PostgreSQL postmaster's backends and workers), by pid.
func treeCPU(root int) map[int]time.Duration {
	m := map[int]time.Duration{}
	if d, err := procCPU(root); err == nil {
		m[root] = d
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return m
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(root) {
			continue
		}
		if d, err := procCPU(pid); err == nil {
			m[pid] = d
		}
	}
	return m
}

// cpuSince is the CPU time a tree used between two treeCPU snapshots: a
// process that started in between counts whole; one that ended in between
// is lost (PostgreSQL's backends live as long as Caddy's pool keeps their
// connections, which outlasts a run).
func cpuSince(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, a := range after {
		d += a - before[pid]
	}
	return d
}

// redisInfo is INFO <section> of the Redis at addr, as field: value.
func redisInfo(addr, section string) (map[string]string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n", len(section), section)
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(head, "$") {
		return nil, fmt.Errorf("INFO %s: %q", section, head)
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return nil, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(body), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m, nil
}

// redisInt is one integer field of INFO <section>.
func redisInt(addr, section, field string) (int64, error) {
	m, err := redisInfo(addr, section)
	if err != nil {
		return 0, err
	}
	v, ok := m[field]
	if !ok {
		return 0, fmt.Errorf("INFO %s has no %s", section, field)
	}
	return strconv.ParseInt(v, 10, 64)
}

// caddyHeap is the bytes of live objects on Caddy's heap just after a
// garbage collection: the heap profile endpoint collects first (gc=1),
// then the runtime's metrics on the admin endpoint say what is left.
func caddyHeap(admin string) (int64, error) {
	resp, err := http.Get("http://" + admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp, err = http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_alloc_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	return 0, fmt.Errorf("no go_memstats_alloc_bytes on %s/metrics", admin)
}

// turnRelay forwards TCP connections to a store and counts round trips:
// a turn is each time a client sends after the server last spoke (or
// first), so a pipeline of commands written together is one turn, as it
// is one wait for the client.
type turnRelay struct {
	addr  string
	turns atomic.Int64
}

func startTurnRelay(target string) (*turnRelay, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &turnRelay{addr: l.Addr().String()}
	atExit(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go t.relay(c, target)
		}
	}()
	return t, nil
}

func (t *turnRelay) relay(c net.Conn, target string) {
	s, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	var mu sync.Mutex
	serverSpoke := true // the client's first bytes open a turn
	pump := func(dst, src net.Conn, fromClient bool) {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				mu.Lock()
				if fromClient && serverSpoke {
					t.turns.Add(1)
				}
				serverSpoke = !fromClient
				mu.Unlock()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		c.Close()
		s.Close()
	}
	go pump(s, c, true)
	pump(c, s, false)
}

// machineBusy is the share of all CPUs' time that was busy (not idle or
// waiting for I/O) between two readings of /proc/stat's first line.
type cpuTimes struct{ busy, total int64 }

func readCPUTimes() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var t cpuTimes
	for i, x := range f[1:] {
		n, _ := strconv.ParseInt(x, 10, 64)
		if i >= 8 { // guest time is counted in user already
			break
		}
		t.total += n
		if i != 3 && i != 4 { // idle, iowait
			t.busy += n
		}
	}
	return t
}

func busySince(a, b cpuTimes) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}

// sqliteBytes is the SQLite database's pages in use, as a reader sees it
// (pages still in the WAL included), times the page size, and its rows.
func sqliteBytes(path string) (int64, int64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	var pages, size, rows int64
	err = db.QueryRow(`SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()),
		(SELECT page_size FROM pragma_page_size()), (SELECT count(*) FROM django_session)`).Scan(&pages, &size, &rows)
	return pages * size, rows, err
}
