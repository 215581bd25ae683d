package caddymodule

import (
	"time"

	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
)

// The handler's log fields. A line never holds a session key (the cookie
// value) or session data: a session is named by its sid, which cannot be
// turned back into the key.
//
//	sid       the session's sid, as the upstream's token carries it
//	old_sid   the sid a cycle_key or flush ended
//	store     the store's module name
//	op        the store operation that failed: load or save
//	outcome   what became of the request's session: none (no cookie), hit,
//	          miss, error; unchanged, create, update, cycle, flush, delete
//	duration  how long the store took
//	reason    why a session ended: expired, flushed, cleared, interrupted,
//	          revoked
//	timeout   which server-side timeout expired a session: idle, absolute
//
// Every decision has a line at debug level; sessions ending are at info;
// a store failure at error.

// logEnded logs and counts the end of a session; the handler calls it for
// what it sees in requests, the admin API for a revocation.
func logEnded(logger *zap.Logger, store, reason, sid string, fields ...zap.Field) {
	sessionMetrics.once.Do(initSessionMetrics)
	sessionMetrics.ended.WithLabelValues(store, reason).Inc()
	if ce := logger.Check(zap.InfoLevel, "session ended"); ce != nil {
		ce.Write(append([]zap.Field{zap.String("reason", reason), zap.String("sid", sid), zap.String("store", store)}, fields...)...)
	}
}

func (h *Handler) ended(reason, sid string, fields ...zap.Field) {
	logEnded(h.logger, h.storeLabel, reason, sid, fields...)
}

// logStoreError logs a store failure of op (load or save).
func (h *Handler) logStoreError(op string, took time.Duration, err error) {
	if ce := h.logger.Check(zap.ErrorLevel, "session store failed"); ce != nil {
		ce.Write(zap.String("store", h.storeLabel), zap.String("op", op), zap.String("outcome", "error"), zap.Duration("duration", took), zap.Error(err))
	}
}

// refused counts and logs an update refused for going over a limit.
func (h *Handler) refused(limit, sid string, size, max int) {
	h.metrics.refused.WithLabelValues(limit).Inc()
	if ce := h.logger.Check(zap.WarnLevel, "session update refused whole: over a limit, nothing saved"); ce != nil {
		ce.Write(zap.String("sid", sid), zap.String("store", h.storeLabel), zap.String("limit", limit), zap.Int("size", size), zap.Int("max", max))
	}
}

// limitName is the configuration name of the limit e is about.
func limitName(e *session.LimitError) string {
	switch e.What {
	case "session size":
		return "max_session_size"
	case "keys in one update":
		return "max_update_keys"
	}
	return "other"
}

// saved counts, and logs, what a successful commit did to the session.
func (h *Handler) saved(st *reqSession, upd *session.Update, res session.Result, took time.Duration) {
	had := st.sess != nil && !st.sess.IsNew()
	flush, cycle := upd != nil && upd.Flush, upd != nil && upd.CycleKey // nil: no update
	op, msg := "", "no session change: nothing saved"
	switch {
	case flush && had:
		op, msg = saveFlush, "session flushed: its key is dead"
		h.ended(endFlushed, st.SID())
	case cycle && had && res.Cookie == session.CookieSet:
		op, msg = saveCycle, "session key cycled: the old key is dead, the data moved to a new one"
	case res.Cookie == session.CookieDelete && had:
		op, msg = saveDelete, "session emptied: deleted, and its cookie with it"
		h.ended(endCleared, st.SID())
	case res.Cookie == session.CookieSet && !had:
		op, msg = saveCreate, "session saved under a new key"
	case res.Cookie == session.CookieSet:
		op, msg = saveUpdate, "session changes saved"
	}
	if op != "" {
		h.metrics.saves[op].Inc()
	}
	if ce := h.logger.Check(zap.DebugLevel, msg); ce != nil {
		outcome := op
		if outcome == "" {
			outcome = "unchanged"
		}
		fields := []zap.Field{zap.String("store", h.storeLabel), zap.String("outcome", outcome)}
		if res.Cookie == session.CookieSet {
			fields = append(fields, zap.String("sid", h.signer.SID(res.Key)))
			if had && res.Key != st.sess.Key() {
				fields = append(fields, zap.String("old_sid", st.SID()))
			}
		} else {
			fields = append(fields, zap.String("sid", st.SID()))
		}
		if op != "" {
			fields = append(fields, zap.Duration("duration", took))
		}
		ce.Write(fields...)
	}
}
