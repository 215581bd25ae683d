package testredis

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CLIBinary returns the path of redis-cli. Without it the test fails under
// CI=true and is skipped elsewhere.
func CLIBinary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-cli is required: install it (apt-get install -y redis-tools)")
		}
		t.Skip("redis-cli not installed")
	}
	return p
}

// Cluster is a Redis Cluster of masters without replicas, owned by a test.
type Cluster struct {
	// Nodes are the masters, in the order they were given to
	// `redis-cli --cluster create` (which splits the slots evenly in that
	// order).
	Nodes []*Server
}

// Addrs are the nodes' host:port addresses, as a cluster client's seeds.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// StartCluster starts n (at least 3, as redis-cli requires) cluster-enabled
// redis-server processes, joins them into one cluster with
// `redis-cli --cluster create`, and waits until every node reports
// cluster_state:ok and knows every other node. The nodes stop when the test
// ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 3 {
		t.Fatalf("StartCluster(%d): redis-cli --cluster create needs at least 3 masters", n)
	}
	cli := CLIBinary(t)
	Binary(t)
	c := &Cluster{}
	for range n {
		// The bus port is given explicitly: the default, port+10000, may
		// be taken or beyond 65535 for a high ephemeral port.
		c.Nodes = append(c.Nodes, Start(t,
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(t.TempDir(), "nodes.conf"),
			"--cluster-node-timeout", "2000",
			"--cluster-port", strconv.Itoa(FreePort(t)),
		))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s%s", strings.Join(args, " "), err, out, c.logs())
	}

	deadline := time.Now().Add(30 * time.Second)
	for _, node := range c.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: node.Addr(), MaxRetries: -1})
		for {
			info, err := rc.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r\n") {
				break
			}
			if time.Now().After(deadline) {
				_ = rc.Close()
				t.Fatalf("cluster node %s not ready after 30s: CLUSTER INFO = %q, %v%s", node.Addr(), info, err, c.logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = rc.Close()
	}
	return c
}

// logs is every node's log, for failure messages.
func (c *Cluster) logs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		log, _ := os.ReadFile(filepath.Join(n.dir, "redis.log"))
		fmt.Fprintf(&b, "\n--- %s ---\n%s", n.Addr(), log)
	}
	return b.String()
}

// Sentinel is one redis-server --sentinel process owned by a test. Stop and
// Restart work as on a Server; a restarted sentinel keeps the configuration
// it rewrote.
type Sentinel struct {
	*Server
	// MasterName is the name under which the master is monitored.
	MasterName string
}

// StartSentinel starts a sentinel on a free port that monitors master under
// name with quorum 1, and waits until it answers
// SENTINEL get-master-addr-by-name. It stops when the test ends.
func StartSentinel(t testing.TB, master *Server, name string) *Sentinel {
	t.Helper()
	s := &Server{t: t, Port: FreePort(t), dir: t.TempDir()}
	conf := filepath.Join(s.dir, "sentinel.conf")
	config := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %s 5000
`, s.Port, s.dir, filepath.Join(s.dir, "redis.log"), name, master.Port, name)
	// Sentinel rewrites its configuration file, so it must be writable.
	if err := os.WriteFile(conf, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{conf, "--sentinel"}
	s.Restart()
	t.Cleanup(s.Stop)

	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer sc.Close()
	want := master.Addr()
	deadline := time.Now().Add(10 * time.Second)
	for {
		addr, err := sc.GetMasterAddrByName(context.Background(), name).Result()
		if err == nil && len(addr) == 2 && addr[0]+":"+addr[1] == want {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			t.Fatalf("sentinel on %s: get-master-addr-by-name %s = %q, %v after 10s; want %s\n%s", s.Addr(), name, addr, err, want, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Sentinel{Server: s, MasterName: name}
}
