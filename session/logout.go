package session

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// An app ends its user's other sessions (after a password change, as
// Django's update_session_auth_hash does) or all of them with an update:
// Update.LogoutOthers, Update.LogoutAll. The user is the session's after
// the rest of the update, or else the loaded session's. Under the route's
// Policy: an upstream that may not flush (allow_flush off), or that may
// not see or write the user's field (hide, deny_write), may not end its
// sessions either.

// LogoutError is a LogoutOthers or LogoutAll that cannot apply: the
// upstream's Policy forbids it, or the handler keeps no index of users'
// sessions. Nothing of the update is persisted.
type LogoutError struct {
	Op     string // "logout_others" or "logout_all"
	Reason string
}

func (e *LogoutError) Error() string {
	return fmt.Sprintf("the upstream may not %s: %s", e.Op, e.Reason)
}

func (u *Update) logoutOp() string {
	if u.LogoutAll {
		return "logout_all"
	}
	return "logout_others"
}

// checkLogout refuses a logout that p or the Manager's configuration
// forbids.
func (m *Manager) checkLogout(u *Update) (UserIndexer, error) {
	op, p, field := u.logoutOp(), m.Config.Policy, m.Config.UserKey
	ix, ok := m.Store.(UserIndexer)
	switch {
	case !ok || field == "":
		return nil, &LogoutError{Op: op, Reason: "the handler has no user_key"}
	case p.DenyFlush:
		return nil, &LogoutError{Op: op, Reason: "the route forbids ending sessions (allow_flush off)"}
	case p.Hidden(field):
		return nil, &LogoutError{Op: op, Reason: fmt.Sprintf("the user's field %q is hidden from it", field)}
	case matchAny(p.DenyWrite, field) != "":
		return nil, &LogoutError{Op: op, Reason: fmt.Sprintf("the user's field %q matches deny_write %q", field, matchAny(p.DenyWrite, field))}
	}
	return ix, nil
}

// commitLogout is Commit for an update with LogoutOthers or LogoutAll.
//
// LogoutAll commits the rest as with Flush (this session ends too), then
// ends every session of the user as "log out everywhere" does.
//
// LogoutOthers marks the user's sessions revoked (a Revoker's), then
// commits the rest with cycle_key, so that this session goes on under a
// new key stamped after the mark, then ends every other session listed:
// none that a concurrent cycle_key moves survives either.
//
// Every refusal (policy, limits) comes before any of it.
func (m *Manager) commitLogout(ctx context.Context, s *Session, u *Update) (Result, error) {
	ix, err := m.checkLogout(u)
	if err != nil {
		return Result{}, err
	}
	if err := m.checkUpdate(u); err != nil {
		return Result{}, err
	}
	if err := m.Config.Policy.check(u); err != nil {
		return Result{}, err
	}
	view, err := u.apply(s.data)
	if err != nil {
		return Result{}, err
	}
	if err := m.checkSize(view); err != nil {
		return Result{}, err
	}
	user, ok := UserOf(view, m.Config.UserKey)
	if !ok {
		user, ok = UserOf(s.data, m.Config.UserKey)
	}
	rest := *u
	rest.LogoutOthers, rest.LogoutAll = false, false
	if u.LogoutAll {
		rest.Flush = true
		res, err := m.Commit(ctx, s, &rest)
		if err != nil || !ok {
			return res, err
		}
		ended, err := EndUserSessions(ctx, ix, user)
		m.loggedOut(ended)
		if err != nil {
			return Result{}, fmt.Errorf("ending the user's sessions: %w", err)
		}
		if res.Cookie == CookieSet && slices.Contains(ended, res.Key) {
			res = Result{}
			if s.CookieKey != "" {
				res.Cookie = CookieDelete
			}
		}
		return res, nil
	}
	if !ok {
		return m.Commit(ctx, s, &rest)
	}
	if rv, isRevoker := ix.(Revoker); isRevoker {
		if err := rv.RevokeBefore(ctx, user, time.Time{}); err != nil {
			return Result{}, fmt.Errorf("marking the user's sessions revoked: %w", err)
		}
	}
	if s.key != "" && !rest.Flush {
		rest.CycleKey = true
	}
	// Not Commit: its take would carry this session's age, from before
	// the mark, to the new key.
	res, err := m.commit(ctx, s, &rest)
	if err != nil {
		return res, err
	}
	keep := ""
	if res.Cookie == CookieSet {
		keep = res.Key
	}
	list, err := ix.UserSessions(ctx, user)
	if err != nil {
		return Result{}, fmt.Errorf("listing the user's sessions: %w", err)
	}
	var ended []string
	for _, us := range list {
		if us.Key == keep {
			continue
		}
		if gone, err := ix.Delete(ctx, us.Key); err != nil {
			m.loggedOut(ended)
			return Result{}, fmt.Errorf("ending the user's other sessions: %w", err)
		} else if gone {
			ended = append(ended, us.Key)
		}
	}
	m.loggedOut(ended)
	return res, nil
}

func (m *Manager) loggedOut(ended []string) {
	if m.OnLogout != nil && len(ended) > 0 {
		m.OnLogout(ended)
	}
}
