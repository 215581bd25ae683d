//go:build unix && !aix && (!solaris || illumos)

package filestore_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

const (
	procs        = 2
	procWorkers  = 16
	procRounds   = 10
	helperEnvDir = "FILESTORE_HELPER_DIR"
)

// TestProcesses runs writers in separate processes (this test binary, run
// again as TestHelperProcess) on one session, so that only flock stands
// between them: every field each of them wrote must survive.
func TestProcesses(t *testing.T) {
	dir := privateDir(t)
	key := session.NewKey()
	if _, err := open(t, dir).Save(t.Context(), key, change(session.ModeCreate, session.Data{"base": []byte(`0`)}, time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range procs {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnvDir+"="+dir, "FILESTORE_HELPER_KEY="+key, "FILESTORE_HELPER_PROC="+strconv.Itoa(p))
		wg.Go(func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("helper process %d: %v\n%s", p, err, out)
			}
		})
	}
	wg.Wait()
	assertFields(t, open(t, dir), key, "base", procs*procWorkers, procRounds-1)
}

// TestHelperProcess is one writer process of TestProcesses.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnvDir)
	if dir == "" {
		t.Skip("only run by TestProcesses")
	}
	s := open(t, dir)
	key := os.Getenv("FILESTORE_HELPER_KEY")
	p, _ := strconv.Atoi(os.Getenv("FILESTORE_HELPER_PROC"))
	var wg sync.WaitGroup
	for i := range procWorkers {
		wg.Go(func() {
			name := fmt.Sprintf("f%02d", p*procWorkers+i)
			for r := range procRounds {
				set := session.Data{name: []byte(strconv.Itoa(r))}
				if _, err := s.Save(t.Context(), key, change(session.ModeUpdate, set, time.Now().Add(time.Hour))); err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
