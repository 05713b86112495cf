package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runReported is the reported-patch storm: every device sends reported patches of the
// payload size at the rate (or as fast as its window allows) and an operation is one
// 204, which the hub sends only once the patch is durable.
func runReported(ctx context.Context, t Target, o Options) (*Result, error) {
	r := newTwinRun()
	devs, conns, err := r.connectTwin(ctx, t, o, nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	stop := make(chan struct{})
	wg := startStorm(devs, r, o.Rate, stop)
	res := measure(ctx, t, o, &r.c, conns)
	close(stop)
	wg.Wait()
	res.Latency["ack"] = r.ack.Percentiles()
	return res, nil
}

// runDesired is the desired fan-out: the service patches each device's desired
// properties (one outstanding patch per device, at the rate per device), the device gets
// the notification and reports the value back, and the service sees the reported event.
// An operation is one full round trip.
func runDesired(ctx context.Context, t Target, o Options) (*Result, error) {
	r := newTwinRun()
	svc, devs, conns, err := r.connectService(ctx, t, o)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	cancel, err := watchDevices(svc, o.Prefix, devs, r, true)
	if err != nil {
		return nil, err
	}
	defer cancel()
	stop := make(chan struct{})
	wg := startDesired(ctx, svc, devs, r, o.Rate, stop, roundTrip(stop))
	res := measure(ctx, t, o, &r.c, conns)
	close(stop)
	wg.Wait()
	res.Latency["patch"] = r.patch.Percentiles()
	res.Latency["notify"] = r.notify.Percentiles()
	res.Latency["roundtrip"] = r.round.Percentiles()
	noteLostEvents(res, svc)
	return res, nil
}

// connectService connects the devices (connectTwin) of a scenario that needs the target's
// service side as well.
func (r *twinRun) connectService(ctx context.Context, t Target, o Options) (Service, []*twinDev, []*Conn, error) {
	svc := t.Service()
	if svc == nil {
		return nil, nil, nil, fmt.Errorf("%s has no service side for the %s scenario", t.Name(), o.Scenario)
	}
	devs, conns, err := r.connectTwin(ctx, t, o, nil)
	return svc, devs, conns, err
}

// noteLostEvents records the events the hub dropped for the load tool, if it can tell.
func noteLostEvents(res *Result, svc Service) {
	l, ok := svc.(interface{ EventsLost() int64 })
	if !ok {
		return
	}
	if res.Extra == nil {
		res.Extra = map[string]float64{}
	}
	res.Extra["events lost"] = float64(l.EventsLost())
}

func watchDevices(svc Service, prefix string, devs []*twinDev, r *twinRun, countOps bool) (func(), error) {
	return svc.WatchReported(func(id string, patch map[string]any) {
		n, ok := strings.CutPrefix(id, prefix+"-")
		if !ok {
			return
		}
		i, err := strconv.Atoi(n)
		if err != nil || i < 0 || i >= len(devs) {
			return
		}
		before := r.desOps.Load()
		r.onReportedEvent(devs[i], patch)
		if countOps && r.desOps.Load() != before {
			r.c.ops.Add(1)
		}
	})
}

// startDesired sends desired patches to each device at rate per device, one outstanding
// per device: the next waits for await (the round trip, or only the notification).
func startDesired(ctx context.Context, svc Service, devs []*twinDev, r *twinRun, rate float64, stop chan struct{},
	await func(d *twinDev, s int64) error) *sync.WaitGroup {
	var seq atomic.Int64
	var wg sync.WaitGroup
	ctx = stopContext(ctx, stop, &wg)
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newPacer(rate, d.idx*7919)
			for p.wait(stop) {
				s := seq.Add(1)
				d.desSeq.Store(s)
				t0 := time.Now()
				d.desSent.Store(t0.UnixNano())
				_, err := svc.PatchDesired(ctx, d.id, map[string]any{"bench": map[string]any{"seq": s}})
				if err != nil {
					if ctx.Err() == nil {
						r.c.fail(fmt.Errorf("%s: desired patch: %w", d.id, err))
					}
					continue
				}
				r.patch.Record(time.Since(t0))
				if err := await(d, s); err != nil {
					r.c.fail(err)
				}
			}
		}()
	}
	return &wg
}

// startStorm starts every device's reported storm at rate per device (0: as fast as its
// window allows) until stop.
func startStorm(devs []*twinDev, r *twinRun, rate float64, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.storm(d, stop, newPacer(rate, d.idx*7919))
		}()
	}
	return &wg
}

// roundTrip waits until desired seq s made its round trip to device d and back to the
// service (or stop); an error after 10 s without it.
func roundTrip(stop <-chan struct{}) func(d *twinDev, s int64) error {
	return func(d *twinDev, s int64) error {
		timeout := time.NewTimer(10 * time.Second)
		defer timeout.Stop()
		select {
		case <-d.desDone:
		case <-timeout.C:
			return fmt.Errorf("%s: desired seq %d made no round trip in 10 s: %s", d.id, s, lostWhere(d, s))
		case <-stop:
		}
		return nil
	}
}

// lostWhere says which leg of a desired round trip never completed.
func lostWhere(d *twinDev, seq int64) string {
	switch {
	case d.notified.Load() < seq:
		return "the device got no notification"
	case d.echoed.Load() < seq:
		return "the device's reported echo got no 204"
	default:
		return "the echo was acknowledged but no reported event reached the service"
	}
}

// stopContext returns a context cancelled when stop closes, so that requests in flight at
// the end of a run end too; wg tracks the goroutine that cancels it.
func stopContext(ctx context.Context, stop <-chan struct{}, wg *sync.WaitGroup) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx
}

// runQuery runs the query o.QueryText from o.Inflight concurrent service workers, each at
// the rate (or back to back).
func runQuery(ctx context.Context, t Target, o Options) (*Result, error) {
	svc := t.Service()
	if svc == nil {
		return nil, fmt.Errorf("%s has no service side for the query scenario", t.Name())
	}
	var c counters
	lat := NewLatency()
	stop := make(chan struct{})
	wg := startQueries(ctx, svc, o.QueryText, o.Inflight, o.Rate, stop, lat, &c)
	res := measure(ctx, t, o, &c, nil)
	close(stop)
	wg.Wait()
	res.Latency["query"] = lat.Percentiles()
	return res, nil
}

func startQueries(ctx context.Context, svc Service, q string, workers int, rate float64, stop chan struct{}, lat *Latency, c *counters) *sync.WaitGroup {
	var wg sync.WaitGroup
	ctx = stopContext(ctx, stop, &wg)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newPacer(rate, w*7919)
			for p.wait(stop) {
				t0 := time.Now()
				if _, err := svc.Query(ctx, q); err != nil {
					if ctx.Err() == nil {
						c.fail(fmt.Errorf("query %q: %w", q, err))
					}
					continue
				}
				lat.Record(time.Since(t0))
				c.ops.Add(1)
			}
		}()
	}
	return &wg
}

// runMix runs the storm at o.Rate per device, desired round trips at one per device every
// ten seconds, and two queries a second, all at once. Operations are storm acks; the
// other figures are in the latencies and extras.
func runMix(ctx context.Context, t Target, o Options) (*Result, error) {
	r := newTwinRun()
	svc, devs, conns, err := r.connectService(ctx, t, o)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	cancel, err := watchDevices(svc, o.Prefix, devs, r, false)
	if err != nil {
		return nil, err
	}
	defer cancel()
	stop := make(chan struct{})
	wg := startStorm(devs, r, o.Rate, stop)
	dwg := startDesired(ctx, svc, devs, r, 0.1, stop, roundTrip(stop))
	qlat := NewLatency()
	var qc counters
	qwg := startQueries(ctx, svc, o.QueryText, 1, 2, stop, qlat, &qc)
	res := measure(ctx, t, o, &r.c, conns)
	close(stop)
	wg.Wait()
	dwg.Wait()
	qwg.Wait()
	res.Latency["ack"] = r.ack.Percentiles()
	res.Latency["notify"] = r.notify.Percentiles()
	res.Latency["roundtrip"] = r.round.Percentiles()
	res.Latency["query"] = qlat.Percentiles()
	res.Extra = map[string]float64{
		"desired/s": float64(r.desOps.Load()) / res.Elapsed.Seconds(),
		"queries/s": float64(qc.ops.Load()) / res.Elapsed.Seconds(),
	}
	res.Errors += qc.errs.Load()
	noteLostEvents(res, svc)
	return res, nil
}

// runConnect connects the devices at o.ConnectRate (like a fleet coming back after an
// outage), holds them idle for o.Hold and reads the target's memory: the increase over
// the reading before the first connection, per device, is the cost of an idle device.
func runConnect(ctx context.Context, t Target, o Options) (*Result, error) {
	s0, ok0 := t.Sample()
	lat := NewLatency()
	r := newTwinRun()
	start := time.Now()
	_, conns, err := r.connectTwin(ctx, t, o, lat)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	connectTime := time.Since(start)
	hold := o.Hold
	if hold <= 0 {
		hold = 5 * time.Second
	}
	select {
	case <-time.After(hold):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var lost error
	if lost = firstDown(conns); lost != nil && !errors.Is(lost, ErrConnClosed) {
		return nil, fmt.Errorf("a device connection dropped while idle: %w", lost)
	}
	s1, ok1 := t.Sample()
	if o.MemProfile != "" {
		if err := writeHeapProfile(o.MemProfile); err != nil {
			return nil, err
		}
	}
	res := &Result{Elapsed: connectTime, Ops: int64(len(conns)),
		Throughput: float64(len(conns)) / connectTime.Seconds(),
		Latency:    map[string]Percentiles{"connect": lat.Percentiles()}}
	if ok0 && ok1 {
		res.Process = Stats(s0, s1)
		res.Process.CPUCores = float64(s1.CPU-s0.CPU) / float64(s1.At.Sub(s0.At))
		res.Extra = map[string]float64{"rss KB/dev": float64(s1.RSS-s0.RSS) / 1024 / float64(len(conns))}
		if s1.Heap > 0 {
			res.Extra["heap KB/dev"] = float64(s1.Heap-s0.Heap) / 1024 / float64(len(conns))
		}
	}
	return res, nil
}

// writeHeapProfile writes this process's live heap (after a GC) to file.
func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}
