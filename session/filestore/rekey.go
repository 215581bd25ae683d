package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// Rekey implements session.Rekeyer: each session file sealed again under
// the view's current key, under its lock stripe, so that a concurrent Save
// is neither lost nor undone.
func (s *Store) Rekey(ctx context.Context) (session.RekeyReport, error) {
	var r session.RekeyReport
	if s.sealer == nil {
		return r, errors.New("rekeying: encryption is off")
	}
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("listing session directory: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		if key := e.Name(); session.ValidKey(key) {
			if err := s.rekey(ctx, key, &r); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

func (s *Store) rekey(ctx context.Context, key string, r *session.RekeyReport) error {
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	exp, stored, ok, err := s.readFile(key, time.Now())
	if err != nil || !ok {
		return err
	}
	r.Sessions++
	data, current, err := s.sealer.OpenData(key, stored)
	if err != nil {
		r.Refused++
		return nil
	}
	if current {
		return nil
	}
	sealed, err := s.sealer.SealData(key, data)
	if err != nil {
		return err
	}
	if err := s.write(key, encodeRaw(exp, sealed)); err != nil {
		return fmt.Errorf("writing session file: %w", hidePath(err))
	}
	r.Changed++
	return nil
}
