package ui

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twinclient"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
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

var (
	decodedOnce sync.Once
	decoded100k []*twin.Doc
)

// decodedFleet is bigFleet read back from its JSON by a sharing twin.Decoder, as
// twinclient's Fleet lists it (equal tags maps and small objects are shared).
func decodedFleet(b *testing.B) []*twin.Doc {
	decodedOnce.Do(func() {
		dec := twin.Decoder{ShareValues: true}
		for _, d := range bigFleet() {
			nd := new(twin.Doc)
			if err := dec.Decode(d.AppendJSON(nil), nd); err != nil {
				b.Fatal(err)
			}
			decoded100k = append(decoded100k, nd)
		}
	})
	return decoded100k
}

// BenchmarkStartupPages is the console's own work on a first listing of 100,000 twins
// decoded as twinclient's Fleet gets them, applied and drawn batch by batch: "pages" as
// twinclient now hands it out (one batch per page of 1,000 in id order, syncing, the
// last one synced), "whole" as one batch (how it came before; BenchmarkStartup is that
// with twins built by Patch).
func BenchmarkStartupPages(b *testing.B) {
	docs := decodedFleet(b)
	for _, size := range []int{1000, len(docs)} {
		name := "pages"
		if size == len(docs) {
			name = "whole"
		}
		b.Run(name, func(b *testing.B) { startupBatches(b, docs, size) })
	}
}

func startupBatches(b *testing.B, docs []*twin.Doc, size int) {
	var batches []common.Batch
	for lo := 0; lo < len(docs); lo += size {
		bt := common.Batch{Twins: map[string]*twin.Doc{}, Status: common.Status{State: common.StateSyncing, Expected: len(docs)}}
		for _, d := range docs[lo:min(lo+size, len(docs))] {
			bt.Twins[d.DeviceID] = d
		}
		batches = append(batches, bt)
	}
	batches[len(batches)-1].Status = common.Status{State: common.StateSynced}
	b.ResetTimer()
	c0 := cpuTime()
	defer reportCPU(b, c0)
	for b.Loop() {
		dark := true
		m := New(Options{Backend: uitest.NewBackend(uitest.Now), Now: uitest.Now, Dark: &dark})
		m = step(m, tea.WindowSizeMsg{Width: 160, Height: 48})
		for _, bt := range batches {
			m = step(m, batchMsg{batch: bt})
			_ = m.Render()
		}
		if !m.c.Store.Synced || m.c.Store.Len() != len(docs) {
			b.Fatalf("not loaded: %d devices, synced %v", m.c.Store.Len(), m.c.Store.Synced)
		}
	}
}
