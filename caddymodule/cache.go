package caddymodule

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/redisblob"
)

func init() {
	caddy.RegisterModule(CacheStore{})
}

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
	// How to reach Redis: every connection option of `store redis`
	// (addresses, master_name, username, password, db, tls, dial_timeout,
	// timeout, pool_size, pipeline). db is LOCATION's redis://host:port/<db>.
	RedisConn
	// Django's CACHES KEY_PREFIX. Default: "".
	KeyPrefix string `json:"key_prefix,omitempty"`
	// Django's CACHES VERSION. Default: 1.
	Version *int `json:"version,omitempty"`

	client  redis.UniversalClient
	poolKey string
}

// CaddyModule returns the Caddy module information.
func (CacheStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".cache", New: func() caddy.Module { return new(CacheStore) }}
}

// pooledClient shares one client per connection configuration.
type pooledClient struct {
	redis.UniversalClient
	stopCheck func()
}

func (p pooledClient) Destruct() error {
	p.stopCheck()
	return p.Close()
}

// Provision sets up the client. It does not wait for Redis.
func (c *CacheStore) Provision(ctx caddy.Context) error {
	opts, err := c.clientOptions()
	if err != nil {
		return fmt.Errorf("store cache: %w", err)
	}
	// key_prefix and version only name keys: one client per connection.
	key, err := c.clientKey("redis-client", opts)
	if err != nil {
		return fmt.Errorf("store cache: %w", err)
	}
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		client := c.newClient(opts)
		stop := warnIfUnreachable(ctx.Logger(), "cache", client, opts.Addrs, startCheckTimeout(opts))
		return pooledClient{client, stop}, nil
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
func (c *CacheStore) Validate() error {
	if err := c.RedisConn.validate(); err != nil {
		return fmt.Errorf("store cache: %w", err)
	}
	return nil
}

// OpenStore implements StoreModule: Django's cache engine layout, in
// django-redis's JSON serializer's format whatever the handler's codec.
func (c *CacheStore) OpenStore(o StoreOptions) (session.Store, error) {
	b, err := c.Backend(redisblob.CacheEngine)
	if err != nil {
		return nil, err
	}
	return o.blobStore(b, redisblob.CacheJSONCodec{}), nil
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
	// The user index (user_key) and its revocation marks beside the
	// sessions, in the cache's own key space:
	// "<KEY_PREFIX>:<VERSION>:caddy-session.user:<user>" and
	// "<KEY_PREFIX>:<VERSION>:caddy-session.revoked:<user>".
	head := redisblob.CacheHead(c.KeyPrefix, version, enginePrefix)
	index := redisblob.CacheHead(c.KeyPrefix, version, "caddy-session.user:")
	marks := redisblob.CacheHead(c.KeyPrefix, version, "caddy-session.revoked:")
	return redisblob.New(c.client, nil).WithIndex(head, index, marks), nil
}

// UnmarshalCaddyfile sets up the store from Caddyfile tokens. Syntax:
//
//	store cache {
//		<every subdirective of store redis>
//		key_prefix <Django's CACHES KEY_PREFIX, default "">
//		version    <Django's CACHES VERSION, default 1>
//	}
func (c *CacheStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	err := unmarshalRedisBlock(d, "cache", &c.RedisConn, func(sub string) (bool, error) {
		var err error
		switch sub {
		case "key_prefix":
			c.KeyPrefix, err = oneArg(d)
		case "version":
			var val string
			if val, err = oneArg(d); err == nil {
				n, aerr := strconv.Atoi(val)
				if aerr != nil {
					return true, d.Errf("version: bad value %q: want an integer", val)
				}
				c.Version = &n
			}
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return err
	}
	// What Validate refuses fails `caddy adapt` already.
	if err := c.Validate(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*CacheStore)(nil)
	_ caddy.CleanerUpper    = (*CacheStore)(nil)
	_ caddy.Validator       = (*CacheStore)(nil)
	_ caddyfile.Unmarshaler = (*CacheStore)(nil)
)

// CanEncrypt implements EncryptingStore: never, Django's cache engine
// reads this layout.
func (c *CacheStore) CanEncrypt(StoreOptions) error {
	return errDjangoReads("store cache (Django's cache engine)")
}

var _ EncryptingStore = (*CacheStore)(nil)
