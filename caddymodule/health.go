package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// storeHealth is what an operator sees of one handler's store: whether its
// last operation worked, since when it has been failing, and why (the
// error's message, which never holds a session key or data).
type storeHealth struct {
	label string // "<store> <hash of its config>"
	id    string // the shared store's pool key, else its JSON config
	refs  int    // handlers using it; under healthRegistry's lock

	failures  atomic.Int64 // consecutive failed operations
	lastOK    atomic.Int64 // unix ms
	lastError atomic.Int64 // unix ms
	mu        sync.Mutex
	lastMsg   string
}

// ok records a store call that succeeded at now. Each store skips a
// write that would change nothing, so that requests on several cores do
// not contend for the line on every call.
func (s *storeHealth) ok(now time.Time) {
	if s.failures.Load() != 0 {
		s.failures.Store(0)
	}
	if ms := now.UnixMilli(); s.lastOK.Load() != ms {
		s.lastOK.Store(ms)
	}
}

func (s *storeHealth) failed(err error) {
	s.failures.Add(1)
	s.lastError.Store(time.Now().UnixMilli())
	s.mu.Lock()
	s.lastMsg = err.Error()
	s.mu.Unlock()
}

// healthRegistry holds the stores of every provisioned handler, one entry
// per shared store (keyed as the pool keys it: handlers on one store share
// its health, however each writes its config); a handler leaves it at
// Cleanup, so after a reload it lists the new config's stores, their state
// carried over.
var healthRegistry = struct {
	sync.Mutex
	stores []*storeHealth
}{}

func registerHealth(backend, id string) *storeHealth {
	healthRegistry.Lock()
	defer healthRegistry.Unlock()
	for _, s := range healthRegistry.stores {
		if s.id == id {
			s.refs++
			return s
		}
	}
	sum := sha256.Sum256([]byte(id)) // never shows a password in the config
	s := &storeHealth{label: backend + " " + hex.EncodeToString(sum[:4]), id: id, refs: 1}
	healthRegistry.stores = append(healthRegistry.stores, s)
	return s
}

func unregisterHealth(s *storeHealth) {
	healthRegistry.Lock()
	defer healthRegistry.Unlock()
	if s.refs--; s.refs <= 0 {
		healthRegistry.stores = slices.DeleteFunc(healthRegistry.stores, func(x *storeHealth) bool { return x == s })
	}
}

// healthReport is one store in GET /sessions/health. The state is that of
// the most recent operation any request made on the store.
type healthReport struct {
	Store               string `json:"store"`
	State               string `json:"state"` // "up", "down" or "unknown" (no request yet)
	ConsecutiveFailures int64  `json:"consecutive_failures"`
	LastOK              string `json:"last_ok,omitempty"`
	LastError           string `json:"last_error,omitempty"`
	LastErrorMessage    string `json:"last_error_message,omitempty"`
}

func (s *storeHealth) report() healthReport {
	r := healthReport{Store: s.label, ConsecutiveFailures: s.failures.Load(), State: "unknown"}
	ok, bad := s.lastOK.Load(), s.lastError.Load()
	switch {
	case r.ConsecutiveFailures > 0:
		r.State = "down"
	case ok > 0:
		r.State = "up"
	}
	if ok > 0 {
		r.LastOK = time.UnixMilli(ok).UTC().Format(time.RFC3339Nano)
	}
	if bad > 0 {
		r.LastError = time.UnixMilli(bad).UTC().Format(time.RFC3339Nano)
		s.mu.Lock()
		r.LastErrorMessage = s.lastMsg
		s.mu.Unlock()
	}
	return r
}

// adminAPI serves GET /sessions/health on Caddy's admin endpoint: the
// state of every session store in the running config. It answers 200 when
// every store is up (or not yet used) and 503 when one is down, so that a
// load balancer or a monitor can probe it as it is.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.sessions", New: func() caddy.Module { return new(adminAPI) }}
}

// Routes returns the admin routes.
func (adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/sessions/health", Handler: caddy.AdminHandlerFunc(serveHealth)},
		{Pattern: "/sessions/", Handler: caddy.AdminHandlerFunc(serveSessions)}, // users.go
	}
}

func serveHealth(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errMethod}
	}
	healthRegistry.Lock()
	stores := slices.Clone(healthRegistry.stores)
	healthRegistry.Unlock()
	out := struct {
		Stores []healthReport `json:"stores"`
	}{Stores: []healthReport{}}
	status := http.StatusOK
	for _, s := range stores {
		rep := s.report()
		if rep.State == "down" {
			status = http.StatusServiceUnavailable
		}
		out.Stores = append(out.Stores, rep)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(out)
}

var errMethod = &methodError{}

type methodError struct{}

func (*methodError) Error() string { return "method not allowed: use GET" }

// Interface guard
var _ caddy.AdminRouter = adminAPI{}
