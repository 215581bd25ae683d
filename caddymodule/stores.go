package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
)

// storeNamespace is where session stores live; a third party adds a store
// by registering a module in it that implements StoreModule.
const storeNamespace = "http.session.stores"

// purgeInterval is how often expired sessions are swept from the stores
// that do not expire them on their own (memory, file). A variable so that
// tests need not wait a minute.
var purgeInterval = time.Minute

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

// ValuesChecked forwards session.CheckedValues: the token's signer skips
// checking values the store checked when they were written.
func (p *pooledStore) ValuesChecked() bool {
	c, ok := p.Store.(session.CheckedValues)
	return ok && c.ValuesChecked()
}

// LoadsInstantly forwards session.Instant: the handler bounds no load of
// such a store with a timer.
func (p *pooledStore) LoadsInstantly() bool {
	i, ok := p.Store.(session.Instant)
	return ok && i.LoadsInstantly()
}

// LoadAt forwards session.LoaderAt: the shared store's read-only load at
// the request's clock reading, or its Load when it has none.
func (p *pooledStore) LoadAt(ctx context.Context, key string, now time.Time) (session.Record, bool, error) {
	if l, ok := p.Store.(session.LoaderAt); ok {
		return l.LoadAt(ctx, key, now)
	}
	return p.Store.Load(ctx, key)
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
