package main

import (
	"context"
	"runtime/debug"
	"testing"
)

func TestGCPercentFor(t *testing.T) {
	tests := map[string]struct {
		live uint64
		want int
	}{
		"no collection yet":       {0, gcMaxPercent},
		"small hub: the maximum":  {50 << 20, gcMaxPercent},
		"at the maximum's edge":   {gcHeadroom / 3, gcMaxPercent},
		"medium: headroom-bound":  {256 << 20, 200},
		"large: near the default": {4 << 30, 106},
		"huge: the default":       {1 << 40, gcMinPercent},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := gcPercentFor(tc.live)
			if got != tc.want {
				t.Fatalf("gcPercentFor(%d MB) = %d, want %d", tc.live>>20, got, tc.want)
			}
			if extra := tc.live * uint64(got-gcMinPercent) / 100; extra > gcHeadroom {
				t.Errorf("extra heap %d MB over the default exceeds the %d MB headroom", extra>>20, gcHeadroom>>20)
			}
		})
	}
}

// TestTuneGCLeavesGOGC: with GOGC in the environment the operator's setting stands.
func TestTuneGCLeavesGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	before := debug.SetGCPercent(150)
	defer debug.SetGCPercent(before)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tuneGC(ctx)
	if got := debug.SetGCPercent(150); got != 150 {
		t.Fatalf("GC percent %d after tuneGC with GOGC=150 set, want 150 untouched", got)
	}
}
