package caddymodule

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisblob"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// RedisStore keeps each session in a Redis hash whose TTL is the session's
// expiry; under the handler's `codec django`, one string per session in
// django-redis-sessions' layout instead (OpenStore, below). One
// address is a single node; several are a cluster; with master_name, the
// addresses are sentinels. One client per configuration is shared across
// config reloads.
type RedisStore struct {
	// How to reach Redis: addresses, master_name, username, password, db,
	// tls, dial_timeout, timeout, pool_size, pipeline.
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
		client := rs.newClient(opts)
		if rs.WaitReplicas > 0 {
			sopts = append(sopts, redisstore.WaitReplicas(rs.WaitReplicas, rs.waitTimeout()))
		}
		stopCheck := warnIfUnreachable(ctx.Logger(), "redis", client, opts.Addrs, startCheckTimeout(opts))
		closeAll := func() error {
			stopCheck()
			return client.Close()
		}
		return redisShared{redisstore.New(client, prefix, sopts...), client}, closeAll, nil
	})
	if err != nil {
		return fmt.Errorf("store redis: %w", err)
	}
	rs.client, rs.prefix = rs.Store.(redisShared).client, prefix
	return nil
}

// literalDB is the database the block names, by db or in an address
// without placeholders; Validate has checked the addresses before.
func (rs *RedisStore) literalDB() int {
	t, _ := rs.literalTarget()
	return t.db
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
//		address      <host[:port] | redis://... | rediss://... | unix://...>...
//		master_name  <name>
//		username     <user>
//		password     <password>
//		db           <n>
//		key_prefix   <prefix>
//		tls
//		dial_timeout <duration>
//		timeout      <duration>
//		pool_size    <n>
//		pipeline     on|off
//		wait_replicas <n> [<timeout>]
//		client_cache [<max_staleness>] {
//			max_entries <n>
//		}
//	}
//
// `address` may repeat, its addresses adding up; any other subdirective
// given twice is an error. An address without a port means 6379; a
// URL's user, password and /db fill username, password and db, and must
// agree with them when both are given. username, password and the
// addresses may hold placeholders, expanded at provision; one that can
// never resolve (an unknown name) is refused here already.
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
	case rs.ClientCache != nil && rs.Pipeline != nil && *rs.Pipeline:
		err = errors.New("pipeline on: not with client_cache, whose cached reads a pipeline would bypass; remove one")
	case rs.ClientCache != nil && rs.literalDB() != 0:
		err = fmt.Errorf("client_cache: database 0 only, got db %d: go-redis caches database 0 only", rs.literalDB())
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
			return d.Errf("wait_replicas: bad timeout %q: above zero, %s", args[1], durationUnits)
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
			return d.Errf("client_cache: bad max_staleness %q: above zero, %s", args[0], durationUnits)
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
			return unknownSubdirective(d, "client_cache", sub, []string{"max_entries"})
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

// redisShared is what `store redis` keeps in the pool: its hash layout,
// and the client its Django layout (OpenStore under codec django) uses.
type redisShared struct {
	*redisstore.Store
	client redis.UniversalClient
}

// OpenStore implements StoreModule: this store's hash layout, shared by
// the handlers configured alike, or under `codec django`
// django-redis-sessions' layout on the same client: one string per session
// under "<key_prefix>:<key>" (the bare key with key_prefix "";
// django-redis-sessions' SESSION_REDIS prefix defaults to ""), holding the
// value Django's codec encodes, its TTL the session's expiry.
func (rs *RedisStore) OpenStore(o StoreOptions) (session.Store, error) {
	if o.Codec != "django" {
		if o.Sealer != nil {
			shared := rs.Store.(redisShared)
			rs.Store = redisShared{shared.Store.WithSealer(o.Sealer), shared.client}
		}
		return rs, nil
	}
	if rs.client == nil {
		return nil, errors.New("store redis: not provisioned")
	}
	if rs.WaitReplicas > 0 {
		return nil, errors.New("store redis: wait_replicas applies to this store's own layout, not to django-redis-sessions' (codec django)")
	}
	if rs.ClientCache != nil {
		return nil, errors.New("store redis: client_cache applies to this store's own layout, not to django-redis-sessions' (codec django)")
	}
	codec, err := o.Encoding(true)
	if err != nil {
		return nil, err
	}
	// The user index (user_key) and its revocation marks as the hash
	// layout keeps them.
	index, marks := "user:", "revoked:"
	if rs.prefix != "" {
		index, marks = rs.prefix+":user:", rs.prefix+":revoked:"
	}
	return o.blobStore(redisblob.New(rs.client, nil).WithIndex(redisblob.SessionsHead(rs.prefix), index, marks), codec), nil
}

// CanEncrypt implements EncryptingStore: the hash layout seals each field;
// django-redis-sessions' layout (codec django) cannot.
func (rs *RedisStore) CanEncrypt(o StoreOptions) error {
	if o.Codec == "django" {
		return errEncryptDjangoCodec
	}
	return nil
}

// Interface guards
var (
	_ EncryptingStore       = (*RedisStore)(nil)
	_ session.Store         = (*RedisStore)(nil)
	_ caddy.Provisioner     = (*RedisStore)(nil)
	_ caddy.CleanerUpper    = (*RedisStore)(nil)
	_ caddy.Validator       = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisStore)(nil)
)
