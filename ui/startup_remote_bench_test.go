package ui

import (
	"context"
	"os"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twinclient"
	"github.com/twinops/twinops/ui/common"
)

// fleetBackend adapts a twinclient.Fleet to the console's back end the way
// cmd/twinops does (only Next is used here).
type fleetBackend struct{ f *twinclient.Fleet }

func (b fleetBackend) Next(ctx context.Context) (common.Batch, error) {
	tb, err := b.f.Next(ctx)
	if err != nil {
		return common.Batch{}, err
	}
	out := common.Batch{Twins: tb.Twins, Events: make([]common.Event, len(tb.Events))}
	for i, e := range tb.Events {
		out.Events[i] = common.Event{Time: e.Time, DeviceID: e.DeviceID, Kind: e.Kind, Version: e.Version, Op: e.Op, Patch: e.Patch}
	}
	out.Status = common.Status{State: tb.Status.State.String(), LastError: tb.Status.LastError, ErrorTime: tb.Status.LastErrorTime}
	return out, nil
}

func (b fleetBackend) GetTwin(context.Context, string) (*twin.Doc, error) { return nil, nil }

func (b fleetBackend) PatchTwin(context.Context, string, common.Patch, string) (*twin.Doc, error) {
	return nil, nil
}

func (b fleetBackend) Info() common.HubInfo { return common.HubInfo{Name: "bench"} }

// BenchmarkStartupRemote is the console's start-up against a hub in another process, as
// the real binary runs it but without the terminal: dial, list the fleet through
// twinclient, apply each batch as it comes (one per frame interval), render, until the
// frame shows every device synced. Set TWINOPS_BENCH_HUB (URL) and TWINOPS_BENCH_CS (a
// connection string with serviceConnect) to a hub filled by
// twinclient's BenchmarkFleetInitialLoadRemote.
func BenchmarkStartupRemote(b *testing.B) {
	url, cs := os.Getenv("TWINOPS_BENCH_HUB"), os.Getenv("TWINOPS_BENCH_CS")
	if url == "" || cs == "" {
		b.Skip("no external hub: set TWINOPS_BENCH_HUB and TWINOPS_BENCH_CS")
	}
	ctx := context.Background()
	c0 := cpuTime()
	var devices int
	var first, tail time.Duration
	for b.Loop() {
		start := time.Now()
		seen := false
		svc, err := twinclient.DialService(ctx, twinclient.ServiceOptions{URL: url, ConnectionString: cs})
		if err != nil {
			b.Fatal(err)
		}
		fctx, cancel := context.WithCancel(ctx)
		be := fleetBackend{svc.Fleet(fctx)}
		dark := true
		m := New(Options{Backend: be, Now: time.Now, Dark: &dark, Context: fctx})
		_ = m.Init() // as the runtime does (gc.go); its commands are not run
		m = step(m, tea.WindowSizeMsg{Width: 160, Height: 48})
		for {
			msg := waitForBatch(fctx, be, m.opts.FrameInterval-time.Since(m.frameAt))()
			m = step(m, msg)
			_ = m.Render()
			st := m.c.Store
			if !seen && st.Len() > 0 {
				seen, first = true, first+time.Since(start)
			}
			if st.Synced && st.Status.State == common.StateSynced {
				devices = st.Len()
				tail += time.Since(be.f.Status().SyncedAt)
				break
			}
		}
		cancel()
		svc.Close()
	}
	b.ReportMetric(float64(devices), "devices")
	b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "first-rows-ms")
	b.ReportMetric(float64(tail.Milliseconds())/float64(b.N), "listed-to-frame-ms")
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
}
