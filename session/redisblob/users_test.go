package redisblob_test

import (
	"testing"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	djcodec "github.com/caddy-session/caddy-session/session/django"
	"github.com/caddy-session/caddy-session/session/redisblob"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func TestUserIndex(t *testing.T) {
	srv := testredis.Start(t)
	for _, l := range []struct {
		name, head, index, marks string
		codec                    session.Codec
	}{
		{"Cache", redisblob.CacheHead("djc", 1, redisblob.CacheEngine), "djc:1:caddy-session.user:", "djc:1:caddy-session.revoked:", redisblob.CacheJSONCodec{}},
		{"Sessions", redisblob.SessionsHead(""), "user:", "revoked:", &djcodec.Codec{Key: []byte("django-insecure-user-index-test"), Salt: djcodec.SessionSalt}},
		{"SessionsWithPrefix", redisblob.SessionsHead("session"), "session:user:", "session:revoked:", session.JSONCodec{}},
	} {
		t.Run(l.name, func(t *testing.T) {
			b := redisblob.New(client(t, srv), nil).WithIndex(l.head, l.index, l.marks)
			s := &blob.Store{Backend: b, Codec: l.codec}
			open := func(t *testing.T) session.UserIndexer {
				ix, err := s.WithUserIndex(storetest.UserField)
				if err != nil {
					t.Fatal(err)
				}
				return ix
			}
			storetest.RunUserIndex(t, open)
		})
	}
}
