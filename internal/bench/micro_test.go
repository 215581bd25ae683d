package main

import "testing"

// The encryption lines carry a cpu-ns/op metric between ns/op and B/op:
// the report's encryption costs come from it, so a line the pattern
// missed would drop the section (and a plain line would lose its
// allocations).
func TestBenchLinePattern(t *testing.T) {
	for _, tc := range []struct {
		line      string
		name, cpu string
		allocs    string
	}{
		{"BenchmarkEncryption/Load/100B/Encrypted-2     	  359454	      2802 ns/op	      1340 cpu-ns/op	     592 B/op	       8 allocs/op", "BenchmarkEncryption/Load/100B/Encrypted", "1340", "8"},
		{"BenchmarkSign100-2   	 1000000	      1200 ns/op	     512 B/op	       3 allocs/op", "BenchmarkSign100", "", "3"},
	} {
		m := reBench.FindStringSubmatch(tc.line)
		if m == nil {
			t.Fatalf("%q: no match", tc.line)
		}
		if m[1] != tc.name || m[3] != tc.cpu || m[5] != tc.allocs {
			t.Errorf("%q: name %q cpu %q allocs %q, want %q %q %q", tc.line, m[1], m[3], m[5], tc.name, tc.cpu, tc.allocs)
		}
	}
}

func TestSealCosts(t *testing.T) {
	ms := []microResult{
		{Name: "memory BenchmarkEncryption/Load/100B/Plain", CPUNsPerOp: 500},
		{Name: "memory BenchmarkEncryption/Load/100B/Encrypted", CPUNsPerOp: 900},
		{Name: "redis BenchmarkEncryption/Save/4KiB/Plain", CPUNsPerOp: 20000},
		{Name: "redis BenchmarkEncryption/Save/4KiB/Encrypted", CPUNsPerOp: 31000},
		{Name: "redis BenchmarkEncryption/Load/100B/Plain", CPUNsPerOp: 15000}, // no pair: left out
	}
	got := sealCosts(ms)
	if len(got) != 2 {
		t.Fatalf("sealCosts = %+v, want the 2 paired lines", got)
	}
	if got[0].Store != "memory" || got[0].Op != "Load" || got[0].Added() != 400 {
		t.Errorf("first = %+v (added %v), want memory Load +400", got[0], got[0].Added())
	}
	if got[1].Store != "redis" || got[1].Size != "4KiB" || got[1].Added() != 11000 {
		t.Errorf("second = %+v (added %v), want redis Save 4KiB +11000", got[1], got[1].Added())
	}
}

// An encrypted op measured cheaper than the plain one is noise, not a
// target met.
func TestSealCostVerdict(t *testing.T) {
	if v := (sealCost{Plain: 55000, Encrypted: 53500}).verdict(); v == yesNo(true) {
		t.Errorf("a negative difference was judged %q", v)
	}
	if v := (sealCost{Plain: 600, Encrypted: 1100}).verdict(); v != yesNo(true) {
		t.Errorf("+500 ns judged %q, want met", v)
	}
	if v := (sealCost{Plain: 1300, Encrypted: 3700}).verdict(); v != yesNo(false) {
		t.Errorf("+2.4 µs judged %q, want not met", v)
	}
}
