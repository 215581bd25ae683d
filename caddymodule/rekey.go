package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-session/caddy-session/session"
)

// Rekey implements session.Rekeyer when the shared store's view does.
func (p *pooledStore) Rekey(ctx context.Context) (session.RekeyReport, error) {
	if r, ok := p.Store.(session.Rekeyer); ok {
		return r.Rekey(ctx)
	}
	return session.RekeyReport{}, errors.New("this store cannot rekey")
}

// cmdRekey is `caddy sessions rekey`: every handler with encrypt has its
// store seal its sessions again under the current key.
func cmdRekey(fl caddycmd.Flags) (int, error) {
	handlers, err := configHandlers(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	n := 0
	for i, raw := range handlers {
		var h Handler
		if err := json.Unmarshal(raw, &h); err != nil {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("session handler %d: %w", i+1, err)
		}
		if h.Encrypt == nil {
			continue
		}
		n++
		backend := storeName(h.StoreRaw)
		if err := h.Provision(ctx); err != nil {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("session handler %d: %w", i+1, err)
		}
		r, err := rekeyStore(ctx, h.store)
		_ = h.Cleanup()
		if err != nil {
			return caddy.ExitCodeFailedQuit, fmt.Errorf("session handler %d, store %s: %w", i+1, backend, err)
		}
		fmt.Fprintf(os.Stdout, "session handler %d, store %s: %d sessions read, %d sealed again under the current key, %d that no key opens (left as they are)\n", i+1, backend, r.Sessions, r.Changed, r.Refused)
	}
	if n == 0 {
		return caddy.ExitCodeFailedStartup, errors.New("the config has no session handler with encrypt")
	}
	return caddy.ExitCodeSuccess, nil
}

// rekeyStore rekeys a handler's store.
func rekeyStore(ctx context.Context, s session.Store) (session.RekeyReport, error) {
	r, ok := s.(session.Rekeyer)
	if !ok {
		return session.RekeyReport{}, errors.New("this store cannot rekey")
	}
	return r.Rekey(ctx)
}
