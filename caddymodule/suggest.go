package caddymodule

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The subdirectives of each block, for "did you mean" (TestSuggestLists
// holds them to what the parsers accept).
var (
	handlerSubdirectives = []string{
		"secret", "secret_fallbacks", "store", "cookie_name", "cookie_domain", "cookie_path",
		"header", "cookie_secure", "cookie_samesite", "cookie_httponly", "cookie_age", "token_ttl",
		"expire_at_browser_close", "save_every_request", "pass_cookie", "max_session_size",
		"max_update_keys", "hide", "deny_write", "allow_flush", "on_store_error", "store_timeout",
		"idle_timeout", "absolute_timeout", "token_alg", "signing_key", "previous_keys", "jwks_path",
		"audience", "codec", "django_secret_key", "django_secret_key_fallbacks", "user_key",
		"max_sessions_per_user", "encrypt",
	}
	redisConnSubdirectives = []string{"address", "master_name", "username", "password", "db", "tls", "dial_timeout", "timeout", "pool_size", "pipeline"}
	storeSubdirectives     = map[string][]string{
		"redis":     append([]string{"key_prefix", "wait_replicas", "client_cache"}, redisConnSubdirectives...),
		"cache":     append([]string{"key_prefix", "version"}, redisConnSubdirectives...),
		"db":        {"dsn", "table"},
		"cached_db": {"cache", "db"},
	}
)

// storeAliases are the names people reach for first, mostly from Django's
// SESSION_ENGINE or their database's name, and the store that serves them.
var storeAliases = map[string]string{
	"postgres":       "db (Django's db engine on PostgreSQL, SQLite or MySQL)",
	"postgresql":     "db (Django's db engine on PostgreSQL, SQLite or MySQL)",
	"pg":             "db (Django's db engine on PostgreSQL, SQLite or MySQL)",
	"sqlite":         "db (Django's db engine on PostgreSQL, SQLite or MySQL)",
	"sqlite3":        "db (Django's db engine on PostgreSQL, SQLite or MySQL)",
	"mysql":          "db (Django's db engine on PostgreSQL, SQLite or MySQL)",
	"mariadb":        "db (Django's db engine on PostgreSQL, SQLite or MySQL)",
	"database":       "db (Django's db engine on PostgreSQL, SQLite or MySQL)",
	"sql":            "db (Django's db engine on PostgreSQL, SQLite or MySQL)",
	"django":         "db or cache (Django's engines: db, cache, cached_db, file, signed_cookies)",
	"files":          "file",
	"file_store":     "file",
	"filesystem":     "file",
	"disk":           "file",
	"mem":            "memory",
	"in_memory":      "memory",
	"inmemory":       "memory",
	"local":          "memory",
	"valkey":         "redis",
	"keydb":          "redis",
	"redis_sessions": "redis",
	"django_redis":   "cache (Django's cache engine through django-redis)",
	"redis_cache":    "cache (Django's cache engine through django-redis)",
	"cookie":         "signed_cookies",
	"cookies":        "signed_cookies",
	"signed_cookie":  "signed_cookies",
}

// suggestStore is the " did you mean ...?" for an unknown store name, or
// "".
func suggestStore(name string, known []string) string {
	n := strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(name))
	if s, ok := storeAliases[n]; ok {
		return "; did you mean " + s + "?"
	}
	if s := nearest(n, known); s != "" {
		return fmt.Sprintf("; did you mean %s?", s)
	}
	return ""
}

// unknownSubdirective is the error for sub, unknown in the block named by
// where ("" for the handler's own), with the nearest valid name when one
// is close, else the valid names when they are few.
func unknownSubdirective(d *caddyfile.Dispenser, where, sub string, valid []string) error {
	prefix := ""
	if where != "" {
		prefix = where + ": "
	}
	hint := ""
	if s := nearest(strings.ToLower(sub), valid); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	} else if len(valid) <= 12 {
		hint = fmt.Sprintf(" (known: %s)", strings.Join(valid, ", "))
	}
	return d.Errf("%sunrecognized subdirective %q%s", prefix, sub, hint)
}

// nearest is the name in names closest to s by edit distance (a
// transposition counting one), when close enough to be a typo: at most 2
// edits, and fewer than a third of the longer name; else "".
func nearest(s string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		d := editDistance(s, n)
		if d < bestDist && d*3 <= max(len(s), len(n)) {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and adjacent transpositions.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// durationUnits is what a duration error says, so the fix is in it:
// Caddy's ParseDuration takes Go's units and d for days.
const durationUnits = "want a number and a unit: ns, us, ms, s, m, h or d (days), combined as in 1h30m; e.g. 14d, 90m, 30s"
