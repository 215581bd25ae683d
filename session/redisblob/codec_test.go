package redisblob_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisblob"
)

func TestCacheJSONCodecDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string // nil: refused
		wantErr string
	}{
		{name: "json.dumps", in: `{"_auth_user_id": "1", "n": 9007199254740993, "u": "\u00e9", "l": [1, 2.5]}`,
			want: map[string]string{"_auth_user_id": `"1"`, "n": `9007199254740993`, "u": `"\u00e9"`, "l": `[1, 2.5]`}},
		{name: "ours", in: `{"a":1,"b":"x"}`, want: map[string]string{"a": `1`, "b": `"x"`}},
		{name: "empty object", in: `{}`, want: map[string]string{}},
		{name: "python non-finite floats", in: `{"a": NaN, "b": [Infinity, -Infinity], "NaN": "Infinity NaN -Infinity \" NaN"}`,
			want: map[string]string{"a": `null`, "b": `[1e999, -1e999]`, "NaN": `"Infinity NaN -Infinity \" NaN"`}},
		{name: "pickle protocol 0", in: "(dp0\nVa\np1\nI1\ns.", wantErr: "pickled"},
		{name: "pickle protocol 1", in: "}q\x00X\x01\x00\x00\x00aq\x01K\x01s.", wantErr: "pickled"},
		{name: "pickle protocol 2", in: "\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.", wantErr: "pickled"},
		{name: "pickle protocol 4", in: "\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.", wantErr: "pickled"},
		{name: "pickle protocol 5", in: "\x80\x05\x95\n\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.", wantErr: "pickled"},
		{name: "zlib", in: "x\x9c\xabV\x8aO,-", wantErr: "compressed"},
		{name: "msgpack", in: "\x81\xa1a\x01", wantErr: "msgpack"},
		{name: "raw integer", in: "42", wantErr: "a number"},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "json array", in: `[1]`, wantErr: "not a JSON object"},
		{name: "json null", in: `null`, wantErr: "not a JSON object"},
		{name: "truncated", in: `{"a": 1`, wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := redisblob.CacheJSONCodec{}.Decode([]byte(tt.in))
			if tt.want == nil {
				if !errors.Is(err, session.ErrBadValue) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode = %q, %v; want ErrBadValue containing %q", d, err, tt.wantErr)
				}
				if len(tt.in) > 4 && strings.Contains(err.Error(), tt.in) {
					t.Fatalf("error %q contains the value", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(d) != len(tt.want) {
				t.Errorf("Decode = %q; want %q", d, tt.want)
			}
			for k, v := range tt.want {
				if string(d[k]) != v {
					t.Errorf("[%q] = %s; want %s", k, d[k], v)
				}
			}
		})
	}
}

func TestCacheJSONCodecEncode(t *testing.T) {
	c := redisblob.CacheJSONCodec{}
	b, err := c.Encode(session.Data{"b": []byte(`[1, 2]`), "a": []byte(`"é"`)})
	if err != nil || string(b) != `{"a":"é","b":[1, 2]}` {
		t.Fatalf("Encode = %s, %v", b, err)
	}
	if _, err := c.Encode(session.Data{"a": []byte("\"\xff\"")}); err == nil {
		t.Fatal("Encode of invalid UTF-8 succeeded; Python could not read it")
	}
	if _, err := c.Encode(session.Data{"a": []byte(`{`)}); err == nil {
		t.Fatal("Encode of a value that is not JSON succeeded")
	}
}
