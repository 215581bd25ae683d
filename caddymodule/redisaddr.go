package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// redisAddressForms is what an address may be, quoted by every refusal so
// the fix is in the message.
const redisAddressForms = "host[:port] (port 6379 when omitted), redis://[user:password@]host[:port][/db], rediss://... (the same over TLS), or unix:///path/to/redis.sock[?db=n]"

// redisEndpoint is what one address says: where to dial, and what a URL
// carries besides (credentials, database, TLS).
type redisEndpoint struct {
	addr               string // host:port, or a socket's path
	unix               bool
	username, password string
	db                 int
	hasDB              bool // the URL names a database
	tls                bool // rediss://
}

// parseRedisAddress reads one address: a host with an optional port, or
// one of the URL forms go-redis' own ParseURL reads (and through it, so a
// URL means here what it means to go-redis). A URL's query options other
// than db are refused: the block has a subdirective for each that matters,
// and taking some silently would hide the others.
func parseRedisAddress(a string) (redisEndpoint, error) {
	refuse := func(shown, why string) error {
		return fmt.Errorf("address %q: %s; want %s", shown, why, redisAddressForms)
	}
	if scheme, _, ok := strings.Cut(a, "://"); ok {
		u, err := url.Parse(a)
		if err != nil {
			// url's error quotes the address, password included.
			return redisEndpoint{}, refuse(redactUserinfo(a), "not a valid URL")
		}
		shown := u.Redacted()
		switch scheme {
		case "redis", "rediss", "unix":
		default:
			return redisEndpoint{}, refuse(shown, fmt.Sprintf("unknown scheme %q", scheme))
		}
		for name := range u.Query() {
			if name != "db" {
				return redisEndpoint{}, refuse(shown, fmt.Sprintf("query option %q is not read here: set it in the block instead (db, tls, dial_timeout, timeout, pool_size, username, password)", name))
			}
		}
		if scheme != "unix" && u.Hostname() == "" {
			return redisEndpoint{}, refuse(shown, "no host")
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return redisEndpoint{}, refuse(shown, fmt.Sprintf("bad port %q", p))
			}
		}
		o, err := redis.ParseURL(a)
		if err != nil {
			return redisEndpoint{}, refuse(shown, strings.TrimPrefix(err.Error(), "redis: "))
		}
		if o.DB < 0 {
			return redisEndpoint{}, refuse(shown, fmt.Sprintf("database %d: must not be negative", o.DB))
		}
		return redisEndpoint{
			addr:     o.Addr,
			unix:     o.Network == "unix",
			username: o.Username,
			password: o.Password,
			db:       o.DB,
			hasDB:    strings.Trim(u.Path, "/") != "" && scheme != "unix" || u.Query().Has("db"),
			tls:      o.TLSConfig != nil,
		}, nil
	}
	if strings.HasPrefix(a, "/") {
		// A socket's bare path, as go-redis takes it: kept working for
		// configs written before the URL forms.
		return redisEndpoint{addr: a, unix: true}, nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		var aerr *net.AddrError
		if !errors.As(err, &aerr) || aerr.Err != "missing port in address" {
			return redisEndpoint{}, refuse(a, "not host:port (an IPv6 address goes in brackets: [::1]:6379)")
		}
		host, port = strings.TrimSuffix(strings.TrimPrefix(a, "["), "]"), "6379"
	}
	if host == "" {
		return redisEndpoint{}, refuse(a, "no host")
	}
	if strings.ContainsAny(host, "/@?#[]") {
		return redisEndpoint{}, refuse(a, "not a host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return redisEndpoint{}, refuse(a, fmt.Sprintf("bad port %q", port))
	}
	return redisEndpoint{addr: net.JoinHostPort(host, port)}, nil
}

// redactUserinfo hides what sits between "://" and "@", for a URL that
// does not parse.
func redactUserinfo(a string) string {
	scheme, rest, _ := strings.Cut(a, "://")
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = "xxxxx" + rest[i:]
	}
	return scheme + "://" + rest
}

// redisTarget is the block's addresses read together with its username,
// password and db: what the client dials.
type redisTarget struct {
	addrs              []string
	username, password string
	db                 int
	tls                bool
}

// resolveAddresses reads addrs (placeholders expanded) with the block's
// own username, password and db. A URL's credentials or database that
// differ from the block's, or from another address's, are refused rather
// than one silently winning; neither value is shown for a password.
func resolveAddresses(addrs []string, username, password string, db int) (redisTarget, error) {
	t := redisTarget{username: username, password: password, db: db}
	var userFrom, passFrom, dbFrom string
	if username != "" {
		userFrom = "username"
	}
	if password != "" {
		passFrom = "password"
	}
	if db != 0 {
		dbFrom = "db"
	}
	anyTLS, allTLS := false, true
	for _, a := range addrs {
		e, err := parseRedisAddress(a)
		if err != nil {
			return redisTarget{}, err
		}
		shown := a
		if u, err := url.Parse(a); err == nil && strings.Contains(a, "://") {
			shown = u.Redacted()
		}
		if e.unix && len(addrs) > 1 {
			return redisTarget{}, fmt.Errorf("address %q: a unix socket is one server; give it alone", shown)
		}
		if e.username != "" {
			if userFrom != "" && e.username != t.username {
				return redisTarget{}, fmt.Errorf("address %q: its user %q conflicts with %s's %q; keep one", shown, e.username, userFrom, t.username)
			}
			t.username, userFrom = e.username, fmt.Sprintf("address %q", shown)
		}
		if e.password != "" {
			if passFrom != "" && e.password != t.password {
				return redisTarget{}, fmt.Errorf("address %q: its password differs from %s's; keep one", shown, passFrom)
			}
			t.password, passFrom = e.password, fmt.Sprintf("address %q", shown)
		}
		if e.hasDB {
			if dbFrom != "" && e.db != t.db {
				return redisTarget{}, fmt.Errorf("address %q: its database %d conflicts with %s %d; keep one", shown, e.db, dbFrom, t.db)
			}
			t.db, dbFrom = e.db, fmt.Sprintf("address %q's", shown)
		}
		anyTLS = anyTLS || e.tls
		allTLS = allTLS && e.tls
		t.addrs = append(t.addrs, e.addr)
	}
	if anyTLS && !allTLS {
		return redisTarget{}, errors.New("address: some addresses are rediss:// and some not; use rediss:// for all, or the tls subdirective")
	}
	t.tls = anyTLS
	return t, nil
}

// literalTarget resolves what the block says before placeholders are
// expanded, so that `caddy adapt` refuses a bad address already; an
// address, username or password with a placeholder is read at provision.
func (c *RedisConn) literalTarget() (redisTarget, error) {
	var addrs []string
	for _, a := range c.Addresses {
		if !strings.Contains(a, "{") {
			addrs = append(addrs, a)
		}
	}
	username, password := c.Username, c.Password
	if strings.Contains(username, "{") {
		username = ""
	}
	if strings.Contains(password, "{") {
		password = ""
	}
	return resolveAddresses(addrs, username, password, c.DB)
}

// warnIfUnreachable pings client once in the background, and logs a
// warning naming the addresses when Redis does not answer: Caddy starts
// anyway (requests get 503 until Redis is up), but the operator learns it
// now rather than from the first request. stop ends the check.
func warnIfUnreachable(logger *zap.Logger, store string, client redis.UniversalClient, addrs []string, timeout time.Duration) (stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := client.Ping(ctx).Err(); err != nil && !errors.Is(ctx.Err(), context.Canceled) {
			logger.Warn("session store not reachable at start; requests get 503 until it is",
				zap.String("store", store), zap.Strings("addresses", addrs), zap.Error(err))
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// startCheckTimeout gives the start check a dial and one command, with
// the client's retries.
func startCheckTimeout(opts *redis.UniversalOptions) time.Duration {
	return 2 * (opts.DialTimeout + opts.ReadTimeout)
}
