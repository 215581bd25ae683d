package main

// The cost model of docs/capacity.md: pure arithmetic on the measured
// figures, kept apart from the measuring so that it is tested alone.

import "math"

// capAssumptions are the worked examples' inputs; docs/capacity.md states
// each one beside the tables it makes.
type capAssumptions struct {
	ReqPerUser      float64 // requests per active user per second, at peak
	WriteShare      float64 // share of requests that change the session
	StoredPerActive float64 // stored (unexpired) sessions per active user
	CaddyUtil       float64 // the Caddy CPU share planned for, of each core
	RedisUtil       float64 // the share of its one thread a Redis node may use
	PGUtil          float64 // the PostgreSQL CPU share planned for
	MemOverhead     float64 // store memory beyond the data: fragmentation, fork, buffers
	RedisNodeBytes  float64 // session data one Redis node is given at most
	PGMaxCores      float64 // the largest PostgreSQL server planned for
}

var defaultAssumptions = capAssumptions{
	ReqPerUser:      0.1,
	WriteShare:      0.1,
	StoredPerActive: 2,
	CaddyUtil:       0.6,
	RedisUtil:       0.5,
	PGUtil:          0.6,
	MemOverhead:     1.5,
	RedisNodeBytes:  25 << 30,
	PGMaxCores:      32,
}

// cores is how many cores rate requests per second need at usPerReq
// microseconds of CPU each, run at util of each core.
func cores(rate, usPerReq, util float64) float64 {
	return rate * usPerReq / 1e6 / util
}

// memoryBytes is what sessions stored sessions of bytesPer each take, with
// overhead (1.5: half as much again) for what the store needs beside them.
func memoryBytes(sessions, bytesPer, overhead float64) float64 {
	return sessions * bytesPer * overhead
}

// mixUS is the CPU of an average request when writeShare of them write.
func mixUS(readUS, writeUS, writeShare float64) float64 {
	return (1-writeShare)*readUS + writeShare*writeUS
}

// atLeast1 is n rounded up to whole units, at least one.
func atLeast1(n float64) int {
	return max(1, int(math.Ceil(n-1e-9)))
}

// capStoreCost is one store's measured cost per request and per session,
// as the model takes it.
type capStoreCost struct {
	Store                   string
	CaddyRead, CaddyWrite   float64 // µs of Caddy CPU per request
	ServerRead, ServerWrite float64 // µs of the store server's CPU per request; 0 in process
	BytesPerSession         float64
	Redis, Postgres         bool
}

// capPlan is what one store needs for one number of active users.
type capPlan struct {
	Users, Rate      float64
	Store            string
	CaddyCores       float64 // Caddy CPU at CaddyUtil
	ServerCores      float64 // store server CPU at its planned utilisation
	Sessions         float64 // stored sessions
	StoreBytes       float64 // data × MemOverhead
	RedisNodes       int     // primaries (Redis): max of the CPU and memory bound
	RedisCPUNodes    int
	RedisMemNodes    int
	PGOverOneMachine bool // more cores than PGMaxCores
}

func planFor(a capAssumptions, c capStoreCost, users float64) capPlan {
	p := capPlan{Users: users, Rate: users * a.ReqPerUser, Store: c.Store}
	p.CaddyCores = cores(p.Rate, mixUS(c.CaddyRead, c.CaddyWrite, a.WriteShare), a.CaddyUtil)
	p.Sessions = users * a.StoredPerActive
	p.StoreBytes = memoryBytes(p.Sessions, c.BytesPerSession, a.MemOverhead)
	server := mixUS(c.ServerRead, c.ServerWrite, a.WriteShare)
	switch {
	case c.Redis:
		// One thread serves a node's commands: a node gives RedisUtil of
		// one core, however many the machine has.
		p.ServerCores = cores(p.Rate, server, a.RedisUtil)
		p.RedisCPUNodes = atLeast1(p.ServerCores)
		p.RedisMemNodes = atLeast1(p.StoreBytes / a.RedisNodeBytes)
		p.RedisNodes = max(p.RedisCPUNodes, p.RedisMemNodes)
	case c.Postgres:
		p.ServerCores = cores(p.Rate, server, a.PGUtil)
		p.PGOverOneMachine = p.ServerCores > a.PGMaxCores
	}
	return p
}
