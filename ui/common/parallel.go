package common

import (
	"runtime"
	"sync"
)

// parallelMin is the batch size from which per-twin work is split across cores.
const parallelMin = 4096

// Parallel calls fn on [lo, hi) ranges covering [0, n), on up to GOMAXPROCS goroutines
// when n is large and on the caller's goroutine otherwise. fn must only read shared state
// and write its own indexes.
func Parallel(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), 8)
	if n < parallelMin || workers < 2 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
