package main

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// The relay counts what docs/capacity.md calls round trips: one per wait
// for the server, however many commands a write carries.
func TestTurnRelayCountsRoundTrips(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() { // answers "ok" to every line
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := c.Write([]byte("ok\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	relay, err := startTurnRelay(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	c, err := net.Dial("tcp", relay.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	exchange := func(send string, replies int) {
		t.Helper()
		if _, err := c.Write([]byte(send)); err != nil {
			t.Fatal(err)
		}
		for range replies {
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
	}
	exchange("a\n", 1)
	exchange("b\n", 1)
	if got := relay.turns.Load(); got != 2 {
		t.Fatalf("two commands, each awaited: %d round trips, want 2", got)
	}
	exchange("c\nd\ne\n", 3) // a pipeline: one write, one wait
	if got := relay.turns.Load(); got != 3 {
		t.Fatalf("then a pipeline of three: %d round trips in all, want 3", got)
	}
}

func TestCPUSince(t *testing.T) {
	before := map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: time.Second}
	// 1 used 0.5 s more, 2 ended (lost), 4 started and used 0.25 s.
	after := map[int]time.Duration{1: 1500 * time.Millisecond, 3: time.Second, 4: 250 * time.Millisecond}
	if got := cpuSince(before, after); got != 750*time.Millisecond {
		t.Errorf("cpuSince = %s, want 750ms", got)
	}
}
