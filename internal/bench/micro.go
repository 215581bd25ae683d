package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
)

// microResult is one Go benchmark: the median of its runs.
type microResult struct {
	Name           string
	NsPerOp        float64
	Bytes, Allocs  int
	CPUNsPerOp     float64 // the benchmark's cpu-ns/op metric; 0: none
	Target         float64 // ns/op; 0: none
	TargetDescribe string
}

var reBench = regexp.MustCompile(`(?m)^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op(?:\s+([0-9.]+) cpu-ns/op)?\s+(\d+) B/op\s+(\d+) allocs/op`)

// micro runs the module's Go benchmarks of the hot path (go test -bench,
// 3 runs each) and returns their medians, in the order asked.
func micro() ([]microResult, error) {
	type bench struct {
		pkg, name string
		target    float64
		what      string
	}
	benches := []bench{
		{"./headers/", "BenchmarkSign100", 3000, "token signing, ~100-byte session ≤ 3 µs"},
		{"./headers/", "BenchmarkParseNoUpdate", 1000, "a response with no update headers ≤ 1 µs of parsing"},
		{"./headers/", "BenchmarkParseUpdate", 0, ""},
		{"./headers/", "BenchmarkSID", 0, ""},
		{"./caddymodule/", "BenchmarkServeHTTP", 0, ""},
		{"./session/", "BenchmarkJSONCodec", 0, ""},
		{"./session/redisblob/", "BenchmarkCacheJSONCodec", 0, ""},
		{"./session/django/", "BenchmarkEncode", 0, ""},
		{"./session/django/", "BenchmarkDecode", 0, ""},
		// Encryption at rest (issue 18): plain and encrypted in one run.
		{"./session/memstore/", "BenchmarkEncryption", 0, ""},
		{"./session/redisstore/", "BenchmarkEncryption", 0, ""},
	}
	runs := map[string][]microResult{}
	var order []string
	for _, b := range benches {
		out, err := exec.Command("go", "test", "-run", "^$", "-bench", "^"+b.name+"$", "-benchmem", "-count", "3", b.pkg).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go test -bench %s %s: %w: %s", b.name, b.pkg, err, out)
		}
		for _, m := range reBench.FindAllStringSubmatch(string(out), -1) {
			ns, _ := strconv.ParseFloat(m[2], 64)
			cpu, _ := strconv.ParseFloat(m[3], 64)
			by, _ := strconv.Atoi(m[4])
			al, _ := strconv.Atoi(m[5])
			name := m[1]
			switch b.pkg {
			case "./session/django/":
				name = "django " + name
			case "./session/memstore/":
				name = "memory " + name
			case "./session/redisstore/":
				name = "redis " + name
			}
			if _, ok := runs[name]; !ok {
				order = append(order, name)
			}
			runs[name] = append(runs[name], microResult{Name: name, NsPerOp: ns, CPUNsPerOp: cpu, Bytes: by, Allocs: al, Target: b.target, TargetDescribe: b.what})
		}
	}
	var res []microResult
	for _, name := range order {
		rs := runs[name]
		slices.SortFunc(rs, func(a, b microResult) int {
			switch {
			case a.NsPerOp < b.NsPerOp:
				return -1
			case a.NsPerOp > b.NsPerOp:
				return 1
			}
			return 0
		})
		res = append(res, rs[len(rs)/2])
	}
	return res, nil
}

// ownCost is one path of BenchmarkServeHTTP less its `baseline` (the same
// request, replacer, recorder and upstream with no handler): the handler's
// own cost, against issue 16's targets.
type ownCost struct {
	Path              string
	NsPerOp           float64
	Allocs            int
	TargetNs          float64
	TargetAllocs      int
	Measured, Harness microResult
}

func (o ownCost) met() bool { return o.NsPerOp <= o.TargetNs && o.Allocs <= o.TargetAllocs }

// handlerTargets are issue 16's: the handler's own cost in process, less
// the harness.
var handlerTargets = []struct {
	path   string
	ns     float64
	allocs int
}{
	{"read", 3000, 12},
	{"write", 6000, 25},
	{"no-cookie", 1500, 6},
}

// ownCosts subtracts BenchmarkServeHTTP/baseline from its other paths; nil
// when the run has no baseline.
func ownCosts(ms []microResult) []ownCost {
	find := func(name string) (microResult, bool) {
		for _, m := range ms {
			if m.Name == name {
				return m, true
			}
		}
		return microResult{}, false
	}
	base, ok := find("BenchmarkServeHTTP/baseline")
	if !ok {
		return nil
	}
	var out []ownCost
	for _, t := range handlerTargets {
		m, ok := find("BenchmarkServeHTTP/" + t.path)
		if !ok {
			continue
		}
		out = append(out, ownCost{Path: t.path, NsPerOp: m.NsPerOp - base.NsPerOp, Allocs: m.Allocs - base.Allocs,
			TargetNs: t.ns, TargetAllocs: t.allocs, Measured: m, Harness: base})
	}
	return out
}

// sealCost is one line of BenchmarkEncryption: a store's operation on a
// session of one size, plain and encrypted, in CPU time per op (the
// client's: where sealing happens).
type sealCost struct {
	Store, Op, Size  string
	Plain, Encrypted float64 // cpu-ns/op
}

func (c sealCost) Added() float64 { return c.Encrypted - c.Plain }

// verdict judges Added against sealTargetNs. Encryption cannot make an
// op cheaper: an encrypted op measured cheaper than the plain one means
// the difference is below the noise of the op's CPU time (a Redis op's
// client spends tens of µs in go-redis and the scheduler), and the target
// is not judged from it.
func (c sealCost) verdict() string {
	if c.Added() < 0 {
		return "not judged: within the op's noise"
	}
	return yesNo(c.Added() <= sealTargetNs)
}

// sealTargetNs is issue 18's: encryption adds at most 1 µs to a request
// (a Load or a Save) on a ~100 B session.
const sealTargetNs = 1000

// sealCosts pairs BenchmarkEncryption's Plain and Encrypted lines.
func sealCosts(ms []microResult) []sealCost {
	var out []sealCost
	for _, store := range []string{"memory", "redis"} {
		for _, op := range []string{"Load", "Save", "Incr"} {
			for _, size := range []string{"100B", "4KiB"} {
				c := sealCost{Store: store, Op: op, Size: size}
				prefix := store + " BenchmarkEncryption/" + op + "/" + size + "/"
				for _, m := range ms {
					switch m.Name {
					case prefix + "Plain":
						c.Plain = m.CPUNsPerOp
					case prefix + "Encrypted":
						c.Encrypted = m.CPUNsPerOp
					}
				}
				if c.Plain > 0 && c.Encrypted > 0 {
					out = append(out, c)
				}
			}
		}
	}
	return out
}
