package bench

import (
	"sync"
	"time"

	"tether/internal/testenv"
)

// restartDelay is the supervisor's pause before a restart, systemd's
// RestartSec=1 in packaging/ and the 1 s of buildroot's S90tetherd loop.
const restartDelay = time.Second

// supervisor keeps tetherd running as init does: when the process ends
// for any reason but stop, it is started again after restartDelay on the
// same state file, without a login (the stored session must resume).
type supervisor struct {
	t   *tb
	cfg testenv.TetherdConfig

	mu       sync.Mutex
	cur      *testenv.Tetherd
	stopped  bool
	restarts int
}

func startSupervised(t *tb, cfg testenv.TetherdConfig) *supervisor {
	s := &supervisor{t: t, cfg: cfg}
	s.cur = testenv.StartTetherd(t, cfg)
	s.cfg.User = "" // restarts use the stored session
	t.Cleanup(s.stop)
	go s.watch(s.cur)
	return s
}

func (s *supervisor) current() *testenv.Tetherd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *supervisor) restartCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

func (s *supervisor) watch(d *testenv.Tetherd) {
	<-d.Done()
	for {
		time.Sleep(restartDelay)
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		var next *testenv.Tetherd
		err := step(func() { next = testenv.StartTetherd(s.t, s.cfg) })
		if err == nil {
			s.cur = next
			s.restarts++
			// stop must run before the new process's own cleanup (SIGTERM),
			// or this loop would start another one while closing.
			s.t.Cleanup(s.stop)
		}
		s.mu.Unlock()
		if err == nil {
			go s.watch(next)
			return
		}
		s.t.printf("supervisor: restart failed: %v\n", err)
	}
}

// stop ends supervision and the running tetherd (SIGTERM).
func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopped = true
	cur := s.cur
	s.mu.Unlock()
	cur.Stop()
}
