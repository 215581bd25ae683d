package redisblob

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/caddy-session/caddy-session/session"
)

// CacheJSONCodec is the value format of Django's cache engine on
// django-redis with SERIALIZER "django_redis.serializers.json.JSONSerializer"
// and no COMPRESSOR: the session dict as one JSON object, not signed.
//
// django-redis reads a value as json.loads(value.decode()) (after trying
// int(), which a JSON object never passes), so the object this codec
// writes, each value verbatim, is read back as the same dict. It writes
// what json.dumps(session, cls=DjangoJSONEncoder) writes, which this codec
// reads with each value verbatim; Python's NaN and ±Infinity, which are
// not JSON, are read as null and ±1e999 (what JavaScript's JSON.stringify
// writes, and what json.loads reads back as ±inf), so a float Django
// stored never locks its user out.
//
// Anything else is refused with session.ErrBadValue, never interpreted: in
// particular a pickle (django-redis's default serializer), which is never
// unpickled.
type CacheJSONCodec struct{}

var _ session.Codec = CacheJSONCodec{}

// Encode implements session.Codec.
func (CacheJSONCodec) Encode(d session.Data) ([]byte, error) {
	b, err := session.MarshalData(d)
	if err != nil {
		return nil, err
	}
	// json.Valid lets invalid UTF-8 through; Python's decode() would not,
	// and Django would treat the session as missing.
	if !utf8.Valid(b) {
		return nil, errors.New("encoding session: not valid UTF-8")
	}
	return b, nil
}

// Decode implements session.Codec.
func (CacheJSONCodec) Decode(b []byte) (session.Data, error) {
	if why := notJSON(b); why != "" {
		return nil, fmt.Errorf("%w: %s", session.ErrBadValue, why)
	}
	d, err := session.UnmarshalData(b)
	if err != nil {
		if fixed, ok := pythonFloats(b); ok {
			d, err = session.UnmarshalData(fixed)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", session.ErrBadValue, err)
	}
	return d, nil
}

// notJSON names what b is when it is recognisably another of django-redis's
// formats, or returns "".
func notJSON(b []byte) string {
	const fix = "configure django-redis with SERIALIZER django_redis.serializers.json.JSONSerializer"
	t := bytes.TrimSpace(b)
	switch {
	case len(t) == 0:
		return "empty"
	// Protocol 2 and later open with PROTO; 0 and 1 open a dict with MARK
	// or EMPTY_DICT, and every pickle ends with STOP.
	case len(b) >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5,
		(b[0] == '(' || b[0] == '}') && b[len(b)-1] == '.':
		return "pickled (django-redis's default PickleSerializer), never unpickled; " + fix
	case b[0] == 0x78 || bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}) ||
		bytes.HasPrefix(b, []byte{0x04, 0x22, 0x4d, 0x18}) || bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}) ||
		bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "compressed (zlib, zstd, lz4, lzma or gzip); remove django-redis's COMPRESSOR"
	case b[0] >= 0x80 && b[0] <= 0x8f || b[0] == 0xde || b[0] == 0xdf:
		return "msgpack (django-redis's MSGPackSerializer); " + fix
	case t[0] >= '0' && t[0] <= '9' || t[0] == '-':
		return "a number (django-redis stores integers raw), not a session"
	}
	return ""
}

// pythonFloats rewrites the NaN, Infinity and -Infinity that Python's
// json.dumps writes outside strings into null, 1e999 and -1e999, and
// reports whether it found any.
func pythonFloats(b []byte) ([]byte, bool) {
	var out []byte
	inString, escaped, last := false, false, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		var tok, repl string
		switch {
		case bytes.HasPrefix(b[i:], []byte("NaN")):
			tok, repl = "NaN", "null"
		case bytes.HasPrefix(b[i:], []byte("Infinity")):
			tok, repl = "Infinity", "1e999"
		case bytes.HasPrefix(b[i:], []byte("-Infinity")):
			tok, repl = "-Infinity", "-1e999"
		default:
			continue
		}
		out = append(out, b[last:i]...)
		out = append(out, repl...)
		i += len(tok) - 1
		last = i + 1
	}
	if out == nil {
		return nil, false
	}
	return append(out, b[last:]...), true
}
