package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestPlan: what Commit decides for each kind of update, without a store.
func TestPlan(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const key = "k0000000000000000000000000000000"
	d := func(kv ...string) Data {
		out := Data{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = json.RawMessage(kv[i+1])
		}
		return out
	}
	stored := func(data Data) *Session {
		return &Session{CookieKey: key, key: key, data: data, expiresAt: now.Add(time.Hour)}
	}
	fresh := &Session{data: Data{}}
	age := 14 * 24 * time.Hour
	nowJSON := strconv.FormatInt(now.Unix(), 10)
	isErr := func(target any) func(error) bool {
		return func(err error) bool { return errors.As(err, target) }
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		s      *Session
		u      *Update
		minted bool
		step   step
		err    func(error) bool
		check  func(t *testing.T, p plan)
	}{
		{name: "a read stores nothing", s: stored(d("a", "1")), u: nil, step: stepNone,
			check: func(t *testing.T, p plan) { wantResult(t, p.done, Result{}) }},
		{name: "no session and no update stores nothing", s: fresh, u: &Update{}, step: stepNone},
		{name: "a first set creates", s: fresh, u: &Update{Set: d("a", "1")}, step: stepCreate,
			check: func(t *testing.T, p plan) { wantData(t, p.view, d("a", "1")) }},
		{name: "a set on a stored session saves a delta under the size limit", cfg: Config{MaxSize: 100},
			s: stored(d("a", "1")), u: &Update{Set: d("b", "2")}, step: stepSave,
			check: func(t *testing.T, p plan) {
				wantData(t, p.change.Set, d("b", "2"))
				if p.change.Mode != ModeUpdate || p.change.MaxSize != 100 || !p.change.ExpiresAt.Equal(now.Add(age)) {
					t.Errorf("change %+v; want an update to expire in %v with MaxSize 100", p.change, age)
				}
				wantResult(t, p.done, Result{Cookie: CookieSet, Key: key, Age: age})
				wantResult(t, p.emptied, Result{Cookie: CookieDelete})
			}},
		{name: "deleting the last key lets the store decide", s: stored(d("a", "1")), u: &Update{Delete: []string{"a"}}, step: stepSave,
			check: func(t *testing.T, p plan) {
				if !slices.Contains(p.change.Delete, "a") || !slices.Contains(p.change.Delete, CreatedKey) {
					t.Errorf("deletes %q; want a and the reserved keys", p.change.Delete)
				}
				wantResult(t, p.done, Result{})
				wantResult(t, p.emptied, Result{Cookie: CookieDelete})
			}},
		{name: "an emptying clear deletes", s: stored(d("a", "1")), u: &Update{Clear: true}, step: stepDelete,
			check: func(t *testing.T, p plan) { wantResult(t, p.done, Result{Cookie: CookieDelete}) }},
		{name: "a clear with sets replaces", s: stored(d("a", "1")), u: &Update{Clear: true, Set: d("b", "2")}, step: stepSave,
			check: func(t *testing.T, p plan) {
				if p.change.Mode != ModeReplace {
					t.Errorf("mode %s; want replace", p.change.Mode)
				}
				wantData(t, p.change.Set, d("b", "2"))
			}},
		{name: "a clear keeps the reserved keys and so replaces", s: stored(d("a", "1", CreatedKey, "5")), u: &Update{Clear: true, Set: d("b", "2")}, step: stepSave,
			check: func(t *testing.T, p plan) { wantData(t, p.change.Set, d("b", "2", CreatedKey, "5")) }},
		{name: "a clear leaving only reserved keys deletes", s: stored(d("a", "1", CreatedKey, "5")), u: &Update{Clear: true}, step: stepDelete},
		{name: "a flush ends the stored session", s: stored(d("a", "1")), u: &Update{Flush: true, Set: d("b", "2")}, step: stepFlush,
			check: func(t *testing.T, p plan) { wantData(t, p.view, d("b", "2")) }},
		{name: "a flush without a stored session creates", s: fresh, u: &Update{Flush: true, Set: d("b", "2")}, step: stepCreate},
		{name: "cycle_key takes and re-keys", s: stored(d("a", "1")), u: &Update{CycleKey: true, Set: d("b", "2")}, step: stepCycle,
			check: func(t *testing.T, p plan) { wantData(t, p.update.Set, d("b", "2")) }},
		{name: "cycle_key of no session creates", s: fresh, u: &Update{CycleKey: true, Set: d("b", "2")}, step: stepCreate},
		{name: "a touch saves the access time and keeps the cookie", cfg: Config{IdleTimeout: time.Hour},
			s: func() *Session { s := stored(d("a", "1", AccessedKey, "1")); s.touch = true; return s }(), u: nil, step: stepSave,
			check: func(t *testing.T, p plan) {
				wantData(t, p.change.Set, d(AccessedKey, nowJSON))
				if p.change.MaxSize != 0 {
					t.Errorf("a touch carries MaxSize %d; a read is never refused for size", p.change.MaxSize)
				}
				wantResult(t, p.done, Result{})
				wantResult(t, p.emptied, Result{})
			}},
		{name: "save_every_request resends the cookie", cfg: Config{SaveEveryRequest: true, MaxSize: 100}, s: stored(d("a", "1")), u: nil, step: stepSave,
			check: func(t *testing.T, p plan) {
				wantResult(t, p.done, Result{Cookie: CookieSet, Key: key, Age: age})
				if p.change.MaxSize != 0 {
					t.Errorf("an unmodified save carries MaxSize %d", p.change.MaxSize)
				}
			}},
		{name: "a minted store mints", s: stored(d("a", "1")), u: &Update{CycleKey: true, Set: d("b", "2")}, minted: true, step: stepMint,
			check: func(t *testing.T, p plan) { wantData(t, p.view, d("a", "1", "b", "2")) }},
		{name: "a minted store's emptied session deletes the cookie", s: stored(d("a", "1")), u: &Update{Delete: []string{"a"}}, minted: true, step: stepNone,
			check: func(t *testing.T, p plan) { wantResult(t, p.done, Result{Cookie: CookieDelete}) }},
		{name: "an upstream's write of a reserved key is no change", s: stored(d("a", "1")), u: &Update{Set: d(CreatedKey, "9"), Incr: map[string]int64{AccessedKey: 9}}, step: stepNone},
		{name: "over max_session_size", cfg: Config{MaxSize: 10}, s: stored(d("a", "1")), u: &Update{Set: d("b", `"0123456789"`)}, err: isErr(new(*LimitError))},
		{name: "over max_update_keys", cfg: Config{MaxUpdateKeys: 1}, s: stored(d("a", "1")), u: &Update{Set: d("b", "1", "c", "2")}, err: isErr(new(*LimitError))},
		{name: "deny_write", cfg: Config{Policy: Policy{DenyWrite: []string{"a"}}}, s: stored(d("a", "1")), u: &Update{Delete: []string{"a"}}, err: isErr(new(*PolicyError))},
		{name: "hide", cfg: Config{Policy: Policy{Hide: []string{"h*"}}}, s: stored(d("a", "1")), u: &Update{Incr: map[string]int64{"hits": 1}}, err: isErr(new(*PolicyError))},
		{name: "an increment of the expiry", s: stored(d("a", "1")), u: &Update{Incr: map[string]int64{ExpiryKey: 1}}, err: isErr(new(*IncrError))},
		{name: "an increment of no counter", s: stored(d("a", `"x"`)), u: &Update{Incr: map[string]int64{"a": 1}}, err: isErr(new(*IncrError))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Age = age
			m := &Manager{Config: cfg} // no Store: a plan reaches none
			p, err := m.plan(tc.s, tc.u, now, tc.minted)
			if tc.err != nil {
				if err == nil || !tc.err(err) {
					t.Fatalf("plan = %s, %v; want a refusal", p.step, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if p.step != tc.step {
				t.Fatalf("step %s; want %s", p.step, tc.step)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func wantResult(t *testing.T, got, want Result) {
	t.Helper()
	if got != want {
		t.Errorf("result %+v; want %+v", got, want)
	}
}

func wantData(t *testing.T, got, want Data) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("data %s; want %s", got, want)
		return
	}
	for k, v := range want {
		if string(got[k]) != string(v) {
			t.Errorf("data %s; want %s", got, want)
			return
		}
	}
}

// TestApplyAllocs: the session as an update leaves it is one map, made at
// its size: its header and one group of slots for a small session, with
// no map made and thrown away.
func TestApplyAllocs(t *testing.T) {
	d := Data{"user": []byte(`"bob"`), "_auth_user_id": []byte(`"7"`), "cart": []byte(`[1,2,3]`)}
	for _, tc := range []struct {
		name string
		u    *Update
	}{
		{"set", &Update{Set: Data{"n": []byte("1")}}},
		{"expiry", &Update{Set: Data{"n": []byte("1")}, Expiry: &Expiry{Seconds: 60}}},
		{"clear", &Update{Clear: true, Set: Data{"n": []byte("1")}}},
	} {
		got := testing.AllocsPerRun(100, func() {
			if _, err := tc.u.apply(d); err != nil {
				t.Fatal(err)
			}
		})
		if e := tc.u.Expiry; e != nil {
			got -= testing.AllocsPerRun(100, func() { expiryValue(e) }) // the value's own text
		}
		if got > 2 {
			t.Errorf("%s: apply made %v allocations, want at most 2", tc.name, got)
		}
	}
}

// TestSizeAfter: the size of the session as an update leaves it, worked
// out from the loaded size and the fields the update touches, is Size of
// the session apply makes, whatever the update.
func TestSizeAfter(t *testing.T) {
	loaded := Data{"user": []byte(`"bob"`), "n": []byte("41"), "q\"uote": []byte(`"x"`), ExpiryKey: []byte("60")}
	many := Data{}
	for i := range 20 {
		many[fmt.Sprint("k", i)] = []byte("1")
	}
	for _, tc := range []struct {
		name string
		data Data
		u    *Update
	}{
		{"set new", loaded, &Update{Set: Data{"new": []byte(`[1,2]`)}}},
		{"set existing", loaded, &Update{Set: Data{"user": []byte(`"alice and bob"`)}}},
		{"delete", loaded, &Update{Delete: []string{"user", "user", "absent"}}},
		{"delete then set", loaded, &Update{Delete: []string{"n"}, Set: Data{"n": []byte("7")}}},
		{"incr", loaded, &Update{Incr: map[string]int64{"n": 100000, "fresh": 1}}},
		{"incr of a set", loaded, &Update{Set: Data{"n": []byte("1")}, Incr: map[string]int64{"n": 1}}},
		{"expiry", loaded, &Update{Expiry: &Expiry{Seconds: 1209600}}},
		{"expiry default", loaded, &Update{Expiry: &Expiry{Default: true}}},
		{"escaped key", loaded, &Update{Set: Data{"q\"uote": []byte(`"y\n"`), "tab\tkey": []byte("1")}}},
		{"from empty", Data{}, &Update{Set: Data{"a": []byte("1")}}},
		{"clear", loaded, &Update{Clear: true, Set: Data{"a": []byte("1")}}},
		{"flush", loaded, &Update{Flush: true, Set: Data{"a": []byte("1")}}},
		{"many fields", loaded, &Update{Set: many}},
		{"delete many", many, &Update{Delete: slices.Collect(maps.Keys(many))[:17], Set: Data{"z": []byte("2")}}},
	} {
		s := &Session{data: tc.data}
		view, err := tc.u.apply(s.data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(view) == 0 {
			t.Fatalf("%s: nothing left", tc.name)
		}
		if got, want := tc.u.sizeAfter(s, view), Size(view); got != want {
			t.Errorf("%s: sizeAfter = %d, Size of the view = %d", tc.name, got, want)
		}
	}
}

// TestPlanStampedView: with timeouts, the session a plan would store is
// the stamped update applied to what was loaded, whether the update keeps
// the loaded fields, clears them (the timeout fields kept) or flushes.
func TestPlanStampedView(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const key = "k0000000000000000000000000000000"
	loaded := Data{"user": []byte(`"bob"`), "n": []byte("1"), CreatedKey: []byte("1767000000"), AccessedKey: []byte("1767300000")}
	for _, cfg := range []Config{
		{IdleTimeout: time.Hour},
		{AbsoluteTimeout: 24 * time.Hour},
		{IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour, MaxSize: 4096},
	} {
		m := &Manager{Config: cfg}
		for _, u := range []*Update{
			{Set: Data{"cart": []byte("[1]")}},
			{Incr: map[string]int64{"n": 2}, Expiry: &Expiry{Seconds: 60}},
			{Delete: []string{"user"}},
			{Clear: true, Set: Data{"a": []byte("1")}},
			{Flush: true, Set: Data{"a": []byte("1")}},
			{CycleKey: true},
		} {
			for _, s := range []*Session{
				{CookieKey: key, key: key, data: loaded, expiresAt: now.Add(time.Hour), touch: true},
				{data: Data{}},
			} {
				p, err := m.plan(s, u, now, false)
				if err != nil {
					t.Fatalf("%+v, %+v: %v", cfg, u, err)
				}
				want, err := p.update.apply(s.data)
				if err != nil {
					t.Fatal(err)
				}
				if userEmpty(want) {
					want = Data{}
				}
				if !maps.EqualFunc(p.view, want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
					t.Errorf("%+v, %+v, loaded %d fields: view %s, want %s", cfg, u, len(s.data), p.view, want)
				}
			}
		}
	}
}
