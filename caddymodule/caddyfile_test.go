package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

const goodSecret = "0123456789abcdef0123456789abcdef"

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string // JSON of the handler
		wantErr string // the error must contain this (the subdirective's name)
		notErr  string // and must not contain this (part of a literal secret)
	}{
		{
			name:  "minimal",
			input: `session { secret {env.SESSION_SECRET} }`,
			want:  `{"secret":"{env.SESSION_SECRET}"}`,
		},
		{
			name: "everything",
			input: `session {
				secret ` + goodSecret + `
				secret_fallbacks {env.OLD1} {env.OLD2}
				store file /var/lib/sessions
				cookie_name sid
				cookie_age 1d
				cookie_domain example.com
				cookie_path /app
				cookie_secure on
				cookie_httponly off
				cookie_samesite strict
				expire_at_browser_close
				save_every_request
				header X-App-Sess
				token_ttl 30s
				pass_cookie
				max_session_size 8KiB
				max_update_keys 64
			}`,
			want: `{"secret":"` + goodSecret + `","secret_fallbacks":["{env.OLD1}","{env.OLD2}"],` +
				`"store":{"backend":"file","dir":"/var/lib/sessions"},"cookie_name":"sid","cookie_age":86400000000000,` +
				`"cookie_domain":"example.com","cookie_path":"/app","cookie_secure":"on","cookie_httponly":false,` +
				`"cookie_samesite":"strict","expire_at_browser_close":true,"save_every_request":true,` +
				`"header":"X-App-Sess","token_ttl":30000000000,"pass_cookie":true,` +
				`"max_session_size":8192,"max_update_keys":64}`,
		},
		{
			name:  "max_session_size in plain bytes",
			input: `session { secret {env.S}; max_session_size 4096 }`,
			want:  `{"secret":"{env.S}","max_session_size":4096}`,
		},
		{
			name:  "max_session_size in decimal units",
			input: `session { secret {env.S}; max_session_size 4KB }`,
			want:  `{"secret":"{env.S}","max_session_size":4000}`,
		},
		{
			name:  "key policy; hide and deny_write add up",
			input: `session { secret {env.S}; hide _auth_user_hash; deny_write _auth_* _session_expiry; deny_write csrf*; allow_flush off }`,
			want:  `{"secret":"{env.S}","hide":["_auth_user_hash"],"deny_write":["_auth_*","_session_expiry","csrf*"],"allow_flush":false}`,
		},
		{
			name:  "secret_fallbacks repeated adds up",
			input: `session { secret {env.S}; secret_fallbacks {env.OLD1}; secret_fallbacks {env.OLD2} {file./run/old3} }`,
			want:  `{"secret":"{env.S}","secret_fallbacks":["{env.OLD1}","{env.OLD2}","{file./run/old3}"]}`,
		},
		{
			// Whether the variable is set is for provision to say: the
			// environment that adapts may not be the one that runs Caddy.
			name:  "unset env placeholder adapts",
			input: `session { secret {env.CADDY_SESSION_TEST_UNSET_AT_ADAPT} }`,
			want:  `{"secret":"{env.CADDY_SESSION_TEST_UNSET_AT_ADAPT}"}`,
		},
		{
			name:  "escaped brace in a literal secret",
			input: `session { secret \{` + goodSecret + ` }`,
			want:  `{"secret":"\\{` + goodSecret + `"}`,
		},
		{
			name:  "sentinel with db",
			input: `session { secret {env.S}; store redis { address 10.0.0.1:26379 10.0.0.2:26379; master_name m; db 3 } }`,
			want:  `{"secret":"{env.S}","store":{"backend":"redis","addresses":["10.0.0.1:26379","10.0.0.2:26379"],"master_name":"m","db":3}}`,
		},
		{
			name:  "memory store",
			input: `session { secret {env.S}; store memory }`,
			want:  `{"secret":"{env.S}","store":{"backend":"memory"}}`,
		},
		{
			name: "redis store",
			input: `session {
				secret {env.S}
				store redis {
					address 10.0.0.1:6379 10.0.0.2:6379
					address 10.0.0.3:6379
					master_name mymaster
					username u
					password {env.REDIS_PASSWORD}
					db 2
					key_prefix ""
					tls
					dial_timeout 1s
					timeout 500ms
					pool_size 20
				}
			}`,
			want: `{"secret":"{env.S}","store":{"addresses":["10.0.0.1:6379","10.0.0.2:6379","10.0.0.3:6379"],` +
				`"backend":"redis","db":2,"dial_timeout":1000000000,"key_prefix":"","master_name":"mymaster",` +
				`"password":"{env.REDIS_PASSWORD}","pool_size":20,"timeout":500000000,"tls":true,"username":"u"}}`,
		},
		{name: "missing secret", input: `session { store memory }`, wantErr: "secret: required"},
		{name: "short literal secret", input: `session { secret tooshort }`, wantErr: "secret: must be at least 32 bytes"},
		{name: "short fallback", input: `session { secret {env.S}; secret_fallbacks short }`, wantErr: "secret_fallbacks: must be at least 32 bytes"},
		{name: "unknown store", input: `session { secret {env.S}; store mongo }`, wantErr: `store: unknown store "mongo"`},
		{name: "bad duration", input: `session { secret {env.S}; cookie_age 14x }`, wantErr: "cookie_age: bad duration"},
		{name: "bad token_ttl", input: `session { secret {env.S}; token_ttl soon }`, wantErr: "token_ttl: bad duration"},
		{name: "bad samesite", input: `session { secret {env.S}; cookie_samesite loose }`, wantErr: "cookie_samesite: must be"},
		{name: "bad secure", input: `session { secret {env.S}; cookie_secure maybe }`, wantErr: "cookie_secure: must be"},
		{name: "bad httponly", input: `session { secret {env.S}; cookie_httponly yes }`, wantErr: "cookie_httponly: must be on or off"},
		{name: "unknown subdirective", input: `session { secret {env.S}; cookie_nam x }`, wantErr: `unrecognized subdirective "cookie_nam"`},
		{name: "bad redis db", input: `session { secret {env.S}; store redis { db one } }`, wantErr: "store redis: db: bad value"},
		{name: "unknown redis option", input: `session { secret {env.S}; store redis { adress x } }`, wantErr: `store redis: unrecognized subdirective "adress"`},
		{name: "memory takes no args", input: `session { secret {env.S}; store memory big }`, wantErr: "store memory: takes no arguments"},

		// A subdirective given twice is refused, not silently overridden.
		{name: "secret twice", input: `session { secret {env.S}; secret {env.T} }`, wantErr: "secret: already specified"},
		{name: "store twice", input: `session { secret {env.S}; store memory; store file }`, wantErr: "store: already specified"},
		{name: "cookie_name twice", input: `session { secret {env.S}; cookie_name a; cookie_name b }`, wantErr: "cookie_name: already specified"},
		{name: "cookie_age twice", input: `session { secret {env.S}; cookie_age 1d; cookie_age 2d }`, wantErr: "cookie_age: already specified"},
		{name: "cookie_secure twice", input: `session { secret {env.S}; cookie_secure on; cookie_secure off }`, wantErr: "cookie_secure: already specified"},
		{name: "header twice", input: `session { secret {env.S}; header X-A; header X-B }`, wantErr: "header: already specified"},
		{name: "token_ttl twice", input: `session { secret {env.S}; token_ttl 1m; token_ttl 2m }`, wantErr: "token_ttl: already specified"},
		{name: "flag twice", input: `session { secret {env.S}; pass_cookie; pass_cookie }`, wantErr: "pass_cookie: already specified"},
		{name: "max_session_size twice", input: `session { secret {env.S}; max_session_size 1KiB; max_session_size 2KiB }`, wantErr: "max_session_size: already specified"},
		{name: "max_update_keys twice", input: `session { secret {env.S}; max_update_keys 1; max_update_keys 2 }`, wantErr: "max_update_keys: already specified"},
		{name: "redis db twice", input: `session { secret {env.S}; store redis { db 1; db 2 } }`, wantErr: "store redis: db: already specified"},
		{name: "redis password twice", input: `session { secret {env.S}; store redis { password {env.A}; password {env.B} } }`, wantErr: "store redis: password: already specified"},
		{name: "redis tls twice", input: `session { secret {env.S}; store redis { tls; tls } }`, wantErr: "store redis: tls: already specified"},

		// The limits take positive values.
		{name: "max_session_size zero", input: `session { secret {env.S}; max_session_size 0 }`, wantErr: `max_session_size: bad size "0"`},
		{name: "max_session_size negative", input: `session { secret {env.S}; max_session_size -1 }`, wantErr: `max_session_size: bad size "-1"`},
		{name: "max_session_size junk", input: `session { secret {env.S}; max_session_size lots }`, wantErr: `max_session_size: bad size "lots"`},
		{name: "max_update_keys zero", input: `session { secret {env.S}; max_update_keys 0 }`, wantErr: `max_update_keys: bad value "0"`},
		{name: "max_update_keys negative", input: `session { secret {env.S}; max_update_keys -5 }`, wantErr: `max_update_keys: bad value "-5"`},
		{name: "max_update_keys size", input: `session { secret {env.S}; max_update_keys 1KiB }`, wantErr: `max_update_keys: bad value "1KiB"`},

		// Placeholders that can never resolve are refused at adapt time.
		{name: "placeholder typo in secret", input: `session { secret {envSESSION_SECRET_FOR_PRODUCTION} }`, wantErr: "secret: unrecognized placeholder"},
		{name: "request placeholder in secret", input: `session { secret {http.request.host}-0123456789abcdef0123456789abcdef }`, wantErr: "secret: unrecognized placeholder"},
		{
			name:    "literal secret with braces is not echoed",
			input:   `session { secret 0123456789{abcdefSECRETPART}0123456789abcdef }`,
			wantErr: "secret: unrecognized placeholder",
			notErr:  "SECRETPART",
		},
		{name: "placeholder typo in fallback", input: `session { secret {env.S}; secret_fallbacks {env.OLD} {envOLD2} }`, wantErr: "secret_fallbacks: unrecognized placeholder"},
		{name: "placeholder typo in dir", input: `session { secret {env.S}; store file {envSESSION_DIR} }`, wantErr: "store file: dir: unrecognized placeholder {envSESSION_DIR}"},
		{name: "placeholder typo in address", input: `session { secret {env.S}; store redis { address {envREDIS_ADDR} } }`, wantErr: "store redis: address: unrecognized placeholder {envREDIS_ADDR}"},
		{name: "placeholder typo in username", input: `session { secret {env.S}; store redis { username {envREDIS_USER} } }`, wantErr: "store redis: username: unrecognized placeholder {envREDIS_USER}"},
		{name: "placeholder typo in password", input: `session { secret {env.S}; store redis { password {envREDIS_PASSWORD} } }`, wantErr: "store redis: password: unrecognized placeholder"},

		// Options that cannot apply together.
		{name: "db on a cluster", input: `session { secret {env.S}; store redis { address 10.0.0.1:6379 10.0.0.2:6379; db 2 } }`, wantErr: "store redis: db 2: a Redis Cluster"},
		{name: "master_name without sentinels", input: `session { secret {env.S}; store redis { master_name m } }`, wantErr: "store redis: master_name: needs the sentinels' addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			// "; " stands for a newline, to keep the table short; braces
			// get lines of their own, as the Caddyfile wants.
			input := strings.NewReplacer("; ", "\n", "{ ", "{\n", " }", "\n}").Replace(tt.input)
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if tt.notErr != "" && strings.Contains(err.Error(), tt.notErr) {
					t.Fatalf("error = %v, which shows %q", err, tt.notErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, []byte(tt.want)) {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad want JSON: %v", err)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func TestTimeoutSubdirectives(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`session {
		secret {env.S}
		idle_timeout 30m
		absolute_timeout 12h
	}`)); err != nil {
		t.Fatal(err)
	}
	if time.Duration(h.IdleTimeout) != 30*time.Minute || time.Duration(h.AbsoluteTimeout) != 12*time.Hour {
		t.Fatalf("idle %v, absolute %v", time.Duration(h.IdleTimeout), time.Duration(h.AbsoluteTimeout))
	}
	var twice Handler
	err := twice.UnmarshalCaddyfile(caddyfile.NewTestDispenser("session {\n\tsecret {env.S}\n\tidle_timeout 1m\n\tidle_timeout 2m\n}"))
	if err == nil || !strings.Contains(err.Error(), "idle_timeout: already specified") {
		t.Fatalf("repeated idle_timeout: %v", err)
	}
}

// unmarshalSession parses a session block holding lines, written on one
// line with "; " between subdirectives and "{ ... }" for blocks.
func unmarshalSession(lines string) (Handler, error) {
	var h Handler
	input := "session {\nsecret {env.S}\n" + lines + "\n}"
	input = strings.NewReplacer("; ", "\n", "{ ", "{\n", " }", "\n}").Replace(input)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return h, err
}
