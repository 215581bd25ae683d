package caddymodule

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The session metrics, in Caddy's registry (exported wherever Caddy
// exports its own: the admin endpoint's /metrics, or the `metrics`
// handler). Their only labels are the store's module name, an operation,
// a result and a kind of error: nothing from a request, never a sid, so
// their number stays bounded. They are created once per process and
// registered with each config's registry, so that counters keep counting
// across config reloads.
var sessionMetrics struct {
	once         sync.Once
	loads        *prometheus.CounterVec
	saves        *prometheus.CounterVec
	storeSeconds *prometheus.HistogramVec
	storeErrors  *prometheus.CounterVec
	interrupted  *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	refused      *prometheus.CounterVec
	ended        *prometheus.CounterVec
	sizeBytes    *prometheus.HistogramVec
	active       prometheus.GaugeFunc
}

// countingStores are the stores whose live sessions the active_sessions
// gauge counts at each scrape: those that can count them in memory, at no
// cost to the store (`store memory`). Stores that would need a scan of
// Redis or a COUNT(*) per scrape are left out; the admin API counts a
// user's sessions on every store.
var countingStores struct {
	sync.Mutex
	stores map[interface{ Live(time.Time) int }]bool
}

// countSessions adds s to the gauge until the returned func is called.
func countSessions(s interface{ Live(time.Time) int }) (stop func()) {
	countingStores.Lock()
	defer countingStores.Unlock()
	if countingStores.stores == nil {
		countingStores.stores = map[interface{ Live(time.Time) int }]bool{}
	}
	countingStores.stores[s] = true
	return func() {
		countingStores.Lock()
		defer countingStores.Unlock()
		delete(countingStores.stores, s)
	}
}

func liveSessions() float64 {
	countingStores.Lock()
	defer countingStores.Unlock()
	now, n := time.Now(), 0
	for s := range countingStores.stores {
		n += s.Live(now)
	}
	return float64(n)
}

func initSessionMetrics() {
	const ns, sub = "caddy", "session"
	m := &sessionMetrics
	m.loads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "loads_total",
		Help: "Session loads of requests that carried a session cookie, by result: hit (a live session), miss (none: unknown, expired or malformed), error (the store failed).",
	}, []string{"store", "result"})
	m.saves = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "saves_total",
		Help: "Responses whose session changes were persisted, by what the store did: create, update, cycle, flush, delete.",
	}, []string{"store", "op"})
	m.storeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "store_duration_seconds",
		Help:    "Time a request waited for the store: op load (its session) or save (every store call of one update), failures included.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"store", "op"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "store_errors_total",
		Help: "Store failures (503s, or sessions served empty under on_store_error pass), by op (load, save) and kind (timeout, canceled, connection, other).",
	}, []string{"store", "op", "kind"})
	m.interrupted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "interrupted_saves_total",
		Help: "Updates not saved because a concurrent request had ended the session (400, Django's SessionInterrupted).",
	}, []string{"store"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "update_rejections_total",
		Help: "Upstream session updates refused whole (nothing persisted, 502), by reason: malformed (update headers), policy (hide, deny_write or allow_flush), not_counter (an increment of a field that holds no counter).",
	}, []string{"store", "reason"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "limit_refusals_total",
		Help: "Updates refused whole for going over a limit (max_session_size, max_update_keys, cookie_size), and stored sessions over max_session_size handled as no session (oversize_load).",
	}, []string{"store", "limit"})
	m.ended = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "ended_total",
		Help: "Sessions the handler saw end, by reason: expired (idle or absolute timeout), flushed, cleared (emptied), interrupted.",
	}, []string{"store", "reason"})
	m.sizeBytes = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "size_bytes",
		Help:    "Size of each loaded session, in bytes of its JSON object (what max_session_size limits).",
		Buckets: prometheus.ExponentialBuckets(64, 2, 10), // 64 B to 32 KiB
	}, []string{"store"})
	m.active = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "active_sessions",
		Help:        "Live sessions, counted at each scrape, in the stores that can count them at no cost: memory. Other stores are not counted here (the admin API counts a user's sessions on every store).",
		ConstLabels: prometheus.Labels{"store": "memory"},
	}, liveSessions)
}

// registerSessionMetrics adds the session metrics to a config's registry.
func registerSessionMetrics(reg *prometheus.Registry) error {
	sessionMetrics.once.Do(initSessionMetrics)
	if reg == nil {
		return nil
	}
	m := &sessionMetrics
	for _, c := range []prometheus.Collector{m.loads, m.saves, m.storeSeconds, m.storeErrors, m.interrupted, m.rejected, m.refused, m.ended, m.sizeBytes, m.active} {
		if err := reg.Register(c); err != nil {
			if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
				continue // another handler of this config registered it
			}
			return err
		}
	}
	return nil
}

// Save ops, as saves_total labels them.
const (
	saveCreate = "create"
	saveUpdate = "update"
	saveCycle  = "cycle"
	saveFlush  = "flush"
	saveDelete = "delete"
)

// End reasons, as logs and ended_total name them. Revoked is the admin
// API's: logEnded takes it from there.
const (
	endExpired     = "expired"
	endFlushed     = "flushed"
	endCleared     = "cleared"
	endInterrupted = "interrupted"
	endRevoked     = "revoked"
)

// handlerMetrics is one handler's view of the metrics, curried with its
// store at provision so that a request only increments.
type handlerMetrics struct {
	store                    string
	hit, miss, loadError     prometheus.Counter
	loadSeconds, saveSeconds prometheus.Observer
	size                     prometheus.Observer
	interrupted              prometheus.Counter
	saves                    map[string]prometheus.Counter // by op
	rejected, refused, errs  *prometheus.CounterVec
}

func newHandlerMetrics(store string) *handlerMetrics {
	sessionMetrics.once.Do(initSessionMetrics)
	m := &sessionMetrics
	l := prometheus.Labels{"store": store}
	hm := &handlerMetrics{
		store:       store,
		hit:         m.loads.WithLabelValues(store, "hit"),
		miss:        m.loads.WithLabelValues(store, "miss"),
		loadError:   m.loads.WithLabelValues(store, "error"),
		loadSeconds: m.storeSeconds.WithLabelValues(store, "load"),
		saveSeconds: m.storeSeconds.WithLabelValues(store, "save"),
		size:        m.sizeBytes.WithLabelValues(store),
		interrupted: m.interrupted.WithLabelValues(store),
		rejected:    m.rejected.MustCurryWith(l),
		saves:       map[string]prometheus.Counter{},
		refused:     m.refused.MustCurryWith(l),
		errs:        m.storeErrors.MustCurryWith(l),
	}
	for _, op := range []string{saveCreate, saveUpdate, saveCycle, saveFlush, saveDelete} {
		hm.saves[op] = m.saves.WithLabelValues(store, op)
	}
	// Every series exists from the start, at 0, so that rate() and
	// increase() see the first event.
	for _, reason := range []string{"malformed", "policy", "not_counter"} {
		hm.rejected.WithLabelValues(reason)
	}
	for _, limit := range []string{"max_session_size", "max_update_keys", "cookie_size", "oversize_load"} {
		hm.refused.WithLabelValues(limit)
	}
	for _, reason := range []string{endExpired, endFlushed, endCleared, endInterrupted, endRevoked} {
		m.ended.WithLabelValues(store, reason)
	}
	for _, op := range []string{"load", "save"} {
		for _, kind := range []string{"timeout", "canceled", "connection", "other"} {
			hm.errs.WithLabelValues(op, kind)
		}
	}
	return hm
}

// storeError counts a store failure of op (load or save).
func (m *handlerMetrics) storeError(op string, err error) {
	m.errs.WithLabelValues(op, errorKind(err)).Inc()
}

// errorKind sorts a store error into a few kinds an alert can tell apart.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection"
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return "connection"
	}
	return "other"
}
