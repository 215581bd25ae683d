package main

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestCapacityFormulas(t *testing.T) {
	// 100,000 req/s at 200 µs each is 20 cores busy, 33.3 at 60%.
	if got := cores(100000, 200, 0.6); !near(got, 20/0.6) {
		t.Errorf("cores = %v, want %v", got, 20/0.6)
	}
	if got := memoryBytes(1e6, 300, 1.5); !near(got, 450e6) {
		t.Errorf("memoryBytes = %v, want 4.5e8", got)
	}
	if got := mixUS(100, 300, 0.1); !near(got, 120) {
		t.Errorf("mixUS = %v, want 120", got)
	}
	for _, tc := range []struct {
		in   float64
		want int
	}{{0, 1}, {0.2, 1}, {1, 1}, {1.0000001, 2}, {2.5, 3}} {
		if got := atLeast1(tc.in); got != tc.want {
			t.Errorf("atLeast1(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCapacityPlan(t *testing.T) {
	a := capAssumptions{ReqPerUser: 0.1, WriteShare: 0.1, StoredPerActive: 2,
		CaddyUtil: 0.5, RedisUtil: 0.5, PGUtil: 0.5, MemOverhead: 2, RedisNodeBytes: 1e9, PGMaxCores: 8}
	redis := capStoreCost{Store: "redis", CaddyRead: 200, CaddyWrite: 400, ServerRead: 10, ServerWrite: 30, BytesPerSession: 500, Redis: true}
	// 10 M users: 1 M req/s; Caddy 220 µs average → 220 cores busy, 440 at
	// 50%; Redis 12 µs average → 12 cores' worth of one thread, 24 nodes at
	// 50%; 20 M sessions × 500 B × 2 = 20 GB, 20 nodes of 1 GB.
	p := planFor(a, redis, 10e6)
	if !near(p.Rate, 1e6) || !near(p.CaddyCores, 440) || !near(p.ServerCores, 24) {
		t.Errorf("rate %v, Caddy cores %v, Redis cores %v; want 1e6, 440, 24", p.Rate, p.CaddyCores, p.ServerCores)
	}
	if p.RedisCPUNodes != 24 || p.RedisMemNodes != 20 || p.RedisNodes != 24 {
		t.Errorf("Redis nodes: CPU %d, memory %d, all %d; want 24, 20, 24", p.RedisCPUNodes, p.RedisMemNodes, p.RedisNodes)
	}
	// Memory can be the bound: bigger sessions, same CPU.
	redis.BytesPerSession = 5000
	if p := planFor(a, redis, 10e6); p.RedisNodes != 200 || p.RedisMemNodes != 200 {
		t.Errorf("5000-byte sessions: %d nodes (memory %d), want 200", p.RedisNodes, p.RedisMemNodes)
	}
	pg := capStoreCost{Store: "postgres", CaddyRead: 200, CaddyWrite: 400, ServerRead: 30, ServerWrite: 90, BytesPerSession: 400, Postgres: true}
	// 10 k users: 1000 req/s × 36 µs = 0.036 cores, 0.072 at 50%.
	if p := planFor(a, pg, 10e3); !near(p.ServerCores, 0.072) || p.PGOverOneMachine || p.RedisNodes != 0 {
		t.Errorf("PostgreSQL at 10 k users: %v cores, over one machine %v, Redis nodes %d", p.ServerCores, p.PGOverOneMachine, p.RedisNodes)
	}
	// 1 M users: 100 k req/s × 36 µs / 0.5 = 7.2 cores: one machine; 10 M: 72, not.
	if p := planFor(a, pg, 1e6); p.PGOverOneMachine {
		t.Errorf("PostgreSQL at 1 M users: %v cores over one machine of 8", p.ServerCores)
	}
	if p := planFor(a, pg, 10e6); !p.PGOverOneMachine {
		t.Errorf("PostgreSQL at 10 M users: %v cores within one machine of 8", p.ServerCores)
	}
}
