package blob

import (
	"context"
	"errors"

	"github.com/caddy-session/caddy-session/session"
)

// Lister is a Backend that can list its keys, in order, from after (""
// for the first): a batch at a time, an empty one at the end.
type Lister interface {
	Keys(ctx context.Context, after string) ([]string, error)
}

// Rekey implements session.Rekeyer on a Backend that is a Lister: each
// value sealed again under the current key inside the backend's atomic
// read-modify-write (Modify), so that a concurrent write is neither lost
// nor undone.
func (s *Store) Rekey(ctx context.Context) (session.RekeyReport, error) {
	var r session.RekeyReport
	if s.Sealer == nil {
		return r, errors.New("rekeying: encryption is off")
	}
	l, ok := s.Backend.(Lister)
	if !ok {
		return r, errors.New("rekeying: this store cannot list its sessions")
	}
	after := ""
	for {
		keys, err := l.Keys(ctx, after)
		if err != nil || len(keys) == 0 {
			return r, err
		}
		for _, key := range keys {
			if err := s.rekey(ctx, key, &r); err != nil {
				return r, err
			}
		}
		after = keys[len(keys)-1]
	}
}

func (s *Store) rekey(ctx context.Context, key string, r *session.RekeyReport) error {
	var read, changed, refused bool
	err := s.Backend.Modify(ctx, key, func(cur Value, exists bool) (Op, error) {
		read, changed, refused = false, false, false
		if !exists || (!cur.ExpiresAt.IsZero() && !cur.ExpiresAt.After(s.now())) {
			return Op{Kind: Keep}, nil
		}
		read = true
		plain, current, err := s.Sealer.Open(key, session.WholeSession, cur.Data)
		if err != nil {
			refused = true
			return Op{Kind: Keep}, nil
		}
		if current {
			return Op{Kind: Keep}, nil
		}
		changed = true
		v := cur
		v.Data = s.Sealer.Seal(key, session.WholeSession, plain)
		return Op{Kind: Put, Value: v}, nil
	})
	if err != nil {
		return err
	}
	if read {
		r.Sessions++
	}
	if changed {
		r.Changed++
	}
	if refused {
		r.Refused++
	}
	return nil
}
