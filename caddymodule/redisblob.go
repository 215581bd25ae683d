package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/redisblob"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

func init() {
	caddy.RegisterModule(CacheStore{})
}

// redisShared is what `store redis` keeps in the pool: its hash layout,
// and the client its Django layout (BlobBackend) uses.
type redisShared struct {
	*redisstore.Store
	client redis.UniversalClient
}

// BlobBackend returns django-redis-sessions' layout on the store's client:
// one string per session under "<key_prefix>:<key>" (the bare key with
// key_prefix ""; django-redis-sessions' SESSION_REDIS prefix defaults to
// ""), holding the value the handler's codec encodes (Django's signed
// format under `codec django`), its TTL the session's expiry.
func (rs *RedisStore) BlobBackend(BlobOptions) (blob.Backend, error) {
	if rs.client == nil {
		return nil, errors.New("store redis: not provisioned")
	}
	if rs.WaitReplicas > 0 {
		return nil, errors.New("store redis: wait_replicas applies to this store's own layout, not to django-redis-sessions' (codec django)")
	}
	if rs.ClientCache != nil {
		return nil, errors.New("store redis: client_cache applies to this store's own layout, not to django-redis-sessions' (codec django)")
	}
	return redisblob.New(rs.client, redisblob.SessionsKey(rs.prefix)), nil
}

// FixedCodec implements BlobStoreModule: the layout takes the handler's
// codec.
func (*RedisStore) FixedCodec() session.Codec { return nil }

// CacheStore is Django's cache session engine on Redis through django-redis
// (django.contrib.sessions.backends.cache, CACHES BACKEND
// django_redis.cache.RedisCache): one string per session under
// "<key_prefix>:<version>:django.contrib.sessions.cache<session key>",
// holding the session as a JSON object, its TTL the session's expiry.
//
// Django must use django-redis's JSON serializer (OPTIONS SERIALIZER
// "django_redis.serializers.json.JSONSerializer") and no compressor: the
// default pickle serializer's values are refused, never unpickled (a
// pickle is code), and Django could not read JSON written here without
// it. It takes every option of `store redis`, with key_prefix and version
// being Django's CACHES KEY_PREFIX and VERSION.
type CacheStore struct {
	// host:port of the server, the cluster's nodes, or the sentinels.
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
	// Database number (LOCATION redis://host:port/<db>), single node and
	// sentinel only. Default: 0.
	DB int `json:"db,omitempty"`
	// Django's CACHES KEY_PREFIX. Default: "".
	KeyPrefix string `json:"key_prefix,omitempty"`
	// Django's CACHES VERSION. Default: 1.
	Version *int `json:"version,omitempty"`
	// Connect over TLS, verifying the server with the system's roots.
	TLS bool `json:"tls,omitempty"`
	// Default: 2s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// Read and write timeout of one command. Default: 2s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Connections per node. Default: go-redis's, 10 per CPU.
	PoolSize int `json:"pool_size,omitempty"`

	client  redis.UniversalClient
	poolKey string
}

// CaddyModule returns the Caddy module information.
func (CacheStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".cache", New: func() caddy.Module { return new(CacheStore) }}
}

// conn is the connection part of the configuration as a `store redis`, to
// share its options, checks and parsing.
func (c *CacheStore) conn() *RedisStore {
	return &RedisStore{
		Addresses: c.Addresses, MasterName: c.MasterName, Username: c.Username, Password: c.Password,
		DB: c.DB, TLS: c.TLS, DialTimeout: c.DialTimeout, Timeout: c.Timeout, PoolSize: c.PoolSize,
	}
}

// pooledClient shares one client per connection configuration.
type pooledClient struct{ redis.UniversalClient }

func (p pooledClient) Destruct() error { return p.Close() }

// Provision sets up the client. It does not wait for Redis.
func (c *CacheStore) Provision(caddy.Context) error {
	conn := c.conn()
	opts, err := conn.clientOptions()
	if err != nil {
		return fmt.Errorf("store cache: %w", err)
	}
	// As for `store redis`: everything that makes a different client,
	// expanded, the password hashed. key_prefix and version only name keys.
	keyJSON, err := json.Marshal([]any{conn, opts.Addrs, opts.Username, opts.Password})
	if err != nil {
		return fmt.Errorf("store cache: %w", err)
	}
	sum := sha256.Sum256(keyJSON)
	key := "redis-client:" + hex.EncodeToString(sum[:])
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return pooledClient{redis.NewUniversalClient(opts)}, nil
	})
	if err != nil {
		return fmt.Errorf("store cache: %w", err)
	}
	c.poolKey, c.client = key, val.(pooledClient).UniversalClient
	return nil
}

// Cleanup releases the client; the last config holding it closes it.
func (c *CacheStore) Cleanup() error {
	if c.poolKey == "" {
		return nil
	}
	_, err := pool.Delete(c.poolKey)
	return err
}

// Validate refuses options that cannot apply, alone or together.
func (c *CacheStore) Validate() error { return c.conn().validate("cache") }

// BlobBackend implements BlobStoreModule: Django's cache engine layout.
func (c *CacheStore) BlobBackend(BlobOptions) (blob.Backend, error) {
	return c.Backend(redisblob.CacheEngine)
}

// Backend returns the layout of the Django session engine whose cache key
// prefix is enginePrefix: redisblob.CacheEngine for the cache engine,
// redisblob.CachedDBEngine for the cache half of cached_db. The module
// must be provisioned.
func (c *CacheStore) Backend(enginePrefix string) (blob.Backend, error) {
	if c.client == nil {
		return nil, errors.New("store cache: not provisioned")
	}
	version := 1
	if c.Version != nil {
		version = *c.Version
	}
	return redisblob.New(c.client, redisblob.CacheKey(c.KeyPrefix, version, enginePrefix)), nil
}

// FixedCodec implements BlobStoreModule: django-redis's JSON serializer's
// format, whatever the handler's codec.
func (*CacheStore) FixedCodec() session.Codec { return redisblob.CacheJSONCodec{} }

// UnmarshalCaddyfile sets up the store from Caddyfile tokens. Syntax:
//
//	store cache {
//		<every subdirective of store redis>
//		key_prefix <Django's CACHES KEY_PREFIX, default "">
//		version    <Django's CACHES VERSION, default 1>
//	}
func (c *CacheStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	var rs RedisStore
	err := rs.unmarshalBlock(d, "cache", func(sub string) (bool, error) {
		if sub != "version" {
			return false, nil
		}
		val, err := oneArg(d)
		if err != nil {
			return true, err
		}
		n, err := strconv.Atoi(val)
		if err != nil {
			return true, d.Errf("version: bad value %q: want an integer", val)
		}
		c.Version = &n
		return true, nil
	})
	if err != nil {
		return err
	}
	c.Addresses, c.MasterName, c.Username, c.Password = rs.Addresses, rs.MasterName, rs.Username, rs.Password
	c.DB, c.TLS, c.DialTimeout, c.Timeout, c.PoolSize = rs.DB, rs.TLS, rs.DialTimeout, rs.Timeout, rs.PoolSize
	if rs.KeyPrefix != nil {
		c.KeyPrefix = *rs.KeyPrefix
	}
	return nil
}

// Interface guards
var (
	_ BlobStoreModule       = (*RedisStore)(nil)
	_ BlobStoreModule       = (*CacheStore)(nil)
	_ caddy.Provisioner     = (*CacheStore)(nil)
	_ caddy.CleanerUpper    = (*CacheStore)(nil)
	_ caddy.Validator       = (*CacheStore)(nil)
	_ caddyfile.Unmarshaler = (*CacheStore)(nil)
)
