package testredis

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartReplica starts a redis-server replicating primary and waits until
// its link to the primary is up and the first sync is done. Extra
// arguments are config directives as for Start.
func StartReplica(t testing.TB, primary *Server, extra ...string) *Server {
	t.Helper()
	// Redis delays a diskless full sync 5 s by default, for more replicas
	// to join it; a test has only this one.
	pc := redis.NewClient(&redis.Options{Addr: primary.Addr(), MaxRetries: -1})
	err := pc.ConfigSet(context.Background(), "repl-diskless-sync-delay", "0").Err()
	_ = pc.Close()
	if err != nil {
		t.Fatalf("CONFIG SET repl-diskless-sync-delay on %s: %v", primary.Addr(), err)
	}
	r := Start(t, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(primary.Port)}, extra...)...)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer rc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := rc.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") &&
			strings.Contains(info, "master_sync_in_progress:0") {
			return r
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			t.Fatalf("replica on %s not in sync with %s after 30s: %q, %v\n%s", r.Addr(), primary.Addr(), info, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pause stops the server's process with SIGSTOP: it keeps its sockets and
// data but answers nothing until Resume. Stop and Restart work on a paused
// server.
func (s *Server) Pause() {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatalf("pausing redis-server on %s: not running", s.Addr())
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("pausing redis-server on %s: %v", s.Addr(), err)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("resuming redis-server on %s: %v", s.Addr(), err)
	}
}

// StartSentinels starts n sentinels that monitor master under name with
// the given quorum and down-after time, and waits until each knows the
// other sentinels and master's replicas (replicas of them, which must be
// in sync already). A forced SENTINEL FAILOVER needs no quorum; the quorum
// and down-after time matter when the master is killed instead. They stop
// when the test ends.
func StartSentinels(t testing.TB, master *Server, name string, n, quorum int, downAfter time.Duration, replicas int) []*Sentinel {
	t.Helper()
	Binary(t)
	var out []*Sentinel
	for range n {
		s := &Server{t: t, Port: FreePort(t), dir: t.TempDir()}
		conf := filepath.Join(s.dir, "sentinel.conf")
		config := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %d %d
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s 10000
`, s.Port, s.dir, filepath.Join(s.dir, "redis.log"), name, master.Port, quorum,
			name, downAfter.Milliseconds(), name)
		if err := os.WriteFile(conf, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		s.args = []string{conf, "--sentinel"}
		s.Restart()
		t.Cleanup(s.Stop)
		out = append(out, &Sentinel{Server: s, MasterName: name})
	}
	// Sentinels find each other through the master's hello channel, and
	// the replicas through the master's INFO, which take a few seconds.
	deadline := time.Now().Add(60 * time.Second)
	for _, s := range out {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
		for {
			m, err := sc.Master(context.Background(), name).Result()
			if err == nil && m["num-other-sentinels"] == strconv.Itoa(n-1) && m["num-slaves"] == strconv.Itoa(replicas) {
				break
			}
			if time.Now().After(deadline) {
				_ = sc.Close()
				log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
				t.Fatalf("sentinel on %s: SENTINEL MASTER %s = %v, %v after 60s; want %d other sentinels and %d replicas\n%s", s.Addr(), name, m, err, n-1, replicas, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = sc.Close()
	}
	return out
}
