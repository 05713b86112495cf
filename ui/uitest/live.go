package uitest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// Live is a fake hub with a coalescing inbox (the latest state per device, like
// twinclient's Fleet): Put never blocks, Next returns everything since the last call.
// Devices answer desired changes: a changed firmware.version is "installed" in a few
// steps and other desired values are echoed to reported.
type Live struct {
	*Backend
	mu      sync.Mutex
	pending map[string]*twin.Doc
	events  []common.Event
	status  common.Status
	wake    chan struct{}
	oldest  time.Time // when the oldest change not yet handed out was made
	// LastOldest is when the oldest change in the batch last returned by Next was made
	// (read it from the goroutine that calls Next).
	LastOldest time.Time
	// Produced counts the changes ChurnFast made.
	Produced int
	// Echo is how long a simulated device takes to answer a desired change (0 = never).
	Echo time.Duration
}

// NewLive returns a live fake hub whose first batch holds every twin.
func NewLive(now func() time.Time, docs ...*twin.Doc) *Live {
	l := &Live{Backend: NewBackend(now, docs...), pending: map[string]*twin.Doc{}, wake: make(chan struct{}, 1)}
	first := l.InitialBatch()
	l.pending, l.status = first.Twins, first.Status
	l.signal()
	return l
}

func (l *Live) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Put records a changed twin and its events; it never blocks.
func (l *Live) Put(d *twin.Doc, evs ...common.Event) {
	l.mu.Lock()
	l.pending[d.DeviceID] = d
	l.events = append(l.events, evs...)
	if len(l.events) > 10000 {
		l.events = l.events[len(l.events)-10000:]
	}
	l.mu.Unlock()
	l.signal()
}

// Next blocks until something changed and returns it all.
func (l *Live) Next(ctx context.Context) (common.Batch, error) {
	select {
	case <-l.wake:
	case <-ctx.Done():
		return common.Batch{}, ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := common.Batch{Twins: l.pending, Events: l.events, Status: l.status}
	l.pending, l.events = make(map[string]*twin.Doc, len(b.Twins)), nil
	l.LastOldest, l.oldest = l.oldest, time.Time{}
	return b, nil
}

// PatchTwin applies the patch, publishes the change and lets the device answer.
func (l *Live) PatchTwin(ctx context.Context, id string, p common.Patch, etag string) (*twin.Doc, error) {
	d, err := l.Backend.PatchTwin(ctx, id, p, etag)
	if err != nil {
		return nil, err
	}
	now := l.Now()
	if p.Desired != nil {
		l.Put(d.Clone(), common.Event{Time: now, DeviceID: id, Kind: "desired", Version: d.Version, Patch: p.Desired})
		if l.Echo > 0 {
			go l.answer(id, p.Desired)
		}
	}
	if p.Tags != nil {
		l.Put(d.Clone(), common.Event{Time: now, DeviceID: id, Kind: "tags", Version: d.Version, Patch: p.Tags})
	}
	return d, nil
}

// answer plays a device applying a desired patch.
func (l *Live) answer(id string, desired map[string]any) {
	fw, _ := twin.Lookup(desired, "firmware", "version")
	if fw != nil {
		for _, st := range []string{"downloading", "installing", "rebooting"} {
			time.Sleep(l.Echo)
			l.Report(id, map[string]any{"firmware": map[string]any{"status": st}})
		}
		time.Sleep(l.Echo)
		if rand.IntN(10) == 0 {
			l.Report(id, map[string]any{"firmware": map[string]any{"status": "failed", "error": "flash write failed"}})
			return
		}
		l.Report(id, map[string]any{"firmware": map[string]any{"status": "succeeded", "version": fw}})
		return
	}
	time.Sleep(l.Echo)
	l.Report(id, desired)
}

// Report applies a reported patch as the device would and publishes it.
func (l *Live) Report(id string, patch map[string]any) {
	d := l.Mutate(id, twin.Reported, patch)
	d.LastActivityTime = l.Now()
	l.Put(d, common.Event{Time: l.Now(), DeviceID: id, Kind: "reported", Version: d.Version, Patch: patch})
}

// Churn changes reported battery levels of random devices at about rate per second
// until ctx ends (the load for live-update benchmarks and demos).
func (l *Live) Churn(ctx context.Context, rate int, ids []string) {
	const step = 10 * time.Millisecond
	per := max(rate/100, 1)
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range per {
			id := ids[rand.IntN(len(ids))]
			l.Report(id, map[string]any{"battery": float64(rand.IntN(100))})
		}
	}
}

// Info describes the fake hub.
func (l *Live) Info() common.HubInfo {
	return common.HubInfo{Name: fmt.Sprintf("fake hub (%d devices)", len(l.docs))}
}

// ChurnFast publishes reported battery changes at about rate per second without going
// through the fake's twin store: each change is a shallow copy of the twin with a new
// version (the load for the sustained-update benchmark, where the producer must not be
// the bottleneck).
func (l *Live) ChurnFast(ctx context.Context, rate int, ids []string) {
	const step = 5 * time.Millisecond
	per := max(rate*int(step/time.Millisecond)/1000, 1)
	t := time.NewTicker(step)
	defer t.Stop()
	l.mu.Lock()
	docs := make([]*twin.Doc, len(ids))
	for i, id := range ids {
		docs[i] = l.docs[id]
	}
	l.mu.Unlock()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		l.mu.Lock()
		if l.oldest.IsZero() {
			l.oldest = now
		}
		l.Produced += per
		for range per {
			n++
			d := *docs[(n*7919)%len(docs)]
			d.Version += int64(n)
			d.LastActivityTime = now
			l.pending[d.DeviceID] = &d
			l.events = append(l.events, common.Event{Time: now, DeviceID: d.DeviceID, Kind: "reported", Version: d.Version,
				Patch: map[string]any{"battery": float64(n % 100)}})
		}
		if len(l.events) > 10000 {
			l.events = l.events[len(l.events)-10000:]
		}
		l.mu.Unlock()
		l.signal()
	}
}

// Lock and Unlock guard Produced.
func (l *Live) Lock() { l.mu.Lock() }

// Unlock releases Lock.
func (l *Live) Unlock() { l.mu.Unlock() }
