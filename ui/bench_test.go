package ui

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

var (
	fleetOnce sync.Once
	fleet100k []*twin.Doc
)

// bigFleet is built once per test binary: 100,000 twins take a few seconds to make.
func bigFleet() []*twin.Doc {
	fleetOnce.Do(func() { fleet100k = uitest.Fleet(100_000) })
	return fleet100k
}

func loaded(b *testing.B, w, h int) Model {
	docs := bigFleet()
	be := uitest.NewBackend(uitest.Now)
	dark := true
	m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark})
	m = step(m, tea.WindowSizeMsg{Width: w, Height: h})
	batch := common.Batch{Twins: make(map[string]*twin.Doc, len(docs)), Status: common.Status{State: common.StateSynced}}
	for _, d := range docs {
		batch.Twins[d.DeviceID] = d
	}
	return step(m, batchMsg{batch: batch})
}

// step runs one message through Update and drops the commands: benchmarks measure the
// model, not the runtime.
func step(m Model, msg tea.Msg) Model {
	next, _ := m.Update(msg)
	return next.(Model)
}

// BenchmarkFleetFrame renders one frame of the fleet view with 100,000 twins (goal < 2 ms).
func BenchmarkFleetFrame(b *testing.B) {
	for _, s := range sizes {
		b.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(b *testing.B) {
			m := loaded(b, s.w, s.h)
			m = step(m, keyMsg("G")) // scroll to the end: rendering must not depend on the position
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cpuTime()
			for b.Loop() {
				_ = m.Render()
			}
			reportCPU(b, c0)
		})
	}
}

// BenchmarkScroll moves the cursor one row and renders, with 100,000 twins.
func BenchmarkScroll(b *testing.B) {
	m := loaded(b, 160, 48)
	b.ResetTimer()
	c0 := cpuTime()
	defer reportCPU(b, c0)
	for i := 0; b.Loop(); i++ {
		k := "j"
		if i%2000 >= 1000 {
			k = "k"
		}
		m = step(m, keyMsg(k))
		_ = m.Render()
	}
}

// changeBatch makes a batch of n changed twins out of the big fleet (battery reported).
func changeBatch(docs []*twin.Doc, start, n int) common.Batch {
	b := common.Batch{Twins: make(map[string]*twin.Doc, n), Events: make([]common.Event, 0, n)}
	for i := range n {
		d := docs[(start+i*7919)%len(docs)]
		c := *d // shallow copy: a new snapshot with a new version, same trees
		c.Version++
		c.LastActivityTime = uitest.Clock
		b.Twins[c.DeviceID] = &c
		b.Events = append(b.Events, common.Event{Time: uitest.Clock, DeviceID: c.DeviceID, Kind: "reported", Version: c.Version,
			Patch: map[string]any{"battery": float64(i % 100)}})
	}
	return b
}

// BenchmarkLiveBatch applies one frame's worth of changes at 50,000 changes/s
// (60 frames/s: 834 twins per batch) to a 100,000-twin console and renders the frame.
// It must stay well under 16 ms for the screen to keep up.
func BenchmarkLiveBatch(b *testing.B) {
	for _, sortBy := range []string{"device", "sync"} {
		b.Run("sort="+sortBy, func(b *testing.B) {
			m := loaded(b, 160, 48)
			if sortBy == "sync" {
				m = step(step(step(m, keyMsg(">")), keyMsg(">")), keyMsg(">"))
			}
			docs := bigFleet()
			batches := make([]common.Batch, 16)
			for i := range batches {
				batches[i] = changeBatch(docs, i*834, 834)
			}
			b.ResetTimer()
			c0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				m = step(m, batchMsg{batch: batches[i%len(batches)]})
				_ = m.Render()
			}
			reportCPU(b, c0)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/834, "ns/change")
		})
	}
}

// BenchmarkStartup is start-up to a full first frame with 100,000 twins: the model is
// created, the first batch (every twin) applied, and the frame rendered (goal < 2 s).
func BenchmarkStartup(b *testing.B) {
	docs := bigFleet()
	startupBatches(b, docs, len(docs))
}

// BenchmarkMemory reports the heap held by a console with 100,000 twins (goal < 500 MB),
// twins included, and what the console adds on top of the twins. "patched" twins are
// built by Patch (uitest.Fleet); "decoded" are the same twins read back from their JSON by
// a twin.Decoder, as twinclient's Fleet gets them from the hub (the console's real path).
func BenchmarkMemory(b *testing.B) {
	for _, name := range []string{"patched", "decoded"} {
		b.Run(name, func(b *testing.B) { memory(b, name == "decoded") })
	}
}

func memory(b *testing.B, decoded bool) {
	for b.Loop() {
		var src [][]byte
		if decoded {
			for _, d := range uitest.Fleet(100_000) {
				src = append(src, d.AppendJSON(nil))
			}
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var docs []*twin.Doc
		if decoded {
			dec := twin.Decoder{ShareValues: true} // as twinclient's Fleet lists
			docs = make([]*twin.Doc, len(src))
			for i, raw := range src {
				docs[i] = new(twin.Doc)
				if err := dec.Decode(raw, docs[i]); err != nil {
					b.Fatal(err)
				}
			}
		} else {
			docs = uitest.Fleet(100_000)
		}
		runtime.GC()
		var mid runtime.MemStats
		runtime.ReadMemStats(&mid)
		be := uitest.NewBackend(uitest.Now)
		dark := true
		m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark})
		batch := common.Batch{Twins: make(map[string]*twin.Doc, len(docs))}
		for _, d := range docs {
			batch.Twins[d.DeviceID] = d
		}
		m = step(m, batchMsg{batch: batch})
		batch = common.Batch{}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/1e6, "MB-total")
		b.ReportMetric(float64(after.HeapInuse-mid.HeapInuse)/1e6, "MB-console")
		b.ReportMetric(float64(mid.HeapInuse-before.HeapInuse)/float64(len(docs)), "B/twin")
		runtime.KeepAlive(m)
		runtime.KeepAlive(docs)
		runtime.KeepAlive(src)
	}
}

// BenchmarkSustained drives the root model the way the runtime does (one batch per
// Next, then a frame) while a producer makes 50,000 reported changes per second on a
// 100,000-twin fleet, for two seconds, and reports how far behind the screen was at worst:
// the age of the oldest change in a batch when its frame was rendered.
func BenchmarkSustained(b *testing.B) {
	for _, rate := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { sustained(b, rate) })
	}
}

func sustained(b *testing.B, rate int) {
	for b.Loop() {
		docs := bigFleet()
		live := uitest.NewLive(time.Now, docs...)
		dark := true
		m := New(Options{Backend: live, Now: time.Now, Dark: &dark})
		m = step(m, tea.WindowSizeMsg{Width: 160, Height: 48})
		ids := make([]string, len(docs))
		for i, d := range docs {
			ids[i] = d.DeviceID
		}
		first, _ := live.Next(context.Background())
		m = step(m, batchMsg{batch: first})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c0 := cpuTime()
		go live.ChurnFast(ctx, rate, ids)
		var lags []time.Duration
		frames := 0
		for ctx.Err() == nil {
			batch, err := live.Next(ctx)
			if err != nil {
				break
			}
			m = step(m, batchMsg{batch: batch})
			_ = m.Render()
			if !live.LastOldest.IsZero() {
				lags = append(lags, time.Since(live.LastOldest))
			}
			frames++
		}
		cancel()
		live.Lock()
		changes := live.Produced
		live.Unlock()
		slices.Sort(lags)
		if len(lags) > 0 {
			b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "ms-p50-lag")
			b.ReportMetric(float64(lags[len(lags)*99/100].Milliseconds()), "ms-p99-lag")
			b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "ms-max-lag")
		}
		b.ReportMetric(float64(changes)/2, "changes/s")
		b.ReportMetric(float64((cpuTime()-c0).Milliseconds())/2, "cpu-ms/s")
		// Every produced change is absorbed: the inbox keeps the latest state per device.
		b.ReportMetric(float64(frames)/2, "frames/s")
	}
}
