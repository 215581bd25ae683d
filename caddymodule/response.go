package caddymodule

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/headers"
	"github.com/caddy-session/caddy-session/session"
)

// commit persists the upstream's update and sets or deletes the cookie. It
// runs when the upstream writes its response header, before anything of the
// response reaches the client, so that a failed save replaces the response.
func (h *Handler) commit(rw *responseWriter, status int) error {
	patchVary(rw.Header())
	st := &rw.state
	if status >= 500 {
		// Django saves nothing on a server error; neither do we. The error
		// passes as it is, whatever update headers it carries.
		h.names.Strip(rw.Header())
		if ce := h.logger.Check(zap.DebugLevel, "upstream answered a server error: nothing saved"); ce != nil {
			ce.Write(zap.String("sid", st.SID()), zap.String("store", h.storeLabel), zap.String("outcome", "unchanged"), zap.Int("status", status))
		}
		return nil
	}
	upd, err := h.names.ParseUpdate(rw.Header())
	if err != nil {
		h.metrics.rejected.WithLabelValues("malformed").Inc()
		return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("parsing session update: %w", err))
	}
	if h.manager.IsRead(st.sess, upd) {
		if ce := h.logger.Check(zap.DebugLevel, "no session change: nothing saved"); ce != nil {
			ce.Write(zap.String("sid", st.SID()), zap.String("store", h.storeLabel), zap.String("outcome", "unchanged"))
		}
		return nil // the read path: nothing to save, no timer to set
	}
	// The upstream has acted; a client that hangs up now must not undo a
	// login or logout. store_timeout bounds the save.
	ctx := context.WithoutCancel(rw.r.Context())
	if !h.instant { // a store that may wait: bounded by store_timeout
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	// Only these reach the store; a plain read returns before any call.
	timed := !upd.Empty() || h.SaveEveryRequest || h.IdleTimeout > 0 || h.AbsoluteTimeout > 0
	var start, end time.Time
	if timed {
		start = time.Now() // also the instant the commit is decided at
	}
	res, err := h.manager.CommitAt(ctx, st.sess, upd, start)
	var took time.Duration
	if timed {
		end = time.Now() // the cookie's Expires counts from it too
		took = end.Sub(start)
		h.metrics.saveSeconds.Observe(took.Seconds())
	}
	if errors.Is(err, session.ErrInterrupted) {
		h.metrics.interrupted.Inc()
		h.ended(endInterrupted, st.SID())
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	if le, ok := errors.AsType[*session.LimitError](err); ok {
		h.refused(limitName(le), st.SID(), le.Size, le.Limit)
		return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("refusing session update: %w", le))
	}
	if pe, ok := errors.AsType[*session.PolicyError](err); ok {
		h.metrics.rejected.WithLabelValues("policy").Inc()
		return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("refusing session update: %w", pe))
	}
	if le, ok := errors.AsType[*session.LogoutError](err); ok {
		h.metrics.rejected.WithLabelValues("policy").Inc()
		return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("refusing session update: %w", le))
	}
	if ie, ok := errors.AsType[*session.IncrError](err); ok {
		// The upstream asked to count in a field that holds no counter:
		// its update is void, as a malformed one is.
		h.metrics.rejected.WithLabelValues("not_counter").Inc()
		return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("refusing session update: %w", ie))
	}
	if err != nil {
		h.health.failed(err)
		h.metrics.storeError("save", err)
		h.logStoreError("save", took, err)
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	if end.IsZero() {
		end = time.Now()
	}
	h.health.ok(end)
	switch res.Cookie {
	case session.CookieSet:
		c := h.cookieFor(rw.r)
		c.Value = res.Key
		if !res.BrowserClose {
			if secs := int(res.Age / time.Second); secs > 0 {
				c.MaxAge = secs
				c.Expires = end.Add(res.Age).UTC()
			} else {
				c.MaxAge = -1 // an expiry in the past ends the cookie now
			}
		}
		line := setCookieLine(&c)
		if len(line) > maxCookieBytes {
			// Only a session kept in the cookie (signed_cookies) grows so:
			// a truncated or dropped cookie would lose it silently.
			h.refused("cookie_size", st.SID(), len(line), maxCookieBytes)
			return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("session cookie would be %d bytes, over the %d browsers keep: refusing the update", len(line), maxCookieBytes))
		}
		hdr := rw.Header()
		hdr["Set-Cookie"] = append(hdr["Set-Cookie"], line)
		keepPrivate(hdr)
	case session.CookieDelete:
		c := h.cookieFor(rw.r)
		c.MaxAge = -1
		c.Expires = time.Unix(0, 0)
		hdr := rw.Header()
		hdr["Set-Cookie"] = append(hdr["Set-Cookie"], setCookieLine(&c))
		keepPrivate(hdr)
	}
	h.saved(st, upd, res, took)
	return nil
}

// responseWriter holds the upstream's response header until its hook has
// run, then lets the response through unchanged (streams, flushes and
// protocol switches included) or, when the hook failed, swallows it so that
// the handler can answer with an error instead. One wrapper serves both
// kinds of request, so that every way to send the header (WriteHeader,
// Write, ReadFrom, a flush) passes through the hook, for either:
//   - commitHeader, for a request with a session: applies the update the
//     header carries and sets the cookie;
//   - stripHeader, for a request that gets no session (unmatched, or a
//     store failure under on_store_error pass): removes the session family,
//     applying nothing.
type responseWriter struct {
	caddyhttp.ResponseWriterWrapper
	names headers.Names
	// onHeader runs once, on the final response header before it is sent
	// (or on a 101's); an error swallows the response.
	onHeader    func(rw *responseWriter, status int) error
	h           *Handler
	r           *http.Request
	state       reqSession // commitHeader's session
	wroteHeader bool
	failed      error
}

// committingWriter is the wrapper of a request with a session.
func committingWriter(w http.ResponseWriter, h *Handler, r *http.Request) *responseWriter {
	return &responseWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, names: h.names, onHeader: commitHeader, h: h, r: r}
}

// strippingWriter is the wrapper of a request that gets no session.
func strippingWriter(w http.ResponseWriter, names headers.Names) *responseWriter {
	return &responseWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, names: names, onHeader: stripHeader}
}

func commitHeader(rw *responseWriter, status int) error { return rw.h.commit(rw, status) }

func stripHeader(rw *responseWriter, _ int) error {
	rw.names.Strip(rw.Header())
	return nil
}

// WriteHeader runs the hook before the status line is sent. 1xx
// informational responses pass through (stripped of session headers),
// except 101 Switching Protocols, which is final for this request.
func (rw *responseWriter) WriteHeader(status int) {
	if rw.wroteHeader {
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		rw.names.Strip(rw.Header())
		rw.ResponseWriter.WriteHeader(status)
		return
	}
	rw.wroteHeader = true
	if err := rw.onHeader(rw, status); err != nil {
		rw.failed = err
		return
	}
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.failed != nil {
		return len(p), nil // discarded: an error response replaces this one
	}
	return rw.ResponseWriter.Write(p)
}

// ReadFrom keeps io.Copy from bypassing WriteHeader.
func (rw *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.failed != nil {
		return io.Copy(io.Discard, src)
	}
	return rw.ResponseWriterWrapper.ReadFrom(src)
}

// FlushError is what http.ResponseController calls; it must not let a flush
// send the header before the hook has run on it.
func (rw *responseWriter) FlushError() error {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.failed != nil {
		return nil
	}
	return http.NewResponseController(rw.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (rw *responseWriter) Flush() { _ = rw.FlushError() }

// Hijack lets a protocol switch (WebSocket) take the connection once its
// 101 response has been processed.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if rw.failed != nil {
		return nil, nil, fmt.Errorf("not switching protocols: %w", rw.failed)
	}
	return http.NewResponseController(rw.ResponseWriter).Hijack()
}

// Interface guards
var (
	_ http.Flusher  = (*responseWriter)(nil)
	_ http.Hijacker = (*responseWriter)(nil)
	_ io.ReaderFrom = (*responseWriter)(nil)
)

// savedHeader keeps a copy of the response header as the handlers before
// this one left it (HSTS, CSP, ...), for the handler's own error responses,
// which replace whatever the upstream added. A request's header has a few
// fields: they are copied into the fixed arrays, on the stack, with no
// allocation; a larger header is cloned.
type savedHeader struct {
	n    int
	keys [8]string
	ends [8]int // values of keys[i] are strs[ends[i-1]:ends[i]]
	strs [16]string
	all  http.Header // the copy when the header did not fit
}

func (s *savedHeader) save(h http.Header) {
	if len(h) > len(s.keys) {
		s.all = h.Clone()
		return
	}
	j := 0
	for k, vs := range h {
		if j+len(vs) > len(s.strs) {
			s.n, s.all = 0, h.Clone()
			return
		}
		j += copy(s.strs[j:], vs)
		s.keys[s.n], s.ends[s.n] = k, j
		s.n++
	}
}

// restore makes h what was saved.
func (s *savedHeader) restore(h http.Header) {
	clear(h)
	if s.all != nil {
		for k, vs := range s.all {
			h[k] = vs
		}
		return
	}
	start := 0
	for i := range s.n {
		h[s.keys[i]] = slices.Clone(s.strs[start:s.ends[i]])
		start = s.ends[i]
	}
}
