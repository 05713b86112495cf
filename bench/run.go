package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure one scenario run. A run is bounded: it stops after Duration, or after
// Count operations if Count > 0, whichever comes first.
type Options struct {
	Scenario    string        // relay | connect | reported | desired | query | mix | notify
	Devices     int           // simulated device connections
	Rate        float64       // operations per second per device (0: as fast as Inflight allows)
	Inflight    int           // outstanding requests per device (default 1)
	Payload     int           // bytes per reported patch or relayed message
	Duration    time.Duration // measured time after every device is connected
	Count       int64         // stop after this many operations (0: no limit)
	ConnectRate float64       // new connections per second (0: as fast as possible)
	Hold        time.Duration // connect scenario: idle time before memory is read
	Prefix      string        // device id prefix
	SourceIPs   int           // spread connections over 127.0.0.1 … 127.0.0.N
	QueryText   string        // query scenario: the query to run
	Progress    io.Writer     // progress lines every second, nil for none
	MemProfile  string        // connect: write this process's heap profile here while the devices are idle
	NoStorm     bool          // notify: no reported storm from this run (another process runs it)
}

func (o *Options) defaults() {
	if o.Devices <= 0 {
		o.Devices = 1
	}
	if o.Inflight <= 0 {
		o.Inflight = 1
	}
	if o.Payload <= 0 {
		o.Payload = 64
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Prefix == "" {
		o.Prefix = "bench"
	}
	if o.SourceIPs <= 0 {
		o.SourceIPs = 1 + o.Devices/20000
	}
	if o.QueryText == "" {
		o.QueryText = "SELECT COUNT() AS n FROM devices WHERE properties.reported.bench.seq >= 0"
	}
}

// Run runs one scenario against t and returns what it measured.
func Run(ctx context.Context, t Target, o Options) (*Result, error) {
	o.defaults()
	var run func(context.Context, Target, Options) (*Result, error)
	switch o.Scenario {
	case "relay":
		run = runRelay
	case "connect":
		run = runConnect
	case "reported":
		run = runReported
	case "desired":
		run = runDesired
	case "query":
		run = runQuery
	case "mix":
		run = runMix
	case "notify":
		run = runNotify
	default:
		return nil, fmt.Errorf("unknown scenario %q: use relay, connect, reported, desired, query, mix or notify", o.Scenario)
	}
	if err := t.Prepare(ctx, o.Prefix, o.Devices); err != nil {
		return nil, fmt.Errorf("preparing %d devices on %s: %w", o.Devices, t.Name(), err)
	}
	r, err := run(ctx, t, o)
	if r != nil {
		r.Scenario, r.Target, r.Devices = o.Scenario, t.Name(), o.Devices
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			f := strings.Fields(string(b))
			if len(f) >= 3 {
				r.LoadAvg = strings.Join(f[:3], " ")
			}
		}
	}
	return r, err
}

// counters are the live figures of a run, shared by its goroutines.
type counters struct {
	ops, errs atomic.Int64
	firstErr  atomic.Pointer[string]
}

func (c *counters) fail(err error) {
	c.errs.Add(1)
	s := err.Error()
	c.firstErr.CompareAndSwap(nil, &s)
}

func (c *counters) first() string {
	if p := c.firstErr.Load(); p != nil {
		return *p
	}
	return ""
}

// connectAll dials n devices of t at the configured rate, spreading them over source
// addresses; setup is called for each before it dials, to set callbacks.
func connectAll(ctx context.Context, t Target, o Options, lat *Latency, setup func(i int, co *ConnectOptions)) ([]*Conn, error) {
	conns := make([]*Conn, o.Devices)
	var interval time.Duration
	if o.ConnectRate > 0 {
		interval = time.Duration(float64(time.Second) / o.ConnectRate)
	}
	sem := make(chan struct{}, 64) // dials in flight
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	last := time.Now()
	for i := 0; i < o.Devices; i++ {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		co := t.Device(i)
		if co.KeepAlive == 0 {
			co.KeepAlive = 180 * time.Second // as the Node SDK; brokers warn about 0
		}
		if o.SourceIPs > 1 {
			co.LocalIP = net.IPv4(127, 0, 0, byte(1+i%o.SourceIPs))
		}
		if setup != nil {
			setup(i, &co)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int, co ConnectOptions) {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			t0 := time.Now()
			c, err := Dial(dctx, co)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("device %d (%s): %w", i, co.ClientID, err)
				}
				mu.Unlock()
				return
			}
			if lat != nil {
				lat.Record(time.Since(t0))
			}
			conns[i] = c
		}(i, co)
		if o.Progress != nil && time.Since(last) >= time.Second {
			last = time.Now()
			fmt.Fprintf(o.Progress, "connecting: %d/%d\n", i, o.Devices)
		}
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

func closeAll(conns []*Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// measure runs the measured phase: it samples the target, waits until the duration ends,
// the count is reached or ctx is done, prints progress, and fills in the common figures.
func measure(ctx context.Context, t Target, o Options, c *counters, conns []*Conn) *Result {
	s0, ok0 := t.Sample()
	start := time.Now()
	deadline := time.NewTimer(o.Duration)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastPrint, lastOps := start, int64(0)
	var lost error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline.C:
			break loop
		case now := <-tick.C:
			ops := c.ops.Load()
			if o.Count > 0 && ops >= o.Count {
				break loop
			}
			if lost = firstDown(conns); lost != nil {
				break loop
			}
			if o.Progress != nil && now.Sub(lastPrint) >= time.Second {
				fmt.Fprintf(o.Progress, "%6.1fs  %9d ops  %8.0f/s  errors %d\n", now.Sub(start).Seconds(), ops,
					float64(ops-lastOps)/now.Sub(lastPrint).Seconds(), c.errs.Load())
				lastPrint, lastOps = now, ops
			}
		}
	}
	elapsed := time.Since(start)
	s1, ok1 := t.Sample()
	r := &Result{Elapsed: elapsed, Ops: c.ops.Load(), Errors: c.errs.Load(), Payload: o.Payload,
		Latency: map[string]Percentiles{}, FirstError: c.first()}
	r.Throughput = float64(r.Ops) / elapsed.Seconds()
	if ok0 && ok1 {
		r.Process = Stats(s0, s1)
	}
	if lost != nil {
		r.Notes = append(r.Notes, "a connection was lost during the run: "+lost.Error())
	}
	return r
}

func firstDown(conns []*Conn) error {
	for i, c := range conns {
		if c == nil {
			continue
		}
		if err := c.Err(); err != nil && !errors.Is(err, ErrConnClosed) {
			return fmt.Errorf("device %d: %w", i, err)
		}
	}
	return nil
}

// pacer spaces one device's operations at rate per second; with rate 0 it never waits.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func newPacer(rate float64, phase int) *pacer {
	p := &pacer{next: time.Now()}
	if rate > 0 {
		p.interval = time.Duration(float64(time.Second) / rate)
		// Spread devices over the first interval so they do not fire in lockstep.
		p.next = p.next.Add(time.Duration(phase%1000) * p.interval / 1000)
	}
	return p
}

// wait blocks until the next operation is due; false when stop is closed (checked first,
// so a device that fell behind its schedule still stops).
func (p *pacer) wait(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	default:
	}
	if p.interval == 0 {
		return true
	}
	d := time.Until(p.next)
	p.next = p.next.Add(p.interval)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}
