package caddymodule

import (
	"context"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/memstore"
)

func init() {
	caddy.RegisterModule(MemoryStore{})
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
		return nil, errNoDjangoLayout
	}
	if o.Sealer != nil {
		m.Store = m.Store.(*memstore.Store).WithSealer(o.Sealer)
	}
	return m, nil
}

// CanEncrypt implements EncryptingStore: the memory store seals each
// session as one value.
func (m *MemoryStore) CanEncrypt(StoreOptions) error { return nil }

// UnmarshalCaddyfile: `store memory`.
func (m *MemoryStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("store memory: takes no arguments")
	}
	return nil
}

// PurgeExpired implements Purger.
func (m *MemoryStore) PurgeExpired(_ context.Context, now time.Time) (int, error) {
	return m.Store.(*memstore.Store).Purge(now), nil
}

// Interface guards
var (
	_ session.Store         = (*MemoryStore)(nil)
	_ caddy.Provisioner     = (*MemoryStore)(nil)
	_ caddy.CleanerUpper    = (*MemoryStore)(nil)
	_ caddyfile.Unmarshaler = (*MemoryStore)(nil)
	_ EncryptingStore       = (*MemoryStore)(nil)
)
