package sim

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twinops/twinops/sas"
	"github.com/twinops/twinops/twinclient"
)

// Fleet is a running simulated fleet. Close stops it.
type Fleet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{} // closed once every device has connected and reported
	total  int

	mu        sync.Mutex
	states    map[string]deviceState
	started   int
	lastError error

	reports atomic.Int64
	errors  atomic.Int64
}

// deviceState is what the fleet knows of one device for Stats.
type deviceState struct {
	connected bool
	firmware  string // reported firmware status
	version   string // running firmware version
}

// Stats is a summary of a running fleet.
type Stats struct {
	Devices   int
	Connected int
	// Firmware counts devices by reported firmware status (current, downloading,
	// installing, rebooting, succeeded, failed).
	Firmware map[string]int
	// Versions counts devices by running firmware version.
	Versions map[string]int
	// Reports is how many reported patches the hub acknowledged; Errors how many
	// connection attempts or reports failed.
	Reports, Errors int64
	LastError       error
}

// String is a one-line summary for logs.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d connected; firmware", s.Connected, s.Devices)
	keys := make([]string, 0, len(s.Firmware))
	for k := range s.Firmware {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, s.Firmware[k])
	}
	fmt.Fprintf(&b, "; %d reports, %d errors", s.Reports, s.Errors)
	if s.LastError != nil {
		fmt.Fprintf(&b, " (last: %v)", s.LastError)
	}
	return b.String()
}

// Run starts one simulated device per connection string and returns at once; devices
// connect in the background, at most o.Parallelism at a time (Ready tells when all have
// connected and reported their starting state).
// dial is the template for every device's connection (URL, CA, token lifetime...); Run
// sets its ConnectionString, OnDesired and OnConnection. The devices run until Close or
// until ctx ends.
func Run(ctx context.Context, o Options, connStrings []string, dial twinclient.DeviceOptions) (*Fleet, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(connStrings))
	seen := map[string]bool{}
	for i, s := range connStrings {
		cs, err := sas.ParseConnectionString(s)
		if err != nil {
			return nil, fmt.Errorf("sim: connection string %d: %w", i+1, err)
		}
		if cs.DeviceID == "" {
			return nil, fmt.Errorf("sim: connection string %d has no DeviceId; give device connection strings", i+1)
		}
		if seen[cs.DeviceID] {
			return nil, fmt.Errorf("sim: device %q appears twice; each simulated device needs its own identity", cs.DeviceID)
		}
		seen[cs.DeviceID] = true
		ids[i] = cs.DeviceID
	}
	if dial.Logger == nil {
		dial.Logger = o.Logger
	}
	if dial.Now == nil {
		dial.Now = o.Now
	}
	if dial.TLSSessionCache == nil {
		// one cache for the fleet: reboots and reconnects resume TLS sessions
		dial.TLSSessionCache = tls.NewLRUClientSessionCache(64)
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &Fleet{cancel: cancel, ready: make(chan struct{}), total: len(ids), states: map[string]deviceState{}}
	if f.total == 0 {
		close(f.ready)
	}
	devs := make([]*device, len(ids))
	for i, id := range ids {
		devs[i] = newDevice(o, f, id, connStrings[i], dial)
		f.states[id] = deviceState{firmware: statusCurrent, version: devs[i].p.Firmware}
	}
	sem := make(chan struct{}, o.Parallelism)
	f.wg.Add(len(devs))
	for _, d := range devs {
		go d.run(ctx, sem)
	}
	return f, nil
}

// newDevice builds a simulated device; its random source (timings only) is seeded from
// the seed and its id.
func newDevice(o Options, f *Fleet, id, conn string, dial twinclient.DeviceOptions) *device {
	p := o.Profile(id)
	d := &device{
		id: id, p: p, o: o, f: f,
		rng:      rand.New(rand.NewPCG(seed64(o.Seed, id, "timing"), uint64(o.Seed))),
		wake:     make(chan struct{}, 1),
		battery:  p.Battery,
		fw:       firmware{version: p.Firmware, status: statusCurrent, attempts: map[string]int{}},
		freq:     defaultFrequency,
		log:      o.Logger.With("device", id),
		dialOpts: dial,
	}
	d.dialOpts.ConnectionString = conn
	d.dialOpts.OnDesired = d.onDesired
	d.dialOpts.OnConnection = d.onConnection
	return d
}

// Ready is closed once every device has connected and reported its starting state.
func (f *Fleet) Ready() <-chan struct{} { return f.ready }

// Close stops every device (each sends an MQTT DISCONNECT) and waits for them.
func (f *Fleet) Close() error {
	f.cancel()
	f.wg.Wait()
	return nil
}

// Stats returns a summary of the fleet now.
func (f *Fleet) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Stats{Devices: f.total, Firmware: map[string]int{}, Versions: map[string]int{},
		Reports: f.reports.Load(), Errors: f.errors.Load(), LastError: f.lastError}
	for _, st := range f.states {
		if st.connected {
			s.Connected++
		}
		s.Firmware[st.firmware]++
		s.Versions[st.version]++
	}
	return s
}

// States returns each device's reported firmware status (for tests and summaries).
func (f *Fleet) States() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.states))
	for id, st := range maps.All(f.states) {
		out[id] = st.firmware
	}
	return out
}

// started1 records that a device is up and closes ready after the last.
func (f *Fleet) started1() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started++
	if f.started == f.total {
		close(f.ready)
	}
}

// update changes a device's state for Stats.
func (f *Fleet) update(id string, fn func(*deviceState)) {
	f.mu.Lock()
	st := f.states[id]
	fn(&st)
	f.states[id] = st
	f.mu.Unlock()
}

// fail counts an error.
func (f *Fleet) fail(err error) {
	f.errors.Add(1)
	f.mu.Lock()
	f.lastError = err
	f.mu.Unlock()
}
