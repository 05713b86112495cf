package twinclient

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/twinops/twinops/twin"
)

// State is where the fleet cache stands.
type State uint8

// States of the fleet cache.
const (
	Connecting   State = iota // first connection, nothing loaded yet
	Syncing                   // connected, listing the fleet (after start, reconnect or lost events)
	Synced                    // an exact copy, kept up to date by events
	Reconnecting              // connection lost; the copy is frozen until it is back
	Stopped                   // the Service was closed or the cache's context ended
)

// String returns the state's name as the status line shows it.
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Syncing:
		return "syncing"
	case Synced:
		return "synced"
	case Reconnecting:
		return "reconnecting"
	case Stopped:
		return "stopped"
	}
	return "unknown"
}

// Status is the fleet cache's connection and counts.
type Status struct {
	State   State
	Hub     string // the hub's host name
	Devices int    // twins held
	// Expected is, until the first listing has completed (its twins are handed out page
	// by page as they arrive, State Syncing; after a failed attempt the copy stays
	// partial until a listing completes), how many devices the hub had when it began;
	// 0 once a listing has completed. Devices then counts those in so far.
	Expected      int
	Connected     int // of which connected
	Resyncs       int // full re-lists after the first (reconnects, lost events)
	EventsDropped int // events left out of batches because the consumer fell behind (twins stay exact)
	LastError     string
	LastErrorTime time.Time
	SyncedAt      time.Time // when the last listing completed
}

// Event is one change as it happened, for event streams and twin history. Kind is
// "reported", "desired" or "tags" (Version is the twin version after it, Patch the
// applied patch or, for a replace, the whole section), "connected" or "disconnected",
// or "created", "updated" or "deleted" (identity). Patch must not be modified.
type Event struct {
	Time     time.Time
	DeviceID string
	Kind     string
	Version  int64
	Op       string // "patch" | "replace" for twin events
	Patch    map[string]any
}

// Batch is everything that changed since the previous call to Next.
type Batch struct {
	// Twins holds the latest state of every twin that changed: an immutable snapshot
	// (never modified afterwards; clone it to edit), or nil when the device was deleted.
	Twins  map[string]*twin.Doc
	Events []Event // the changes in order; at most maxRing, oldest dropped first
	Status Status
}

const (
	maxRing  = 10000 // events kept for the consumer between two calls to Next
	listPage = 1000  // page size of the listing
	// maxQueueBytes bounds what is queued from paho (payloads, topics and a per-publish
	// overhead) before the cache gives up and re-lists; a batch publish is up to 64 KB.
	maxQueueBytes    = 64 << 20
	rawEventOverhead = 64 // bytes counted per queued publish besides its topic and payload
)

// Fleet is an exact, live copy of every twin of the hub, kept by list-then-watch
// (docs/PROTOCOL.md). One goroutine keeps it; Next hands out what changed.
type Fleet struct {
	svc *Service
	ctx context.Context
	end context.CancelFunc

	// from paho's router goroutine to the worker
	qmu      sync.Mutex
	queue    []rawEvent
	qbytes   int // bytes counted in queue, against maxQueueBytes
	overflow bool
	wake     chan struct{}                           // cap 1: something queued or the connection changed
	gen      atomic.Uint64                           // latest connection generation
	up       atomic.Bool                             // connected now
	drop     atomic.Pointer[func(topic string) bool] // tests: lose events as a full hub queue would
	paged    atomic.Pointer[func(held int)]          // tests: called after each page of a streamed listing is in

	// worker state shared with Next
	mu      sync.Mutex
	docs    map[string]*entry
	dirty   map[string]*entry // changed since the last batch: the entry held now, nil once removed
	ring    []Event           // up to maxRing events; once full, a circular buffer starting at ringOld
	ringOld int               // index of the oldest event in a full ring
	status  Status
	changed bool          // status changed since the last batch
	notify  chan struct{} // cap 1: a batch is ready
	stopped chan struct{}
}

// entry is one held twin. shared says which parts of doc have been handed out (by Next,
// Get or Snapshot) and must be copied before they change (fleet_copy.go).
type entry struct {
	doc     *twin.Doc
	shared  uint8
	connSeq int64
}

// rawEvent is a publish as paho delivered it: the topic after $twinops/events/.
type rawEvent struct {
	topic   string
	payload []byte
}

// Fleet starts the fleet cache on the first call and returns it; later calls return the
// same one. ctx bounds the cache's life (it also stops when the Service is closed).
// It needs the serviceConnect right.
func (s *Service) Fleet(ctx context.Context) *Fleet { return s.fleetWith(ctx, nil) }

// fleetWith is Fleet; setup (tests: hooks) runs on a new cache before it starts.
func (s *Service) fleetWith(ctx context.Context, setup func(*Fleet)) *Fleet {
	s.mu.Lock()
	if s.fleet != nil {
		f := s.fleet
		s.mu.Unlock()
		return f
	}
	f := newFleet(ctx, s)
	if setup != nil {
		setup(f)
	}
	s.fleet = f
	up := s.isReadyLocked()
	gen := s.gen
	closed := s.closed
	s.mu.Unlock()
	if closed {
		f.stop() // a cache of a closed Service ends at once: Next says ErrClosed
	}
	go f.run()
	if up {
		go f.subscribe(gen)
	}
	return f
}

func newFleet(ctx context.Context, s *Service) *Fleet {
	f := &Fleet{svc: s, wake: make(chan struct{}, 1), docs: map[string]*entry{},
		dirty: map[string]*entry{}, notify: make(chan struct{}, 1), stopped: make(chan struct{})}
	f.ctx, f.end = context.WithCancel(ctx)
	f.status = Status{State: Connecting, Hub: s.cs.HostName}
	return f
}

func (s *Service) isReadyLocked() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// subscribe adds the event subscription on a connection made before the fleet started.
func (f *Fleet) subscribe(gen uint64) {
	tok := f.svc.client.Subscribe(topicEventsBatch, 0, f.svc.route)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		f.fail("subscribing to events failed; reconnecting", tok.Error())
		f.svc.dropConn()
		return
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok && st.Result()[topicEventsBatch] == 0x80 {
		f.fail("the hub refused the event subscription: the policy "+f.svc.cs.SharedAccessKeyName+" lacks serviceConnect", nil)
		return
	}
	f.connected(gen)
}

// connected is called (by onConnect's goroutine) once a connection is subscribed.
func (f *Fleet) connected(gen uint64) {
	for {
		old := f.gen.Load()
		if gen <= old || f.gen.CompareAndSwap(old, gen) {
			break
		}
	}
	f.up.Store(true)
	f.poke()
}

// disconnected is called from paho's connection-lost handler.
func (f *Fleet) disconnected() {
	f.up.Store(false)
	f.setState(Reconnecting)
	f.poke()
}

func (f *Fleet) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// stop ends the worker; Next returns ErrClosed afterwards.
func (f *Fleet) stop() { f.end() }

// enqueue takes an event from paho's router goroutine. It never blocks and never calls
// paho: it appends under a mutex and pokes the worker.
func (f *Fleet) enqueue(topic string, payload []byte) {
	if drop := f.drop.Load(); drop != nil && (*drop)(topic) {
		return
	}
	f.qmu.Lock()
	n := len(topic) + len(payload) + rawEventOverhead
	if f.qbytes+n > maxQueueBytes {
		f.queue, f.qbytes = nil, 0
		f.overflow = true
	} else if !f.overflow {
		f.queue = append(f.queue, rawEvent{topic, payload})
		f.qbytes += n
	}
	f.qmu.Unlock()
	f.poke()
}

// takeQueue hands the queued events to the worker.
func (f *Fleet) takeQueue(buf []rawEvent) ([]rawEvent, bool) {
	f.qmu.Lock()
	q, over := f.queue, f.overflow
	f.queue, f.qbytes, f.overflow = buf[:0], 0, false
	f.qmu.Unlock()
	return q, over
}

// Next blocks until something changed since the previous call (twins, events or the
// status) and returns it all. It returns ctx's error when ctx ends and ErrClosed once the
// cache has stopped. Call it from one goroutine.
func (f *Fleet) Next(ctx context.Context) (Batch, error) {
	for {
		f.mu.Lock()
		if len(f.dirty) > 0 || len(f.ring) > 0 || f.changed {
			b := f.batchLocked()
			f.mu.Unlock()
			return b, nil
		}
		f.mu.Unlock()
		select {
		case <-f.notify:
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		case <-f.stopped:
			f.mu.Lock()
			if len(f.dirty) > 0 || len(f.ring) > 0 || f.changed {
				b := f.batchLocked()
				f.mu.Unlock()
				return b, nil
			}
			f.mu.Unlock()
			return Batch{}, ErrClosed
		}
	}
}

func (f *Fleet) batchLocked() Batch {
	events := f.ring
	if f.ringOld > 0 { // a full ring that wrapped: hand out the events in order
		events = slices.Concat(f.ring[f.ringOld:], f.ring[:f.ringOld])
	}
	b := Batch{Twins: make(map[string]*twin.Doc, len(f.dirty)), Events: events, Status: f.status}
	for id, e := range f.dirty {
		if e != nil {
			e.shared = sharedAll
			b.Twins[id] = e.doc
		} else {
			b.Twins[id] = nil
		}
	}
	if len(f.dirty) > 256 {
		// A map keeps the capacity of its largest size, and ranging over it or clearing
		// it costs that capacity: after a large batch (the first listing) start small.
		f.dirty = map[string]*entry{}
	} else {
		clear(f.dirty)
	}
	f.ring, f.ringOld = nil, 0
	f.changed = false
	return b
}

// Status returns the current status without waiting.
func (f *Fleet) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// Get returns the held snapshot of one twin (nil if none). The snapshot is immutable.
func (f *Fleet) Get(id string) *twin.Doc {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.docs[id]
	if e == nil {
		return nil
	}
	e.shared = sharedAll
	return e.doc
}

// Snapshot returns every held twin (immutable snapshots), for a consumer that starts
// late or wants to compare.
func (f *Fleet) Snapshot() map[string]*twin.Doc {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]*twin.Doc, len(f.docs))
	for id, e := range f.docs {
		e.shared = sharedAll
		out[id] = e.doc
	}
	return out
}

// signal tells a waiting Next that a batch is ready.
func (f *Fleet) signal() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

func (f *Fleet) setState(st State) {
	f.mu.Lock()
	if f.status.State != st {
		f.status.State = st
		f.changed = true
	}
	f.mu.Unlock()
	f.signal()
}

// fail records an error in the status.
func (f *Fleet) fail(what string, err error) {
	msg := what
	if err != nil {
		msg += ": " + err.Error()
	}
	f.svc.log.Warn("fleet cache", "error", msg)
	f.mu.Lock()
	f.status.LastError = msg
	f.status.LastErrorTime = time.Now()
	f.changed = true
	f.mu.Unlock()
	f.signal()
}
