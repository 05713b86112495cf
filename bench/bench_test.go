package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkReportedPatch measures the embedded hub's durable reported-patch path with 100
// devices, 4 patches in flight each, 200-byte patches. ns/op is wall time per patch at
// that concurrency; cpu-µs/op is the process's CPU (hub and load generator) per patch,
// which depends far less on what else runs on the machine.
func BenchmarkReportedPatch(b *testing.B) {
	h, err := Embedded(b.TempDir(), 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	o := Options{Scenario: "reported", Devices: 100, Inflight: 4, Payload: 200}
	o.defaults()
	ctx := context.Background()
	if err := h.Prepare(ctx, o.Prefix, o.Devices); err != nil {
		b.Fatal(err)
	}
	r := newTwinRun()
	devs, conns, err := r.connectTwin(ctx, h, o, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer closeAll(conns)
	benchLoop(b, func(stop chan struct{}, wg *sync.WaitGroup) {
		for _, d := range devs {
			wg.Add(1)
			go func() { defer wg.Done(); r.storm(d, stop, newPacer(0, 0)) }()
		}
	}, &r.c)
}

// BenchmarkRelayMochi is the same shape through a plain mochi broker: QoS 1 publish and
// relay back, no twin work, no disk.
func BenchmarkRelayMochi(b *testing.B) {
	addr, stopBroker, err := StartMochi()
	if err != nil {
		b.Fatal(err)
	}
	defer stopBroker()
	t := &BrokerTarget{Addr: addr}
	o := Options{Scenario: "relay", Devices: 100, Inflight: 4, Payload: 200}
	o.defaults()
	t.Prepare(context.Background(), o.Prefix, o.Devices)
	var c counters
	lat := NewLatency()
	devs := make([]*relayDev, o.Devices)
	conns, err := connectAll(context.Background(), t, o, nil, func(i int, co *ConnectOptions) {
		d := &relayDev{topic: "bench/relay/" + co.ClientID, window: make(chan struct{}, o.Inflight)}
		d.sent = make([]atomic.Int64, o.Inflight)
		devs[i] = d
		co.OnPublish = func(_ string, p []byte) { d.received(p, lat, &c) }
	})
	if err != nil {
		b.Fatal(err)
	}
	defer closeAll(conns)
	for i, cn := range conns {
		devs[i].c = cn
		if _, err := cn.Subscribe(context.Background(), devs[i].topic, 1); err != nil {
			b.Fatal(err)
		}
	}
	benchLoop(b, func(stop chan struct{}, wg *sync.WaitGroup) {
		for _, d := range devs {
			wg.Add(1)
			go func() { defer wg.Done(); d.send(stop, newPacer(0, 0), o.Payload, &c) }()
		}
	}, &c)
}

// benchLoop runs the senders until b.N operations completed and reports CPU per op.
func benchLoop(b *testing.B, start func(stop chan struct{}, wg *sync.WaitGroup), c *counters) {
	base := c.ops.Load()
	s0 := SampleSelf()
	b.ResetTimer()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start(stop, &wg)
	tick := time.NewTicker(time.Millisecond)
	for c.ops.Load()-base < int64(b.N) {
		<-tick.C
		if c.errs.Load() > 0 {
			break
		}
	}
	tick.Stop()
	b.StopTimer()
	close(stop)
	wg.Wait()
	if c.errs.Load() > 0 {
		b.Fatalf("%d errors, first: %s", c.errs.Load(), c.first())
	}
	s1 := SampleSelf()
	b.ReportMetric(float64((s1.CPU-s0.CPU).Microseconds())/float64(b.N), "cpu-µs/op")
}
