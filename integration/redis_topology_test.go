package integration

// The redis store on Redis Cluster and behind Redis Sentinel, end to end:
// the real ./caddy configured with `store redis { address <a> <b> <c> }`
// or `store redis { address <sentinel>; master_name <name> }`, real
// redis-server processes, and a Go upstream that verifies the token and
// writes back with X-Session-Set.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

func TestRedisTopology(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		cluster := testredis.StartCluster(t, 3)
		store := "store redis {\n\taddress " + strings.Join(cluster.Addrs(), " ") + "\n}"
		// What Caddy stored, read back through a cluster client of our own.
		raw := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs()})
		t.Cleanup(func() { _ = raw.Close() })
		testTopology(t, store, raw, func(t *testing.T, sessionKeys []string) {
			// The browsers' sessions live on different nodes: count them
			// on each node directly.
			perNode := map[string]int{}
			for _, addr := range cluster.Addrs() {
				node := redis.NewClient(&redis.Options{Addr: addr})
				for _, k := range sessionKeys {
					if node.Exists(t.Context(), "session:"+k).Val() == 1 {
						perNode[addr]++
					}
				}
				_ = node.Close()
			}
			total := 0
			for _, n := range perNode {
				total += n
			}
			t.Logf("sessions per node: %v", perNode)
			if total != len(sessionKeys) {
				t.Errorf("the nodes hold %d of the %d sessions", total, len(sessionKeys))
			}
			if len(perNode) < 2 {
				t.Errorf("%d sessions all on one node (%v); want them spread over the cluster", len(sessionKeys), perNode)
			}
		})
	})

	t.Run("sentinel", func(t *testing.T) {
		master := testredis.Start(t)
		sentinel := testredis.StartSentinel(t, master, "sessions")
		store := "store redis {\n\taddress " + sentinel.Addr() + "\n\tmaster_name " + sentinel.MasterName + "\n}"
		// What Caddy stored, read on the master itself.
		raw := redis.NewClient(&redis.Options{Addr: master.Addr()})
		t.Cleanup(func() { _ = raw.Close() })
		testTopology(t, store, raw, nil)
	})
}

// topoBrowsers is how many browsers count visits at once.
const topoBrowsers = 12

// topoWorkers is how many concurrent requests write one session each a
// different key.
const topoWorkers = 32

// testTopology runs a Caddy with the given `store redis` block in front of
// a topoUpstream, and checks the sessions through Caddy and in raw (a client
// of the same Redis). spread, when set, is given every browser's session key.
func testTopology(t *testing.T, store string, raw redis.UniversalClient, spread func(t *testing.T, sessionKeys []string)) {
	up := httptest.NewServer(http.HandlerFunc(topoUpstream))
	t.Cleanup(up.Close)
	// The app refuses a request that did not come through the session
	// handler, so its answers below are the handler's doing.
	for _, token := range []string{"", topoForged(t)} {
		req, _ := http.NewRequest("GET", up.URL+"/count", nil)
		req.Header.Set("X-Session", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("upstream answered %d to token %q; want 401", resp.StatusCode, token)
		}
	}
	c := startCaddy(t, "", fmt.Sprintf("session {\n\tsecret {env.SESSION_SECRET}\n%s\n}\nreverse_proxy %s",
		indent(store), strings.TrimPrefix(up.URL, "http://")))

	t.Run("counter", func(t *testing.T) {
		keys := make([]string, topoBrowsers)
		var wg sync.WaitGroup
		for b := range topoBrowsers {
			wg.Go(func() {
				client := newClient(t)
				for want := 1.0; want <= 4; want++ {
					var got struct {
						N   float64 `json:"n"`
						New bool    `json:"new"`
					}
					topoGet(t, client, c.URL+"/count", &got)
					if got.N != want || got.New != (want == 1) {
						t.Errorf("browser %d, visit %v: answer %+v; want n %v, new %v", b, want, got, want, want == 1)
					}
				}
				keys[b] = topoSessionKey(t, client, c.URL)
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		for b, k := range keys {
			if got := raw.HGet(t.Context(), "session:"+k, "n").Val(); got != "4" {
				t.Errorf("browser %d: HGET session:%s n = %q; want 4", b, k, got)
			}
		}
		if spread != nil {
			spread(t, keys)
		}
	})

	t.Run("concurrent keys", func(t *testing.T) {
		client := newClient(t)
		var first struct {
			N float64 `json:"n"`
		}
		topoGet(t, client, c.URL+"/count", &first)
		key := topoSessionKey(t, client, c.URL)

		// Each request carries the one-key session it started from and
		// adds its own key: Redis must apply every delta, losing none.
		var wg sync.WaitGroup
		for i := range topoWorkers {
			wg.Go(func() {
				topoGet(t, client, c.URL+"/set?k="+url.QueryEscape(fmt.Sprintf("k%02d", i)), nil)
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}

		var data map[string]any
		topoGet(t, client, c.URL+"/data", &data)
		if len(data) != topoWorkers+1 || data["n"] != 1.0 {
			t.Errorf("final token data has %d keys, n = %v; want %d keys and n 1: %v", len(data), data["n"], topoWorkers+1, data)
		}
		for i := range topoWorkers {
			k := fmt.Sprintf("k%02d", i)
			if data[k] != k {
				t.Errorf("final token data[%q] = %v; want %q", k, data[k], k)
			}
		}
		if got := topoSessionKey(t, client, c.URL); got != key {
			t.Errorf("session key changed from %q to %q", key, got)
		}
		// The workers' fields, n, and the store's expiry field.
		if n := raw.HLen(t.Context(), "session:"+key).Val(); n != topoWorkers+2 {
			t.Errorf("HLEN session:%s = %d; want %d", key, n, topoWorkers+2)
		}
	})
}

// topoUpstream is the app: it verifies the X-Session token (HS256 with
// testSecret, exp required) and answers 401 when it does not verify.
//
//	/count      sets n to the previous n + 1; answers {"n": n, "new": new}
//	/set?k=<k>  sets <k> to the string <k>; answers {}
//	/data       changes nothing; answers the session data
func topoUpstream(w http.ResponseWriter, r *http.Request) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(r.Header.Get("X-Session"), claims,
		func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	data, ok := claims["data"].(map[string]any)
	if err == nil && !ok {
		err = errors.New("no data claim")
	}
	if err != nil {
		http.Error(w, "bad session token: "+err.Error(), http.StatusUnauthorized)
		return
	}

	var answer any
	switch r.URL.Path {
	case "/count":
		n, _ := data["n"].(float64)
		set, _ := json.Marshal(map[string]float64{"n": n + 1})
		w.Header().Set("X-Session-Set", string(set))
		answer = map[string]any{"n": n + 1, "new": claims["new"]}
	case "/set":
		k := r.URL.Query().Get("k")
		set, _ := json.Marshal(map[string]string{k: k})
		w.Header().Set("X-Session-Set", string(set))
		answer = map[string]any{}
	case "/data":
		answer = data
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

// topoForged is a well-formed token signed with another secret.
func topoForged(t *testing.T) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"data": map[string]any{"n": 41}, "new": false, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(),
	}).SignedString([]byte("not-the-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// topoGet GETs target and decodes its JSON answer into out (when not nil);
// anything but 200 is an error. Safe to call from several goroutines.
func topoGet(t *testing.T, client *http.Client, target string, out any) {
	t.Helper()
	resp, err := client.Get(target)
	if err != nil {
		t.Errorf("GET %s: %v", target, err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("GET %s: reading the body: %v", target, err)
		return
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: status %d; body %s", target, resp.StatusCode, body)
		return
	}
	for name := range resp.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-session") {
			t.Errorf("GET %s: response header %s reached the client", target, name)
		}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Errorf("GET %s: answer %s: %v", target, body, err)
		}
	}
}

// topoSessionKey is the session cookie the client's jar holds for base.
// Safe to call from several goroutines.
func topoSessionKey(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Errorf("parsing %q: %v", base, err)
		return ""
	}
	var keys []string
	for _, c := range client.Jar.Cookies(u) {
		if c.Name == "sessionid" {
			keys = append(keys, c.Value)
		}
	}
	if len(keys) != 1 {
		t.Errorf("the browser holds session cookies %q; want exactly one", keys)
		return ""
	}
	return keys[0]
}
