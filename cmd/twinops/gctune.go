package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The `twinops hub` process collects garbage less often while its live heap is small.
// Under a reported storm the hub allocates about 2 KB per patch (the patch as a map,
// mochi's packet buffer, the answer), 100 MB/s at 50,000 patches/s, and at the default
// target (GOGC 100) a hub serving 1,000 devices marks its ~50 MB heap several times a
// second. Each cycle takes CPU from the connection and commit goroutines, and the desired
// notifications queued behind them wait the longer (docs/benchmarks/hub.md: p99 10–15 ms
// at 400 against 17–19 at 100, and 71,500 instead of 55–67k patches/s at the peak). The target rises to at most gcMaxPercent, bounded so that the extra
// heap stays under gcHeadroom: a hub with a large fleet, whose live heap is already
// hundreds of MB, keeps the default. GOGC or GOMEMLIMIT in the environment leave the
// collector as the operator set it. This is process policy, so it lives here and not in
// package hub, which the console also embeds.

const (
	gcMinPercent = 100       // the runtime's default
	gcMaxPercent = 400       // as high as the target goes
	gcHeadroom   = 256 << 20 // extra heap, over the default's, the raised target may cost
	gcTuneEvery  = 2 * time.Second
)

// gcPercentFor returns the collector target for a live heap of live bytes: the highest
// percentage, up to gcMaxPercent, whose extra heap over the default's stays within
// gcHeadroom.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	extra := gcHeadroom * 100 / live // percentage points gcHeadroom buys at this heap
	return int(min(uint64(gcMaxPercent), uint64(gcMinPercent)+extra))
}

// tuneGC adjusts the collector target to the live heap every gcTuneEvery until ctx ends,
// then restores the target it found. It does nothing when GOGC or GOMEMLIMIT is set.
func tuneGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	prev := debug.SetGCPercent(gcMinPercent)
	last := gcMinPercent
	go func() {
		defer debug.SetGCPercent(prev)
		tick := time.NewTicker(gcTuneEvery)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				if p := gcPercentFor(sample[0].Value.Uint64()); p != last {
					debug.SetGCPercent(p)
					last = p
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}
