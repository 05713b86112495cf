package twinclient

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
)

// devBenchHub starts a hub for a benchmark.
func devBenchHub(b *testing.B) *devTestHub {
	b.Helper()
	h, err := hub.New(hub.Config{DataDir: b.TempDir(), Hostname: "localhost", TLSAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close() })
	return &devTestHub{h: h, url: "mqtts://" + h.TLSAddr().String()}
}

// devBenchDevice creates and dials a device.
func devBenchDevice(b *testing.B, th *devTestHub, id string, onDesired func(DesiredUpdate)) *Device {
	b.Helper()
	ctx := context.Background()
	if _, err := th.h.CreateDevice(ctx, hub.Identity{DeviceID: id}); err != nil {
		b.Fatal(err)
	}
	cs, err := th.h.DeviceConnectionString(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	d, err := DialDevice(ctx, DeviceOptions{ConnectionString: cs, URL: th.url, CAFile: th.h.CAFile(), OnDesired: onDesired})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	return d
}

// devReportPercentiles adds p50 and p99 of lat (in microseconds) to the benchmark output.
func devReportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// One device, one durable reported patch at a time over TLS: the round trip the hub
// acknowledges only after fsync.
func BenchmarkDevicePatchReported(b *testing.B) {
	th := devBenchHub(b)
	d := devBenchDevice(b, th, "bench-1", nil)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := d.PatchReported(ctx, map[string]any{"n": float64(i)}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	devReportPercentiles(b, lat)
}

// A service-side desired patch (the hub's Go API, durable) until the device's OnDesired
// callback has it.
func BenchmarkDeviceDesiredToCallback(b *testing.B) {
	th := devBenchHub(b)
	got := make(chan int64, 1)
	devBenchDevice(b, th, "bench-1", func(u DesiredUpdate) { got <- u.Version })
	<-got // the first whole-twin read
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		tw, err := th.h.PatchTwin(ctx, "bench-1", hub.TwinPatch{Desired: map[string]any{"n": float64(i)}, HasDesired: true}, "*")
		if err != nil {
			b.Fatal(err)
		}
		for v := <-got; v < tw.Desired.Version; v = <-got {
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	devReportPercentiles(b, lat)
}
