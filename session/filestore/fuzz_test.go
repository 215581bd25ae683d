package filestore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecode checks the decoder of session files with any file content: it
// never panics, and whatever it accepts encodes to a file that decodes to
// the same record, values byte for byte, which encodes to the same bytes
// again. Files are written only by encode, but a crash, a disk error or
// another program can leave anything in the directory.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"expires_at":1893553445000,"data":{"user":"ann","n":9007199254740993}}` + "\n",
		`{"expires_at":1893553445000,"data":{"a":[1, 2, {"b" : null}],"é":"\u00e9😀"}}`,
		`{"data":{"a":1},"expires_at":-1}`,
		`{"expires_at":9223372036854775807,"data":{"a":1}}`,
		`{"expires_at":-9223372036854775808,"data":{"a":1}}`,
		`{"expires_at":1,"data":{"a":1,"a":2}}`,
		`{"expires_at":1,"data":{"\ud800":"\udc00","<>&":"\u2028"}}`,
		`{"expires_at":1,"data":{"a":"` + "\xff" + `"}}`,
		`{"expires_at":1,"data":{"":{}},"extra":true}`,
		`{"expires_at":1,"data":{}}`,
		`{"expires_at":null,"data":{"a":1}}`,
		`{"expires_at":1.5,"data":{"a":1}}`,
		`{"expires_at":"1","data":{"a":1}}`,
		`{"expires_at":1,"data":[1]}`,
		`{"expires_at":1,"data":{"a":1}`,
		`[]`, `null`, ``, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, ok := decode(b)
		if !ok {
			return
		}
		if len(rec.Data) == 0 {
			t.Fatalf("decode(%q) accepted a session without data", b)
		}
		enc, err := encode(rec.ExpiresAt, rec.Data)
		if err != nil {
			t.Fatalf("decode(%q) gave a record that does not encode: %v", b, err)
		}
		if !json.Valid(enc) {
			t.Fatalf("encode wrote invalid JSON %q", enc)
		}
		back, ok := decode(enc)
		if !ok {
			t.Fatalf("decode(%q) refuses what encode wrote for decode(%q)", enc, b)
		}
		if !back.ExpiresAt.Equal(rec.ExpiresAt) || !reflect.DeepEqual(back.Data, rec.Data) {
			t.Fatalf("decode(%q) = %v %q\nencoded %q\ndecodes to %v %q", b, rec.ExpiresAt, rec.Data, enc, back.ExpiresAt, back.Data)
		}
		again, err := encode(back.ExpiresAt, back.Data)
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable: %q then %q (%v)", enc, again, err)
		}
	})
}
