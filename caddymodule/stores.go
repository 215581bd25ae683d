package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
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
// by registering a module in it that implements StoreModule.
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

// WithUserIndex implements session.UserIndexable when the shared store
// does.
func (p *pooledStore) WithUserIndex(field string) (session.UserIndexer, error) {
	if ix, ok := p.Store.(session.UserIndexable); ok {
		return ix.WithUserIndex(field)
	}
	return nil, session.ErrNoUserIndex
}

// Cleanup releases the shared store; the last config holding it closes it.
func (p *pooledStore) Cleanup() error {
	_, err := pool.Delete(p.poolKey)
	return err
}

// expand replaces the placeholders in the value of the option name, as
// caddytls's ACME issuer does: an unknown placeholder (a typo such as
// `{envSECRET}`) or one that is empty (an unset variable) is an error
// naming the option, never a literal or an empty value. `\{` is a literal
// brace. For a secret, an unknown placeholder is not quoted: the braces may
// belong to a literal secret.
func expand(name, val string, secret bool) (string, error) {
	out, err := caddy.NewReplacer().ReplaceOrErr(val, true, true)
	if err != nil {
		return "", placeholderError(name, err, secret)
	}
	return out, nil
}

// placeholderError names the option in a placeholder error.
func placeholderError(name string, err error, secret bool) error {
	if secret && strings.HasPrefix(err.Error(), "unrecognized placeholder") {
		return fmt.Errorf(`%s: unrecognized placeholder (not shown: it may be part of a literal secret); use {env.NAME} or {file.PATH}, and write a literal { as \{`, name)
	}
	return fmt.Errorf("%s: %v", name, err)
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
		stopPurger := runPurger(logger, func(now time.Time) (int, error) { return s.Purge(now), nil })
		uncount := countSessions(s) // caddy_session_active_sessions
		return s, func() error { uncount(); return stopPurger() }, nil
	})
}

// OpenStore implements StoreModule: the process's one memory store.
func (m *MemoryStore) OpenStore(o StoreOptions) (session.Store, error) {
	if o.Codec == "django" {
		return nil, errNoDjangoLayout()
	}
	return m, nil
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
	// Placeholders such as `{env.X}` are expanded; an unknown or empty
	// one is an error. The store creates a missing directory with mode
	// 0700 and refuses an existing one that group or others may read,
	// write or search: the file names are session keys.
	Dir string `json:"dir,omitempty"`

	// The layout of the files: "" for this store's own (one JSON file per
	// session, fields apart), or "django" for Django's file engine (one
	// file "<cookie name><key>" holding the encoded session), which
	// `codec django` implies; "django" needs `codec django`.
	Layout string `json:"layout,omitempty"`

	pooledStore
	dir       string // absolute, placeholders expanded
	djangoKey string // pool key of the Django layout's backend
}

// CaddyModule returns the Caddy module information.
func (FileStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".file", New: func() caddy.Module { return new(FileStore) }}
}

// Provision resolves the directory; OpenStore opens the layout the
// handler's codec asks for.
func (f *FileStore) Provision(caddy.Context) error {
	dir := filepath.Join(caddy.AppDataDir(), "sessions")
	if f.Dir != "" {
		var err error
		if dir, err = expand("dir", f.Dir, false); err != nil {
			return fmt.Errorf("store file: %w", err)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("store file: %w", err)
	}
	f.dir = dir
	switch f.Layout {
	case "", "django":
	default:
		return fmt.Errorf("store file: layout must be empty or django, got %q", f.Layout)
	}
	return nil
}

// OpenStore implements StoreModule: this store's own layout, shared by
// every handler on the directory, or Django's file engine layout under
// `codec django` (filedjango.go).
func (f *FileStore) OpenStore(o StoreOptions) (session.Store, error) {
	if o.Codec == "django" || f.Layout == "django" {
		return f.openDjango(o)
	}
	err := f.load("file:"+f.dir, func() (session.Store, func() error, error) {
		s, err := filestore.New(f.dir)
		if err != nil {
			return nil, nil, err
		}
		return s, runPurger(o.logger(), func(now time.Time) (int, error) { return s.Purge(now) }), nil
	})
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	return f, nil
}

// UnmarshalCaddyfile: `store file [<dir>]`.
func (f *FileStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		f.Dir = d.Val()
		if err := checkPlaceholders(d, "dir", false, f.Dir); err != nil {
			return fmt.Errorf("store file: %w", err)
		}
	}
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("store file: takes at most one argument, the directory")
	}
	return nil
}

// RedisStore keeps each session in a Redis hash whose TTL is the session's
// expiry; under the handler's `codec django`, one string per session in
// django-redis-sessions' layout instead (OpenStore, in redisblob.go). One
// address is a single node; several are a cluster; with master_name, the
// addresses are sentinels. One client per configuration is shared across
// config reloads.
type RedisStore struct {
	// How to reach Redis: addresses, master_name, username, password, db,
	// tls, dial_timeout, timeout, pool_size.
	RedisConn
	// Prefix of every key: `<prefix>:<session key>`, or the bare session
	// key when empty. Default: `session`.
	KeyPrefix *string `json:"key_prefix,omitempty"`
	// Replicas that must acknowledge each save and delete (Redis WAIT on
	// the connection that wrote) before it counts as done; fewer within
	// wait_timeout make the request fail with 503, though the primary
	// applied the write. Single node or sentinel only; hash layout only
	// (codec json). Default: 0, no waiting.
	WaitReplicas int `json:"wait_replicas,omitempty"`
	// How long a save waits for wait_replicas; below timeout. Default: 1s.
	WaitTimeout caddy.Duration `json:"wait_timeout,omitempty"`
	// Serve repeated reads of a session from this Caddy's memory, kept
	// fresh by Redis' server-assisted client-side caching (CLIENT TRACKING
	// over RESP3): a read of a cached session costs no round trip. A
	// change or end of the session by any client evicts the copy when
	// Redis' invalidation arrives (a few milliseconds); max_staleness
	// bounds it if an invalidation is lost. This Caddy's own writes evict
	// at once. Single node only, database 0, hash layout only (codec
	// json). Default: off.
	ClientCache *RedisClientCache `json:"client_cache,omitempty"`

	pooledStore
	client redis.UniversalClient // the pooled client, for the Django layout
	prefix string                // key_prefix with its default applied
}

// RedisClientCache configures `client_cache` of `store redis`.
type RedisClientCache struct {
	// The longest a cached session is served without being read from
	// Redis again, whatever the invalidations: the bound on how long
	// another instance's change or logout can go unseen here when an
	// invalidation is lost. Default: 1s.
	MaxStaleness caddy.Duration `json:"max_staleness,omitempty"`
	// Sessions kept, least recently used evicted first. Default: 10000.
	MaxEntries int `json:"max_entries,omitempty"`
}

// cacheConfig is c with its defaults applied.
func (c *RedisClientCache) cacheConfig() redis.CacheConfig {
	cfg := redis.CacheConfig{MaxEntries: c.MaxEntries, MaxStaleness: time.Duration(c.MaxStaleness)}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = time.Second
	}
	return cfg
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".redis", New: func() caddy.Module { return new(RedisStore) }}
}

// Provision sets up the store. It does not wait for Redis: Caddy starts
// while Redis is down, requests get 503 meanwhile, and the client
// reconnects on its own.
func (rs *RedisStore) Provision(ctx caddy.Context) error {
	opts, err := rs.clientOptions()
	if err != nil {
		return fmt.Errorf("store redis: %w", err)
	}
	prefix := "session"
	if rs.KeyPrefix != nil {
		prefix = *rs.KeyPrefix
	}
	key, err := rs.clientKey("redis", opts, rs.KeyPrefix, rs.WaitReplicas, rs.WaitTimeout, rs.ClientCache, prefix)
	if err != nil {
		return fmt.Errorf("store redis: %w", err)
	}
	err = rs.load(key, func() (session.Store, func() error, error) {
		var sopts []redisstore.Option
		if rs.ClientCache != nil {
			cache := redis.NewLocalCache(rs.ClientCache.cacheConfig())
			opts.Protocol, opts.ClientSideCache = 3, cache
			sopts = append(sopts, redisstore.ClientCache(cache, opts.DB, opts.Username))
		}
		client := redis.NewUniversalClient(opts)
		if rs.WaitReplicas > 0 {
			sopts = append(sopts, redisstore.WaitReplicas(rs.WaitReplicas, rs.waitTimeout()))
		}
		return redisShared{redisstore.New(client, prefix, sopts...), client}, client.Close, nil
	})
	if err != nil {
		return fmt.Errorf("store redis: %w", err)
	}
	rs.client, rs.prefix = rs.Store.(redisShared).client, prefix
	return nil
}

// waitTimeout is wait_timeout with its default applied.
func (rs *RedisStore) waitTimeout() time.Duration {
	if rs.WaitTimeout > 0 {
		return time.Duration(rs.WaitTimeout)
	}
	return time.Second
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
//		wait_replicas <n> [<timeout>]
//		client_cache [<max_staleness>] {
//			max_entries <n>
//		}
//	}
//
// `address` may repeat, its addresses adding up; any other subdirective
// given twice is an error. username, password and the addresses may hold
// placeholders, expanded at provision; one that can never resolve (an
// unknown name) is refused here already.
func (rs *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	err := unmarshalRedisBlock(d, "redis", &rs.RedisConn, func(sub string) (bool, error) {
		switch sub {
		case "key_prefix":
			prefix, err := oneArg(d)
			rs.KeyPrefix = &prefix
			return true, err
		case "wait_replicas":
			return true, rs.waitArgs(d)
		case "client_cache":
			return true, rs.clientCacheArgs(d)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	// What Validate refuses fails `caddy adapt` already.
	if err := rs.Validate(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// Validate refuses options that cannot apply, alone or together.
func (rs *RedisStore) Validate() error {
	err := rs.RedisConn.validate()
	switch {
	case err != nil:
	case rs.WaitReplicas < 0:
		err = fmt.Errorf("wait_replicas: must not be negative, got %d", rs.WaitReplicas)
	case rs.WaitTimeout < 0:
		err = fmt.Errorf("wait_timeout: must not be negative, got %s", time.Duration(rs.WaitTimeout))
	case rs.WaitTimeout > 0 && rs.WaitReplicas == 0:
		err = errors.New("wait_timeout: needs wait_replicas")
	case rs.WaitReplicas > 0 && rs.cluster():
		err = errors.New("wait_replicas: not on a Redis Cluster (several addresses without master_name): WAIT has no key to route by; give one address or master_name")
	case rs.ClientCache != nil && (len(rs.Addresses) > 1 || rs.MasterName != ""):
		err = errors.New("client_cache: single node only (one address, no master_name): go-redis caches for a single node's client")
	case rs.ClientCache != nil && rs.DB != 0:
		err = fmt.Errorf("client_cache: database 0 only, got db %d: go-redis caches database 0 only", rs.DB)
	case rs.ClientCache != nil && (rs.ClientCache.MaxStaleness < 0 || rs.ClientCache.MaxEntries < 0):
		err = errors.New("client_cache: max_staleness and max_entries must not be negative")
	case rs.WaitReplicas > 0 && rs.waitTimeout() >= rs.commandTimeout():
		err = fmt.Errorf("wait_replicas: its timeout %s must be below the command timeout %s, or the wait would end in a read timeout", rs.waitTimeout(), rs.commandTimeout())
	}
	if err != nil {
		return fmt.Errorf("store redis: %w", err)
	}
	return nil
}

// waitArgs reads `wait_replicas <n> [<timeout>]`.
func (rs *RedisStore) waitArgs(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.Errf("wait_replicas: want <n> [<timeout>], got %d arguments", len(args))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return d.Errf("wait_replicas: bad value %q: want an integer of at least 1", args[0])
	}
	rs.WaitReplicas = n
	if len(args) == 2 {
		dur, err := caddy.ParseDuration(args[1])
		if err != nil || dur <= 0 {
			return d.Errf("wait_replicas: bad timeout %q: want a positive duration", args[1])
		}
		rs.WaitTimeout = caddy.Duration(dur)
	}
	return nil
}

// clientCacheArgs reads `client_cache [<max_staleness>] { max_entries <n> }`.
func (rs *RedisStore) clientCacheArgs(d *caddyfile.Dispenser) error {
	c := new(RedisClientCache)
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		dur, err := caddy.ParseDuration(args[0])
		if err != nil || dur <= 0 {
			return d.Errf("client_cache: bad max_staleness %q: want a positive duration", args[0])
		}
		c.MaxStaleness = caddy.Duration(dur)
	default:
		return d.Errf("client_cache: want [<max_staleness>], got %d arguments", len(args))
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := once(d, seen, sub); err != nil {
			return err
		}
		if sub != "max_entries" {
			return d.Errf("client_cache: unrecognized subdirective %q", sub)
		}
		if err := intArg(d, &c.MaxEntries); err != nil {
			return err
		}
	}
	rs.ClientCache = c
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
	_ caddy.Validator       = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisStore)(nil)
)

// PurgeExpired implements Purger.
func (m *MemoryStore) PurgeExpired(_ context.Context, now time.Time) (int, error) {
	return m.Store.(*memstore.Store).Purge(now), nil
}

// PurgeExpired implements Purger: the expired session files of this
// store's own layout (Django's is purged through its blob store).
func (f *FileStore) PurgeExpired(_ context.Context, now time.Time) (int, error) {
	return f.Store.(*filestore.Store).Purge(now)
}
