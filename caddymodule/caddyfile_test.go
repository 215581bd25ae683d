package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

const goodSecret = "0123456789abcdef0123456789abcdef"

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string // JSON of the handler
		wantErr string // the error must contain this (the subdirective's name)
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
			}`,
			want: `{"secret":"` + goodSecret + `","secret_fallbacks":["{env.OLD1}","{env.OLD2}"],` +
				`"store":{"backend":"file","dir":"/var/lib/sessions"},"cookie_name":"sid","cookie_age":86400000000000,` +
				`"cookie_domain":"example.com","cookie_path":"/app","cookie_secure":"on","cookie_httponly":false,` +
				`"cookie_samesite":"strict","expire_at_browser_close":true,"save_every_request":true,` +
				`"header":"X-App-Sess","token_ttl":30000000000,"pass_cookie":true}`,
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
