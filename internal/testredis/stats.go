package testredis

import (
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TotalReads is the read events the Redis behind c has processed (INFO
// stats total_reads_processed): one per command or pipeline a client
// sent, so the round trips clients made. Command counts would not do: the
// commands a script runs count as commands too. The INFO this sends counts
// as one read.
func TotalReads(t testing.TB, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(t.Context(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_reads_processed:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("INFO stats has no total_reads_processed")
	return 0
}
