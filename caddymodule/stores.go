package caddymodule

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/filestore"
	"github.com/caddy-session/caddy-session/session/memstore"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

// storeNamespace is where session stores live; a third party adds a store
// by registering a module in it that implements session.Store.
const storeNamespace = "http.session.stores"

// purgeInterval is how often expired sessions are swept from the stores
// that do not expire them on their own (memory, file). A variable so that
// tests need not wait a minute.
var purgeInterval = time.Minute

func init() {
	caddy.RegisterModule(MemoryStore{})
	caddy.RegisterModule(FileStore{})
	caddy.RegisterModule(RedisStore{})
}

// pool shares one store or client per configuration across config reloads
// and across the handlers of one config, like caddypki's database pool.
var pool = caddy.NewUsagePool()

type pooled struct {
	store session.Store
	stop  func() error
}

func (p pooled) Destruct() error { return p.stop() }

// pooledStore is embedded by each store module: it holds the store shared
// under one pool key and releases it on Cleanup.
type pooledStore struct {
	session.Store `json:"-"`
	poolKey       string
}

// load sets the store shared under key, creating it with open if no config
// holds it yet.
func (p *pooledStore) load(key string, open func() (session.Store, func() error, error)) error {
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, stop, err := open()
		if err != nil {
			return nil, err
		}
		return pooled{store: s, stop: stop}, nil
	})
	if err != nil {
		return err
	}
	p.poolKey, p.Store = key, val.(pooled).store
	return nil
}

// Cleanup releases the shared store; the last config holding it closes it.
func (p *pooledStore) Cleanup() error {
	_, err := pool.Delete(p.poolKey)
	return err
}

// runPurger sweeps expired sessions every purgeInterval until stopped.
func runPurger(logger *zap.Logger, purge func(time.Time) (int, error)) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(purgeInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				n, err := purge(now)
				if err != nil {
					logger.Error("purging expired sessions", zap.Error(err))
				} else if n > 0 {
					logger.Debug("purged expired sessions", zap.Int("count", n))
				}
			}
		}
	}()
	return func() error { cancel(); <-done; return nil }
}

// MemoryStore keeps sessions in this process's memory: they survive config
// reloads but not a restart, and are not shared with other Caddy instances.
// For tests and trials.
type MemoryStore struct {
	pooledStore
}

// CaddyModule returns the Caddy module information.
func (MemoryStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".memory", New: func() caddy.Module { return new(MemoryStore) }}
}

// Provision sets up the store.
func (m *MemoryStore) Provision(ctx caddy.Context) error {
	logger := ctx.Logger()
	return m.load("memory", func() (session.Store, func() error, error) {
		s := memstore.New()
		return s, runPurger(logger, func(now time.Time) (int, error) { return s.Purge(now), nil }), nil
	})
}

// UnmarshalCaddyfile: `store memory`.
func (m *MemoryStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("store memory: takes no arguments")
	}
	return nil
}

// FileStore keeps one file per session in a directory, replaced atomically
// on every save. Several Caddy processes may share the directory. It is the
// default store.
type FileStore struct {
	// The directory. Default: `sessions` under Caddy's data directory.
	// Placeholders such as `{env.X}` are expanded.
	Dir string `json:"dir,omitempty"`

	pooledStore
}

// CaddyModule returns the Caddy module information.
func (FileStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".file", New: func() caddy.Module { return new(FileStore) }}
}

// Provision sets up the store.
func (f *FileStore) Provision(ctx caddy.Context) error {
	logger := ctx.Logger()
	dir := caddy.NewReplacer().ReplaceKnown(f.Dir, "")
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "sessions")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("store file: %w", err)
	}
	err = f.load("file:"+dir, func() (session.Store, func() error, error) {
		s, err := filestore.New(dir)
		if err != nil {
			return nil, nil, err
		}
		return s, runPurger(logger, s.Purge), nil
	})
	if err != nil {
		return fmt.Errorf("store file: %w", err)
	}
	return nil
}

// UnmarshalCaddyfile: `store file [<dir>]`.
func (f *FileStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		f.Dir = d.Val()
	}
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("store file: takes at most one argument, the directory")
	}
	return nil
}

// RedisStore keeps each session in a Redis hash whose TTL is the session's
// expiry. One address is a single node; several are a cluster; with
// master_name, the addresses are sentinels. One client per configuration is
// shared across config reloads.
type RedisStore struct {
	// host:port of the server, the cluster's nodes, or the sentinels.
	// Default: 127.0.0.1:6379.
	Addresses []string `json:"addresses,omitempty"`
	// The sentinel master's name; makes Addresses sentinels.
	MasterName string `json:"master_name,omitempty"`
	Username   string `json:"username,omitempty"`
	// Placeholders such as `{env.REDIS_PASSWORD}` are expanded.
	Password string `json:"password,omitempty"`
	// Database number (single node and sentinel only). Default: 0.
	DB int `json:"db,omitempty"`
	// Prefix of every key: `<prefix>:<session key>`, or the bare session
	// key when empty. Default: `session`.
	KeyPrefix *string `json:"key_prefix,omitempty"`
	// Connect over TLS, verifying the server with the system's roots.
	TLS bool `json:"tls,omitempty"`
	// Default: 2s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// Read and write timeout of one command. Default: 2s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Connections per node. Default: go-redis's, 10 per CPU.
	PoolSize int `json:"pool_size,omitempty"`

	pooledStore
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".redis", New: func() caddy.Module { return new(RedisStore) }}
}

// Provision sets up the store. It does not wait for Redis: Caddy starts
// while Redis is down, requests get 503 meanwhile, and the client
// reconnects on its own.
func (rs *RedisStore) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	opts := &redis.UniversalOptions{
		MasterName:   rs.MasterName,
		Username:     repl.ReplaceKnown(rs.Username, ""),
		Password:     repl.ReplaceKnown(rs.Password, ""),
		DB:           rs.DB,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		PoolSize:     rs.PoolSize,
		// One retry covers a pooled connection that a Redis restart broke,
		// and two quick redials a blip. go-redis's defaults (3 retries of 5
		// redials 100 ms apart) hold every request about 1.7 s while Redis
		// is down, where a prompt 503 serves clients better.
		MaxRetries:         1,
		DialerRetries:      2,
		DialerRetryTimeout: 50 * time.Millisecond,
	}
	for _, a := range rs.Addresses {
		opts.Addrs = append(opts.Addrs, repl.ReplaceKnown(a, ""))
	}
	if len(opts.Addrs) == 0 {
		opts.Addrs = []string{"127.0.0.1:6379"}
	}
	if rs.DialTimeout > 0 {
		opts.DialTimeout = time.Duration(rs.DialTimeout)
	}
	if rs.Timeout > 0 {
		opts.ReadTimeout, opts.WriteTimeout = time.Duration(rs.Timeout), time.Duration(rs.Timeout)
	}
	if rs.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	prefix := "session"
	if rs.KeyPrefix != nil {
		prefix = *rs.KeyPrefix
	}

	// The pool key covers everything that makes a different client, with
	// placeholders expanded; the password is hashed, not kept readable.
	keyJSON, err := json.Marshal([]any{rs, opts.Addrs, opts.Username, opts.Password, prefix})
	if err != nil {
		return fmt.Errorf("store redis: %w", err)
	}
	sum := sha256.Sum256(keyJSON)
	err = rs.load("redis:"+hex.EncodeToString(sum[:]), func() (session.Store, func() error, error) {
		client := redis.NewUniversalClient(opts)
		return redisstore.New(client, prefix), client.Close, nil
	})
	if err != nil {
		return fmt.Errorf("store redis: %w", err)
	}
	return nil
}

// UnmarshalCaddyfile sets up the store from Caddyfile tokens. Syntax:
//
//	store redis {
//		address      <host:port>...
//		master_name  <name>
//		username     <user>
//		password     <password>
//		db           <n>
//		key_prefix   <prefix>
//		tls
//		dial_timeout <duration>
//		timeout      <duration>
//		pool_size    <n>
//	}
func (rs *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		sub := d.Val()
		var err error
		switch sub {
		case "address":
			var args []string
			args, err = someArgs(d)
			rs.Addresses = append(rs.Addresses, args...)
		case "tls":
			rs.TLS, err = true, noArgs(d)
		case "master_name":
			rs.MasterName, err = oneArg(d)
		case "username":
			rs.Username, err = oneArg(d)
		case "password":
			rs.Password, err = oneArg(d)
		case "key_prefix":
			var prefix string
			if prefix, err = oneArg(d); err == nil {
				rs.KeyPrefix = &prefix
			}
		case "db":
			err = intArg(d, &rs.DB)
		case "pool_size":
			err = intArg(d, &rs.PoolSize)
		case "dial_timeout":
			err = durationArg(d, &rs.DialTimeout)
		case "timeout":
			err = durationArg(d, &rs.Timeout)
		default:
			return d.Errf("store redis: unrecognized subdirective %q", sub)
		}
		if err != nil {
			return fmt.Errorf("store redis: %w", err)
		}
	}
	return nil
}

// intArg reads the one non-negative integer argument of the current
// subdirective.
func intArg(d *caddyfile.Dispenser, dst *int) error {
	name := d.Val()
	val, err := oneArg(d)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(val)
	if err != nil || n < 0 {
		return d.Errf("%s: bad value %q: want a non-negative integer", name, val)
	}
	*dst = n
	return nil
}

// Interface guards
var (
	_ session.Store         = (*MemoryStore)(nil)
	_ caddy.Provisioner     = (*MemoryStore)(nil)
	_ caddy.CleanerUpper    = (*MemoryStore)(nil)
	_ caddyfile.Unmarshaler = (*MemoryStore)(nil)
	_ session.Store         = (*FileStore)(nil)
	_ caddy.Provisioner     = (*FileStore)(nil)
	_ caddy.CleanerUpper    = (*FileStore)(nil)
	_ caddyfile.Unmarshaler = (*FileStore)(nil)
	_ session.Store         = (*RedisStore)(nil)
	_ caddy.Provisioner     = (*RedisStore)(nil)
	_ caddy.CleanerUpper    = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisStore)(nil)
)
