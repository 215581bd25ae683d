//go:build race

package caddymodule

// raceEnabled: the race detector changes what allocates.
const raceEnabled = true
