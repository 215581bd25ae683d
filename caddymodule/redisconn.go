package caddymodule

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session/redispipe"
)

// RedisConn is how a store reaches Redis: the connection block that `store
// redis`, `store cache` and the cache of `store cached_db` share. It is
// parsed, checked and turned into go-redis options here alone, so an option
// added to it reaches all three. Embedded, its fields sit at the top level
// of the store's JSON.
type RedisConn struct {
	// The server, the cluster's nodes, or the sentinels, each as
	// host[:port] (port 6379 when omitted), redis://[user:password@]host[:port][/db],
	// rediss://... (TLS) or unix:///path/to/redis.sock[?db=n], read as
	// go-redis' ParseURL reads them. A URL's user, password or database
	// must agree with username, password and db when both are given.
	// Placeholders are expanded; an unknown or empty one is an error.
	// Default: 127.0.0.1:6379.
	Addresses []string `json:"addresses,omitempty"`
	// The sentinel master's name; makes Addresses sentinels, which must
	// then be given.
	MasterName string `json:"master_name,omitempty"`
	// Placeholders are expanded; an unknown or empty one is an error.
	Username string `json:"username,omitempty"`
	// Placeholders such as `{env.REDIS_PASSWORD}` are expanded; an unknown
	// or empty one is an error.
	Password string `json:"password,omitempty"`
	// Database number, single node and sentinel only: a cluster (several
	// addresses, no master_name) has only database 0, and any other number
	// is refused. Default: 0.
	DB int `json:"db,omitempty"`
	// Connect over TLS, verifying the server with the system's roots.
	TLS bool `json:"tls,omitempty"`
	// Default: 2s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// Read and write timeout of one command. Default: 2s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Connections per node. Default: go-redis's, 10 per CPU.
	PoolSize int `json:"pool_size,omitempty"`
	// Automatic pipelining: while a round trip to a Redis node is in
	// flight, the loads and saves that concurrent requests send to it wait
	// and then leave together, as one pipeline, as soon as it returns
	// (session/redispipe). An idle node sees each command at once, as
	// without it. `store redis` with client_cache does not pipeline.
	// Default: on.
	Pipeline *bool `json:"pipeline,omitempty"`
}

// cluster reports whether the addresses are a Redis Cluster's nodes.
func (c *RedisConn) cluster() bool { return len(c.Addresses) > 1 && c.MasterName == "" }

// commandTimeout is timeout with its default applied.
func (c *RedisConn) commandTimeout() time.Duration {
	if c.Timeout > 0 {
		return time.Duration(c.Timeout)
	}
	return 2 * time.Second
}

// unmarshalSub reads the connection subdirective sub of a store's block,
// and reports whether sub is one. `address` may repeat, its addresses
// adding up; the caller refuses any other given twice.
func (c *RedisConn) unmarshalSub(d *caddyfile.Dispenser, sub string) (bool, error) {
	var err error
	switch sub {
	case "address":
		var args []string
		if args, err = someArgs(d); err == nil {
			err = checkPlaceholders(d, sub, false, args...)
		}
		c.Addresses = append(c.Addresses, args...)
	case "tls":
		c.TLS, err = true, noArgs(d)
	case "master_name":
		c.MasterName, err = oneArg(d)
	case "username":
		if c.Username, err = oneArg(d); err == nil {
			err = checkPlaceholders(d, sub, false, c.Username)
		}
	case "password":
		if c.Password, err = oneArg(d); err == nil {
			err = checkPlaceholders(d, sub, true, c.Password)
		}
	case "db":
		err = intArg(d, &c.DB)
	case "pool_size":
		err = intArg(d, &c.PoolSize)
	case "pipeline":
		var v string
		if v, err = oneOf(d, "on", "off"); err == nil {
			c.Pipeline = new(v == "on")
		}
	case "dial_timeout":
		err = durationArg(d, &c.DialTimeout)
	case "timeout":
		err = durationArg(d, &c.Timeout)
	default:
		return false, nil
	}
	return true, err
}

// unmarshalRedisBlock reads `store <name> { ... }`: the connection
// subdirectives into conn, and those that extra reports it handled (the
// store's own). Every subdirective but `address` at most once.
func unmarshalRedisBlock(d *caddyfile.Dispenser, name string, conn *RedisConn, extra func(sub string) (bool, error)) error {
	d.Next()
	if d.NextArg() {
		return d.Errf("store %s: takes a block, not arguments", name)
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		sub := d.Val()
		if sub != "address" {
			if err := once(d, seen, sub); err != nil {
				return fmt.Errorf("store %s: %w", name, err)
			}
		}
		handled, err := conn.unmarshalSub(d, sub)
		if !handled && err == nil {
			handled, err = extra(sub)
		}
		if err != nil {
			return fmt.Errorf("store %s: %w", name, err)
		}
		if !handled {
			return unknownSubdirective(d, "store "+name, sub, storeSubdirectives[name])
		}
	}
	return nil
}

// validate refuses connection options that cannot apply, alone or
// together.
func (c *RedisConn) validate() error {
	switch {
	case c.DB < 0:
		return fmt.Errorf("db: must not be negative, got %d", c.DB)
	case c.DB != 0 && c.cluster():
		return fmt.Errorf("db %d: a Redis Cluster (several addresses without master_name) has only database 0; remove db, or give one address or master_name", c.DB)
	case c.MasterName != "" && len(c.Addresses) == 0:
		return errors.New("master_name: needs the sentinels' addresses (address <host:port>...)")
	case slices.Contains(c.Addresses, ""):
		return errors.New("address: must not be empty")
	case c.PoolSize < 0:
		return fmt.Errorf("pool_size: must not be negative, got %d", c.PoolSize)
	case c.DialTimeout < 0:
		return fmt.Errorf("dial_timeout: must not be negative, got %s", time.Duration(c.DialTimeout))
	case c.Timeout < 0:
		return fmt.Errorf("timeout: must not be negative, got %s", time.Duration(c.Timeout))
	}
	t, err := c.literalTarget()
	if err != nil {
		return err
	}
	if t.db != 0 && c.cluster() {
		return fmt.Errorf("database %d (from an address): a Redis Cluster (several addresses without master_name) has only database 0", t.db)
	}
	return nil
}

// clientOptions are the go-redis options of the block, with its
// placeholders expanded and the defaults applied.
func (c *RedisConn) clientOptions() (*redis.UniversalOptions, error) {
	username, err := expand("username", c.Username, false)
	if err != nil {
		return nil, err
	}
	password, err := expand("password", c.Password, true)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, a := range c.Addresses {
		addr, err := expand("address", a, false)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	t, err := resolveAddresses(addrs, username, password, c.DB)
	if err != nil {
		return nil, err
	}
	if t.db != c.DB && c.cluster() { // db alone: validate says it
		return nil, fmt.Errorf("database %d (from an address): a Redis Cluster (several addresses without master_name) has only database 0", t.db)
	}
	opts := &redis.UniversalOptions{
		Addrs:        t.addrs,
		MasterName:   c.MasterName,
		Username:     t.username,
		Password:     t.password,
		DB:           t.db,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  c.commandTimeout(),
		WriteTimeout: c.commandTimeout(),
		PoolSize:     c.PoolSize,
		// One retry covers a pooled connection that a Redis restart broke,
		// and two quick redials a blip. go-redis's defaults (3 retries of 5
		// redials 100 ms apart) hold every request about 1.7 s while Redis
		// is down, where a prompt 503 serves clients better.
		MaxRetries:         1,
		DialerRetries:      2,
		DialerRetryTimeout: 50 * time.Millisecond,
		// The handler's store_timeout bounds each request through the
		// context; go-redis honours a context deadline only when told to.
		ContextTimeoutEnabled: true,
	}
	if len(opts.Addrs) == 0 {
		opts.Addrs = []string{"127.0.0.1:6379"}
	}
	if c.DialTimeout > 0 {
		opts.DialTimeout = time.Duration(c.DialTimeout)
	}
	if c.TLS || t.tls {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// pipelined reports whether the block pipelines: the `pipeline`
// subdirective, on by default.
func (c *RedisConn) pipelined() bool { return c.Pipeline == nil || *c.Pipeline }

// newClient is the client of opts (from clientOptions), with automatic
// pipelining unless the block turns it off or opts has a client-side
// cache, which a pipeline would bypass.
func (c *RedisConn) newClient(opts *redis.UniversalOptions) redis.UniversalClient {
	client := redis.NewUniversalClient(opts)
	if c.pipelined() && opts.ClientSideCache == nil {
		redispipe.Enable(client, 0)
	}
	return client
}

// clientKey names the client of opts (from clientOptions) and of the
// store's other options that make a different client (extra) in the
// pool: everything, placeholders expanded, hashed so that the password
// is not kept readable.
func (c *RedisConn) clientKey(kind string, opts *redis.UniversalOptions, extra ...any) (string, error) {
	b, err := json.Marshal(append([]any{c, opts.Addrs, opts.Username, opts.Password}, extra...))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return kind + ":" + hex.EncodeToString(sum[:]), nil
}
