package testenv

import (
	"os"
	"runtime"
)

// Resources counts goroutines, open file descriptors (-1 off Linux) and
// the live heap after two collections: the figures a leak test compares
// before and after a long run (issue 15's 1000 customer changes).
func Resources() (goroutines, fds int, heap uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds = -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents)
	}
	return runtime.NumGoroutine(), fds, ms.HeapAlloc
}
