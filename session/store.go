package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
	"unicode/utf8"
)

// Store persists sessions. Implementations live in subpackages (memstore,
// filestore, redisstore) and must be safe for concurrent use, including by
// several processes sharing the same backing store.
//
// Errors never contain a session key or session data: they end up in logs.
//
// A store applies changes as deltas, never as whole-session snapshots, so
// that two requests that change different keys of one session both survive.
type Store interface {
	// Load returns the session stored under key. A key that is not stored,
	// or whose session has expired, is (Record{}, false, nil): not an error.
	// An error means the store could not answer.
	Load(ctx context.Context, key string) (Record, bool, error)

	// Save applies c to the session under key atomically: either all of c
	// is persisted or none of it. It reports whether the session still
	// holds data afterwards (a store never keeps an empty session).
	//
	// With ModeCreate, an existing key gives ErrKeyExists; with ModeUpdate
	// and ModeReplace, a key that is no longer stored gives ErrGone.
	Save(ctx context.Context, key string, c Change) (bool, error)

	// Delete removes the session under key and reports whether a live
	// session was stored there. Deleting a key that is not stored is not
	// an error: it is (false, nil). A flush uses the report to tell that
	// another request ended the session first.
	Delete(ctx context.Context, key string) (bool, error)

	// Take removes the session under key and returns what it held, in one
	// atomic step: of two concurrent Takes (or a Take and a Delete) of one
	// key, exactly one finds the session. A key that is not stored, or
	// whose session has expired, is (Record{}, false, nil). cycle_key takes
	// the old key before it stores the data under the new one, so a
	// session ended meanwhile (a logout in another tab, a parallel
	// cycle_key) is never brought back under a new key.
	Take(ctx context.Context, key string) (Record, bool, error)
}

// Record is one stored session.
type Record struct {
	Data      Data
	ExpiresAt time.Time
	// Version identifies the stored value this record was read from, for
	// stores that can write in one step when that value is still the one
	// stored (Change.Base); nil for the others.
	Version []byte
	// Size is Size(Data) when the store knows it without a walk (it
	// measured the session when it stored it); 0 when it does not.
	Size int
}

// Mode says how a Change relates to what is already stored.
type Mode uint8

const (
	// ModeUpdate applies Delete then Set to an existing session.
	ModeUpdate Mode = iota
	// ModeCreate stores a new session; the key must not exist.
	ModeCreate
	// ModeReplace drops every field of an existing session, then applies Set.
	ModeReplace
)

func (m Mode) String() string {
	switch m {
	case ModeUpdate:
		return "update"
	case ModeCreate:
		return "create"
	case ModeReplace:
		return "replace"
	}
	return "unknown"
}

// Change is one atomic write to a store.
type Change struct {
	Mode Mode
	// Delete lists fields to remove (ModeUpdate only); applied before Set.
	Delete []string
	// Set holds fields to write.
	Set Data
	// Incr adds an integer to fields, after Set (ModeUpdate only; the
	// Manager folds increments of fields it sets or deletes into Set). The
	// store adds to the value stored at the moment of the write, atomically
	// with the rest of the change; a field not stored counts as 0. A field
	// that holds anything but an integer, or a sum past MaxCounter, fails
	// the whole change with an *IncrError and writes nothing.
	Incr map[string]int64
	// ExpiresAt is the session's new expiry; the store forgets the session
	// after it. Zero keeps the stored expiry (ModeUpdate only); a time in
	// the past leaves nothing stored.
	ExpiresAt time.Time
	// Base is the Version of the record the caller loaded, for ModeUpdate:
	// a store may apply the change to that record and write the result in
	// one compare-and-set step when the stored value is still that one,
	// and must otherwise apply it to what is stored, as without Base.
	Base []byte
	// MaxSize, when above 0, bounds the session's Size after the change,
	// checked in the store's atomic step against what is stored then: a
	// change that would leave more fails whole with a *LimitError and
	// writes nothing. The Manager checks the session as its request loaded
	// it; only the store sees what concurrent requests added since.
	MaxSize int
	// View, with From, is what the change makes of the session as
	// loaded (ModeUpdate): From is the loaded Record's Data, as the store
	// handed it out, and View a map of its own holding From with the
	// change applied. A store whose stored data is still From itself (the
	// same map: memstore's LoadAt hands out its stored, immutable maps)
	// may store View as it is instead of applying the change to a copy,
	// when the change has no Incr; the caller hands View and its values
	// over and writes none of them again. Other stores ignore both.
	From, View Data
	// Checked says that every value of Set is known to be JSON in UTF-8,
	// so a CheckedValues store need not run CheckValues: the Manager sets
	// it on the Changes it makes of an Update whose parser checked its
	// values (Update.Checked), whose other values it made itself or
	// loaded from the store. Zero, as in any Change built elsewhere: the
	// store checks.
	Checked bool
}

// Validate reports a change that no store can apply: an unknown mode, or
// a create or replace without an expiry. Every store calls it first, so
// the rule lives here once.
func (c Change) Validate() error {
	switch c.Mode {
	case ModeUpdate, ModeCreate, ModeReplace:
	default:
		return fmt.Errorf("validating change: unknown mode %d", c.Mode)
	}
	if c.ExpiresAt.IsZero() && c.Mode != ModeUpdate {
		return fmt.Errorf("validating change: %s needs an expiry", c.Mode)
	}
	if c.MaxSize < 0 {
		return fmt.Errorf("validating change: negative size limit %d", c.MaxSize)
	}
	return nil
}

// CheckSize is the store's part of MaxSize: a *LimitError when d, the
// session as the change leaves it, is over the limit.
func (c Change) CheckSize(d Data) error {
	if c.MaxSize > 0 {
		if n := Size(d); n > c.MaxSize {
			return &LimitError{What: "session size", Size: n, Limit: c.MaxSize}
		}
	}
	return nil
}

// Apply is Save's logic for stores that read, modify and write a session
// under their own lock: given what the key held at now (rec, when live),
// it checks the mode (ErrKeyExists, ErrGone), then applies the deletes, the
// sets and the expiry, and checks MaxSize. keep is false when nothing is
// left to store (no data, or an expiry in the past). rec.Data is modified
// and returned.
func (c Change) Apply(rec Record, live bool, now time.Time) (data Data, expiresAt time.Time, keep bool, err error) {
	if err := c.Validate(); err != nil {
		return nil, time.Time{}, false, err
	}
	switch {
	case c.Mode == ModeCreate && live:
		return nil, time.Time{}, false, ErrKeyExists
	case c.Mode != ModeCreate && !live:
		return nil, time.Time{}, false, ErrGone
	}
	data = rec.Data
	switch {
	case c.Mode != ModeUpdate || data == nil:
		data = make(Data, len(c.Set))
	case len(c.Incr) > 0 || c.MaxSize > 0:
		// A counter or a size that fails leaves rec.Data as it was.
		data = maps.Clone(data)
	}
	for _, k := range c.Delete {
		delete(data, k)
	}
	maps.Copy(data, c.Set)
	if err := addCounters(data, c.Incr); err != nil {
		return nil, time.Time{}, false, err
	}
	if err := c.CheckSize(data); err != nil {
		return nil, time.Time{}, false, err
	}
	expiresAt = rec.ExpiresAt
	if !c.ExpiresAt.IsZero() {
		expiresAt = c.ExpiresAt
	}
	return data, expiresAt, len(data) > 0 && expiresAt.After(now), nil
}

var (
	// ErrKeyExists is returned by Save with ModeCreate when the key is taken.
	ErrKeyExists = errors.New("session key already exists")
	// ErrGone is returned by Save with ModeUpdate or ModeReplace when the
	// session was deleted (or expired) after it was loaded. Saving it again
	// would bring back a session that another request ended, so the caller
	// reports the request as interrupted instead, as Django does.
	ErrGone = errors.New("session was deleted during the request")
)

// Minter is a store that keeps the session in the cookie itself (Django's
// signed_cookies engine): the cookie value is the encoded session, so there
// is no key to create, update or end. The Manager loads a Minter's session
// from any cookie value (Load decodes it; anything that does not decode is
// no session) and, whenever a session must be saved, sends the value Mint
// returns as the cookie. Such sessions cannot be revoked before they
// expire, and of two concurrent responses the cookie of the last one wins.
type Minter interface {
	Store
	// Mint returns the cookie value holding data until expiresAt.
	Mint(ctx context.Context, data Data, expiresAt time.Time) (string, error)
}

// CheckedValues is a Store that keeps only values that are valid JSON in
// UTF-8: its Save refuses any other (an error, nothing persisted), so that
// every value its Load returns is one and a reader (the token's signer)
// need not check them again. ValuesChecked reports whether this store,
// as configured, does so.
type CheckedValues interface {
	ValuesChecked() bool
}

// Instant is a Store whose Load never waits on anything but its own
// memory (no network, no disk, no lock held across either): a caller need
// not bound it with a timer. LoadsInstantly reports whether this store,
// as configured, is one.
type Instant interface {
	LoadsInstantly() bool
}

// LoaderAt is a Store with a load for the Manager's read path:
// LoadAt(ctx, key, now) is Load(ctx, key) as if run at now (the caller's
// reading of the clock, so that a request reads it once), except that the
// Data it returns may be the store's own and must not be modified: the
// Manager never writes into a loaded session (Session.Data is read-only;
// an update applies to a new map), so such a store need not copy it.
// Load keeps returning a copy the caller owns.
type LoaderAt interface {
	LoadAt(ctx context.Context, key string, now time.Time) (Record, bool, error)
}

// ValidValue reports whether v is valid JSON in UTF-8, as CheckedValues
// stores require of every value and the token requires of what it embeds.
func ValidValue(v []byte) bool { return utf8.Valid(v) && json.Valid(v) }

// CheckValues returns an error when a value c sets is not valid JSON in
// UTF-8: what a CheckedValues store runs in Save. A Change marked Checked
// passes without a look. The error names the key only, never the value.
func (c Change) CheckValues() error {
	if c.Checked {
		return nil
	}
	for k, v := range c.Set {
		if !ValidValue(v) {
			return fmt.Errorf("validating change: the value of %q is not JSON", k)
		}
	}
	return nil
}
