package ui

import (
	"context"
	"runtime/debug"
	"testing"
	"time"

	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// The collector's target is raised from Init until the fleet is in (or cannot come),
// and left alone when the user set GOGC.
func TestStartupGC(t *testing.T) {
	tests := map[string]struct {
		gogc          string
		last          common.Status
		during, after int
	}{
		"synced restores":     {"", common.Status{State: common.StateSynced}, startupGOGC, 100},
		"failed restores":     {"", common.Status{State: "failed", LastError: "no hub"}, startupGOGC, 100},
		"GOGC set: untouched": {"150", common.Status{State: common.StateSynced}, 100, 100},
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			debug.SetGCPercent(100)
			dark := true
			m := New(Options{Backend: uitest.NewBackend(uitest.Now), Now: uitest.Now, Dark: &dark, Context: context.Background()})
			_ = m.Init()
			docs := uitest.Fleet(10)
			batches := loadingBatches(docs, 2, 3)
			m = update(t, m, batchMsg{batch: batches[0]})
			if got := gcPercent(); got != tc.during {
				t.Fatalf("while loading: GOGC %d, want %d", got, tc.during)
			}
			last := batches[1]
			last.Status = tc.last
			m = update(t, m, batchMsg{batch: last})
			if got := gcPercent(); got != tc.after {
				t.Fatalf("after %s: GOGC %d, want %d", tc.last.State, got, tc.after)
			}
		})
	}
}

// The raised target ends once: when the fleet is in, or a minute after Init at the
// latest, each time with the command that returns the start-up's garbage to the system.
func TestStartupGCEndsOnce(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	now := uitest.Clock
	tests := map[string]struct {
		done bool
		at   time.Time
	}{
		"fleet in":         {true, now.Add(time.Second)},
		"a minute, not in": {false, now.Add(startupGCFor + time.Second)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := &startGC{}
			g.raise(now)
			if g.end(false, now.Add(time.Second)) != nil {
				t.Fatal("ended while loading, within the minute")
			}
			if g.end(tc.done, tc.at) == nil {
				t.Fatal("did not end")
			}
			if got := gcPercent(); got != 100 {
				t.Fatalf("GOGC %d after the end, want 100", got)
			}
			if g.end(true, tc.at) != nil {
				t.Fatal("ended twice")
			}
		})
	}
}
