package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Codec turns a session's data into the one value a blob store keeps (a
// row's session_data, a Redis string, a file), and back. The hash layouts
// (memstore, filestore, redisstore) keep each field apart and need none;
// the layouts Django shares need one: Django's signed format, or plain JSON.
type Codec interface {
	// Encode returns the stored form of d, which holds at least one field.
	Encode(d Data) ([]byte, error)
	// Decode returns the data in b. A value that fails its integrity check
	// (tampered, or signed with an unknown key) is an error wrapping
	// ErrBadValue: the caller treats it as no session and logs it as a
	// security event, as Django does. Other errors are ErrBadValue too: a
	// stored value that cannot be read is never an outage.
	Decode(b []byte) (Data, error)
}

// ErrBadValue wraps every error of Codec.Decode: the stored value is not a
// session this codec can read (bad signature, pickled, corrupt).
var ErrBadValue = errors.New("stored session value rejected")

// JSONCodec stores the session as one JSON object, each value verbatim:
// the project's own format, and what django-redis's JSON serializer reads
// and writes for Django's cache engine.
type JSONCodec struct{}

// Encode implements Codec.
func (JSONCodec) Encode(d Data) ([]byte, error) { return MarshalData(d) }

// Decode implements Codec.
func (JSONCodec) Decode(b []byte) (Data, error) {
	d, err := UnmarshalData(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	return d, nil
}

// MarshalData writes d as a compact JSON object with sorted keys and every
// value verbatim, so numbers keep their digits and text its bytes.
func MarshalData(d Data) ([]byte, error) {
	b := make([]byte, 0, Size(d))
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(d)) {
		v := d[k]
		if !json.Valid(v) {
			return nil, errors.New("encoding session: a value is not JSON")
		}
		name, err := json.Marshal(k)
		if err != nil {
			return nil, fmt.Errorf("encoding session: %w", err)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, name...)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// UnmarshalData reads a JSON object into Data, each value verbatim.
func UnmarshalData(b []byte) (Data, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, errors.New("not a JSON object")
	}
	return Data(raw), nil
}
