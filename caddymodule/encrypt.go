package caddymodule

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-session/caddy-session/session"
)

// Encrypt is the handler's `encrypt`: the values its store keeps are
// encrypted at rest (XChaCha20-Poly1305), each bound to its session key
// (and field, in a hash layout), so a dump or backup of the store holds no
// session data and a value copied into another session does not open.
// For the memory, file and redis stores in their own layouts, and the db
// store under `codec json`; not for Django's layouts, which Django reads.
type Encrypt struct {
	// The current key: 32 bytes as 64 hex digits (`openssl rand -hex 32`)
	// or base64 (`openssl rand -base64 32`), usually a placeholder such as
	// `{env.SESSION_ENC_KEY}` or `{file./run/secrets/session_enc_key}`.
	// Every write seals with it. It must differ from the secret. Never
	// logged. Required.
	Key string `json:"key,omitempty"`

	// Keys that open the values they sealed, after a rotation; values are
	// sealed again with Key when written (or by `caddy sessions rekey`).
	PreviousKeys []string `json:"previous_keys,omitempty"`

	// Read values stored before encryption was turned on, as plaintext,
	// until they are written again (or rekeyed). The migration setting:
	// without it, a value that is not encrypted is refused like a
	// tampered one. Default: off.
	AcceptPlaintext bool `json:"accept_plaintext,omitempty"`
}

// EncryptingStore is a store module that can keep its values sealed: when
// StoreOptions.Sealer is set, OpenStore returns a store that seals with
// it. CanEncrypt says why the layout the options select cannot (Django
// reads it), or nil. A store module without it refuses `encrypt`.
type EncryptingStore interface {
	CanEncrypt(o StoreOptions) error
}

// errDjangoReads is the refusal of encrypt on a layout Django reads.
func errDjangoReads(layout string) error {
	return fmt.Errorf("encrypt: %s is Django's own layout, which Django reads and could not read once encrypted; encrypt the memory, file or redis stores in their own layouts, or db with codec json", layout)
}

// errEncryptDjangoCodec refuses encrypt with codec django.
var errEncryptDjangoCodec = errors.New("encrypt: codec django keeps sessions in Django's signed format so that Django reads them, which it could not once they are encrypted; use codec json (db) or each store's own layout (memory, file, redis) to encrypt")

// validateEncrypt is Validate's part: what needs no placeholder expanded.
func (h *Handler) validateEncrypt() error {
	if h.Encrypt == nil {
		return nil
	}
	if h.Encrypt.Key == "" {
		return errors.New("encrypt: a key is required (e.g. encrypt {env.SESSION_ENC_KEY})")
	}
	if h.Codec == "django" {
		return errEncryptDjangoCodec
	}
	// The stores of this project whose refusal needs no module loaded, so
	// that `caddy adapt` reports it; OpenStore's CanEncrypt holds for all.
	o := StoreOptions{Codec: h.Codec}
	switch storeName(h.StoreRaw) {
	case "cache":
		return (&CacheStore{}).CanEncrypt(o)
	case "cached_db":
		return (&CachedDBStore{}).CanEncrypt(o)
	case "signed_cookies":
		return SignedCookiesStore{}.CanEncrypt(o)
	case "db":
		if err := (&DBStore{}).CanEncrypt(o); err != nil {
			return err
		}
	}
	for i, k := range append([]string{h.Encrypt.Key}, h.Encrypt.PreviousKeys...) {
		lit, err := caddy.NewEmptyReplacer().ReplaceOrErr(k, false, true)
		if err != nil {
			continue // a placeholder: checked at provision
		}
		if _, err := session.ParseSealKey(lit); err != nil {
			return fmt.Errorf("encrypt: %s: %v", encryptKeyName(i), err)
		}
	}
	return nil
}

func encryptKeyName(i int) string {
	if i == 0 {
		return "key"
	}
	return fmt.Sprintf("previous_keys[%d]", i-1)
}

// sealer expands and reads the keys: a key that is not 32 bytes, or that
// equals the secret, is refused. The errors never hold a key.
func (h *Handler) sealer(secret string, fallbacks []string) (*session.Sealer, error) {
	if h.Encrypt == nil {
		return nil, nil
	}
	var keys [][]byte
	for i, k := range append([]string{h.Encrypt.Key}, h.Encrypt.PreviousKeys...) {
		name := "encrypt: " + encryptKeyName(i)
		v, err := expand(name, k, true)
		if err != nil {
			return nil, err
		}
		b, err := session.ParseSealKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		for j, sec := range append([]string{secret}, fallbacks...) {
			if v == sec || string(b) == sec {
				what := "the signing secret"
				if j > 0 {
					what = fmt.Sprintf("secret_fallbacks[%d]", j-1)
				}
				return nil, fmt.Errorf("%s: is %s; use a key of its own (openssl rand -base64 32)", name, what)
			}
		}
		keys = append(keys, b)
	}
	return session.NewSealer(keys[0], keys[1:], h.Encrypt.AcceptPlaintext)
}

// unmarshalEncrypt reads `encrypt <key> [{ previous_keys <key>... ;
// accept_plaintext }]`.
func (h *Handler) unmarshalEncrypt(d *caddyfile.Dispenser) error {
	e := &Encrypt{}
	if !d.NextArg() {
		return d.Err("encrypt: a key is required (e.g. encrypt {env.SESSION_ENC_KEY})")
	}
	e.Key = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	if err := checkPlaceholders(d, "encrypt", true, e.Key); err != nil {
		return err
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		switch sub {
		case "previous_keys":
			args, err := someArgs(d)
			if err != nil {
				return err
			}
			if err := checkPlaceholders(d, "encrypt previous_keys", true, args...); err != nil {
				return err
			}
			e.PreviousKeys = append(e.PreviousKeys, args...)
		case "accept_plaintext":
			if err := once(d, seen, sub); err != nil {
				return err
			}
			if err := noArgs(d); err != nil {
				return err
			}
			e.AcceptPlaintext = true
		default:
			return unknownSubdirective(d, "encrypt", sub, []string{"previous_keys", "accept_plaintext"})
		}
	}
	h.Encrypt = e
	return nil
}
