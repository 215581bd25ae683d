package session

import (
	"time"
)

// step is the store operation a plan asks for.
type step uint8

const (
	// stepNone stores nothing: a read, or a session with nothing to keep.
	stepNone step = iota
	// stepMint encodes view into the cookie itself (a Minter store).
	stepMint
	// stepCreate stores view under a fresh key.
	stepCreate
	// stepSave applies change to the session stored under key.
	stepSave
	// stepDelete deletes the session stored under key (an emptying clear).
	stepDelete
	// stepFlush ends the session stored under key (interrupted when
	// another request ended it first), then creates view unless empty.
	stepFlush
	// stepCycle takes the session stored under key, applies update to
	// what it held and stores that under a fresh key.
	stepCycle
)

func (s step) String() string {
	return [...]string{"none", "mint", "create", "save", "delete", "flush", "cycle"}[s]
}

// plan is what Commit does with one update: decided from the session as
// loaded, the update and the configuration alone, with no store, and then
// carried out by execute.
type plan struct {
	step step
	// key is the stored session's key (save, delete, flush, cycle).
	key string
	// update is the update as it applies: scoped by the policy, the
	// reserved keys enforced, the timeouts stamped. A cycle applies it to
	// what it takes.
	update *Update
	// view is the session after the update, as this request loaded it:
	// what create, flush and mint store.
	view Data
	// change is what stepSave writes.
	change Change
	// expiresAt is when a minted session expires.
	expiresAt time.Time
	// done is the Result when the step succeeds; emptied the Result when
	// the session ends up empty (a save that leaves nothing, a cycle of an
	// emptied session, a flush with nothing to store).
	done, emptied Result
	now           time.Time
}

// plan decides what committing u to s at now does; minted says whether
// the store keeps the session in the cookie (a Minter). It refuses an
// update that breaks a limit, the key policy or a counter, with the error
// Commit returns, and reaches no store.
func (m *Manager) plan(s *Session, u *Update, now time.Time, minted bool) (plan, error) {
	if u == nil {
		u = &Update{}
	}
	if err := m.checkUpdate(u); err != nil {
		return plan{}, err
	}
	if err := m.Config.Policy.check(u); err != nil {
		return plan{}, err
	}
	u = m.Config.Policy.scopeClear(u, s.data)
	u, err := reserve(u, s.data)
	if err != nil {
		return plan{}, err
	}
	p := plan{key: s.key, update: u, now: now}
	if s.CookieKey != "" {
		p.emptied.Cookie = CookieDelete
	}
	if m.IsRead(s, u) {
		return p, nil // a read: nothing to store, the cookie stays
	}
	oldKey := s.key
	modified := !u.Empty()
	touch := s.touch && !modified && oldKey != ""
	view, err := u.apply(s.data)
	if err != nil {
		return plan{}, err
	}
	if userEmpty(view) {
		// Only the reserved fields would be left: the session is empty,
		// and a delta must remove them too.
		if oldKey != "" && !u.Flush && !u.Clear {
			u = withStampDeletes(u)
		}
		view = Data{}
	} else if m.timeouts() && (modified || touch || m.Config.SaveEveryRequest) {
		// The stamp only sets the timeout fields, which reserve has kept
		// the upstream's update from touching: the view takes them as
		// they are, with no second apply.
		u = m.stamp(s, u, now)
		for _, k := range [...]string{CreatedKey, AccessedKey} {
			if v, ok := u.Set[k]; ok {
				view[k] = v
			}
		}
	}
	if modified {
		if max := m.Config.MaxSize; max > 0 {
			if n := u.sizeAfter(s, view); n > max {
				return plan{}, &LimitError{What: "session size", Size: n, Limit: max}
			}
		}
	}
	p.update, p.view = u, view
	save := modified || touch || m.Config.SaveEveryRequest

	switch {
	case minted:
		// Any change (cycle_key included) mints a new cookie value.
		switch {
		case !save:
		case len(view) == 0:
			p.done = p.emptied
		default:
			age, browserClose := m.expiry(view, now)
			p.expiresAt, age = m.clampExpiry(view, now, age)
			p.step, p.done = stepMint, Result{Cookie: CookieSet, Age: age, BrowserClose: browserClose}
		}
	case u.Flush:
		switch {
		case oldKey != "":
			p.step = stepFlush
		case len(view) > 0:
			p.step = stepCreate
		default:
			p.done = p.emptied
		}
	case u.CycleKey && oldKey != "":
		p.step = stepCycle
	case len(view) == 0:
		p.done = p.emptied
		if modified && oldKey != "" {
			if u.Clear {
				p.step = stepDelete
			} else {
				// With only deletes applied, another request may have
				// added fields meanwhile: the store decides, and fields
				// written concurrently keep the cookie.
				p.step, p.change, p.done = stepSave, u.deltaFrom(s), Result{}
			}
		}
	case touch && !m.Config.SaveEveryRequest:
		// Only the access time changes: save it, leave the cookie alone.
		p.step, p.change = stepSave, u.deltaFrom(s)
		p.change.ExpiresAt, _ = m.clampExpiry(view, now, m.expiryAge(view, now))
		p.emptied = Result{}
	case !save:
	case oldKey == "":
		p.step = stepCreate
	default:
		age, browserClose := m.expiry(view, now)
		expiresAt, age := m.clampExpiry(view, now, age)
		p.step, p.done = stepSave, Result{Cookie: CookieSet, Key: oldKey, Age: age, BrowserClose: browserClose}
		if u.Clear {
			p.change = Change{Mode: ModeReplace, Set: view, ExpiresAt: expiresAt, Checked: u.Checked}
			p.emptied = p.done // a replace with data left keeps the cookie
		} else {
			p.change = u.deltaFrom(s)
			p.change.ExpiresAt = expiresAt
			// What the delta makes of the session as loaded, for a
			// store that still holds exactly that (Change.View).
			p.change.From, p.change.View = s.data, view
		}
		if modified {
			// The store checks the limit again against what concurrent
			// requests stored since this one loaded the session.
			p.change.MaxSize = m.Config.MaxSize
		}
	}
	return p, nil
}

// expiryAge is ExpiryAge at now.
func (m *Manager) expiryAge(d Data, now time.Time) time.Duration {
	age, _ := m.expiry(d, now)
	return age
}
