package twinclient

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/twin"
)

var (
	benchTwins   = flag.Int("fleet.twins", 100000, "twins for BenchmarkFleetInitialLoad")
	benchDevices = flag.Int("fleet.devices", 1000, "connected devices for BenchmarkDesiredRoundTrip")
	benchRate    = flag.Float64("fleet.rate", 0, "BenchmarkDesiredRoundTrip: round trips started per second (0: as fast as 16 in flight allow)")
	benchProfile = flag.String("fleet.cpuprofile", "", "write a CPU profile of BenchmarkFleetInitialLoad's timed part here")
)

// populate creates n devices with tags and desired properties through the hub's Go API.
func populate(tb testing.TB, h *hub.Hub, n int) {
	tb.Helper()
	if err := populateHub(h, n); err != nil {
		tb.Fatal(err)
	}
}

// populateHub is populate for code without a testing.TB (the round-trip benchmark's
// hub process).
func populateHub(h *hub.Hub, n int) error {
	ctx := context.Background()
	return inParallel(n, 64, func(i int) error {
		id := fmt.Sprintf("dev-%06d", i)
		if _, err := h.CreateDevice(ctx, hub.Identity{DeviceID: id}); err != nil {
			return err
		}
		_, err := h.PatchTwin(ctx, id, hub.TwinPatch{HasTags: true, HasDesired: true, Tags: benchTags(i), Desired: benchDesired()}, "")
		return err
	})
}

// benchTags and benchDesired are what populate gives twin i.
func benchTags(i int) map[string]any {
	return map[string]any{"region": []string{"eu", "us", "ap"}[i%3], "ring": fmt.Sprint(i % 5), "model": "pump-x2"}
}

func benchDesired() map[string]any {
	return map[string]any{"firmware": map[string]any{"version": "2.1.0", "url": "https://example.com/fw/2.1.0.bin"},
		"telemetryConfig": map[string]any{"sendFrequency": "5m"}}
}

// inParallel calls fn(i) for every i in [0, n) on workers goroutines. A worker stops at
// its first error; the first error is returned once all have stopped.
func inParallel(n, workers int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// waitSynced consumes batches until the cache is synced with n twins.
func waitSynced(tb testing.TB, ctx context.Context, f *Fleet, n int) {
	tb.Helper()
	for {
		b, err := f.Next(ctx)
		if err != nil {
			tb.Fatalf("fleet not synced: %v (status %+v)", err, f.Status())
		}
		if b.Status.State == Synced && b.Status.Devices == n {
			return
		}
	}
}

// BenchmarkFleetInitialLoad: a new service client lists a hub of -fleet.twins twins into
// its cache (subscribe, hub.info, paged SELECT *, decode). Goal: under 2 s for 100,000.
func BenchmarkFleetInitialLoad(b *testing.B) {
	sh := startSvcHub(b)
	start := time.Now()
	populate(b, sh.h, *benchTwins)
	b.Logf("populated %d twins in %v", *benchTwins, time.Since(start))
	ctx := context.Background()
	if *benchProfile != "" {
		pf, err := os.Create(*benchProfile)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.StartCPUProfile(pf)
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	c0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		s := sh.dial(b, "service")
		f := s.Fleet(ctx)
		waitSynced(b, ctx, f, *benchTwins)
		s.Close()
	}
	b.ReportMetric(float64(*benchTwins), "twins")
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
}

// syntheticFleet is a cache with n twins and no connection, fed by apply directly.
func syntheticFleet(n int) (*Fleet, *watch, []string) {
	s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f := newFleet(context.Background(), s)
	ids := make([]string, n)
	now := time.Now()
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%06d", i)
		d := twin.New(ids[i], now)
		d.Reported.Values["battery"] = 50.0
		f.docs[ids[i]] = &entry{doc: d}
	}
	return f, &watch{last: map[string]int64{}}, ids
}

// BenchmarkFleetApply: the cache's own cost per event (decode the hub's event JSON, check
// the stream position, ApplyChange with copy-on-write, queue for the consumer), with a
// consumer taking a batch every 1,000 events as a UI frame would. Goal: ≥ 50,000 events/s.
func BenchmarkFleetApply(b *testing.B) {
	const twins, batch = 10000, 1000
	f, w, ids := syntheticFleet(twins)
	versions := make([]int64, twins)
	for i := range versions {
		versions[i] = 1
	}
	now := time.Now()
	seq := int64(0)
	q := make([]rawEvent, 0, batch)
	mk := func(i int) rawEvent {
		k := i % twins
		versions[k]++
		seq++
		c := twin.Change{DeviceID: ids[k], Version: versions[k], Section: twin.Reported, Op: twin.OpPatch,
			Patch: map[string]any{"battery": float64(i % 100), "status": "ok"}, Time: now}
		body := append([]byte(`{"seq":`), strconv.FormatInt(seq, 10)...)
		body = append(body, ',')
		mark := len(body)
		body = c.AppendJSON(body)
		body = append(body[:mark], body[mark+1:]...)
		return rawEvent{topic: "twin/" + ids[k], payload: body}
	}
	var cpu time.Duration
	b.ResetTimer()
	b.ReportAllocs()
	for i := 0; i < b.N; i += batch {
		b.StopTimer() // building the hub's JSON is the hub's cost, not the cache's
		q = q[:0]
		for j := i; j < min(i+batch, b.N); j++ {
			q = append(q, mk(j))
		}
		c0 := cpuTime()
		b.StartTimer()
		if err := f.apply(q, w); err != nil {
			b.Fatal(err)
		}
		f.mu.Lock()
		f.batchLocked()
		f.mu.Unlock()
		b.StopTimer()
		cpu += cpuTime() - c0
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkFleetEventsEndToEnd: desired patches made through the hub's Go API by 64
// writers, delivered as events over MQTT to a synced cache. The rate is bounded by the
// hub's durable writes; the cache must end exact with no resync.
func BenchmarkFleetEventsEndToEnd(b *testing.B) {
	const twins = 1000
	sh := startSvcHub(b)
	populate(b, sh.h, twins)
	ctx := context.Background()
	s := sh.dial(b, "service")
	f := s.Fleet(ctx)
	waitSynced(b, ctx, f, twins)
	var applied atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			bt, err := f.Next(ctx)
			if err != nil {
				return
			}
			if applied.Add(int64(len(bt.Events))) >= int64(b.N) {
				return
			}
		}
	}()
	b.ResetTimer()
	err := inParallel(b.N, 64, func(i int) error {
		id := fmt.Sprintf("dev-%06d", i%twins)
		_, err := sh.h.PatchTwin(ctx, id, hub.TwinPatch{HasDesired: true, Desired: map[string]any{"n": float64(i)}}, "")
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatalf("cache applied %d of %d events; status %+v", applied.Load(), b.N, f.Status())
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(f.Status().Resyncs), "resyncs")
}

// BenchmarkDesiredRoundTrip: -fleet.devices devices connected (twinclient.Device) echo
// each desired change as a reported property; one op is a service PatchTwin of desired
// until the echo reaches the service's fleet cache. Everything (hub, devices, cache) is in
// this one process; BenchmarkDesiredRoundTripApart puts each in its own. Up to 16 round
// trips are kept in flight; with -fleet.rate R they start at R per second (paced, as the
// load tool's desired scenario does), otherwise as fast as the 16 allow. Goal: p99 under
// 20 ms with 1,000 devices.
func BenchmarkDesiredRoundTrip(b *testing.B) {
	n := *benchDevices
	sh := startSvcHub(b)
	populate(b, sh.h, n)
	ctx := context.Background()
	for i := range n {
		cs, err := sh.h.DeviceConnectionString(ctx, fmt.Sprintf("dev-%06d", i))
		if err != nil {
			b.Fatal(err)
		}
		dev, err := dialEchoDevice(ctx, sh.url, cs)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { dev.Close() })
	}
	measureRoundTrips(b, sh.dial(b, "iothubowner"), n)
}

// cpuTime is the process's user+system CPU time so far. The machine is shared and noisy:
// CPU time per operation is the figure that holds still.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFleetInitialLoadRemote is BenchmarkFleetInitialLoad against a hub in another
// process, so that the CPU figure is the client's alone: set TWINOPS_BENCH_HUB (URL) and
// TWINOPS_BENCH_CS (an iothubowner connection string). It first creates -fleet.twins
// devices through the service protocol if the hub has fewer.
func BenchmarkFleetInitialLoadRemote(b *testing.B) {
	url, cs := os.Getenv("TWINOPS_BENCH_HUB"), os.Getenv("TWINOPS_BENCH_CS")
	if url == "" || cs == "" {
		b.Skip("no external hub: set TWINOPS_BENCH_HUB and TWINOPS_BENCH_CS")
	}
	ctx := context.Background()
	dial := func() *Service {
		s, err := DialService(ctx, ServiceOptions{URL: url, ConnectionString: cs})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	admin := dial()
	defer admin.Close()
	info, err := admin.HubInfo(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if info.Devices < *benchTwins {
		start := time.Now()
		err := inParallel(*benchTwins, 64, func(i int) error {
			id := fmt.Sprintf("dev-%06d", i)
			if _, err := admin.CreateDevice(ctx, Identity{DeviceID: id}); err != nil && !IsStatus(err, 409) {
				return err
			}
			_, err := admin.PatchTwin(ctx, id, Patch{Tags: benchTags(i), Desired: benchDesired()}, "")
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("created %d twins through the service protocol in %v", *benchTwins, time.Since(start))
		if info, err = admin.HubInfo(ctx); err != nil {
			b.Fatal(err)
		}
	}
	c0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		s := dial()
		f := s.Fleet(ctx)
		waitSynced(b, ctx, f, info.Devices)
		s.Close()
	}
	b.ReportMetric(float64(info.Devices), "twins")
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "client-cpu-s/op")
}
