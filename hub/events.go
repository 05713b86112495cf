package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinops/twinops/twin"
)

// EventKind says what an Event is about.
type EventKind uint8

// Event kinds.
const (
	EventTwin       EventKind = iota + 1 // a twin changed (Event.Twin)
	EventConnection                      // a device connected or disconnected (Event.Conn)
	EventIdentity                        // an identity was created, updated or deleted (Event.Identity)
)

// Event is one change in the hub, in the order the hub made it. Twin events carry the
// twin version after the change and come only after the change is durable.
type Event struct {
	Kind     EventKind
	Twin     *twin.Change
	Conn     *ConnEvent
	Identity *IdentityEvent
}

// ConnEvent is a device connecting or disconnecting. Seq is strictly increasing over the
// hub's life, restarts included.
type ConnEvent struct {
	DeviceID  string
	Connected bool
	Seq       uint64
	Time      time.Time
}

// IdentityEvent is a registry change: Op is "created", "updated" or "deleted"; Identity is
// the identity after the change (zero for deleted).
type IdentityEvent struct {
	DeviceID string
	Op       string
	Identity Identity
	Time     time.Time
}

// bus fans events out to watchers on one goroutine, in order. Producers never block: the
// queue is unbounded (it drains as fast as the watchers run).
type bus struct {
	mu       sync.Mutex
	q        []Event
	wake     chan struct{}
	stopped  chan struct{}
	quit     chan struct{}
	watchers []*watcher
	seq      func() uint64 // next connection sequence number (called under mu)
}

type watcher struct {
	fn        func(Event)
	cancelled atomic.Bool
}

func newBus() *bus {
	return &bus{wake: make(chan struct{}, 1), stopped: make(chan struct{}), quit: make(chan struct{})}
}

// Watch calls fn for every event from now on, in order, on the hub's event goroutine; fn
// must not block. cancel stops the calls (one already running finishes).
func (h *Hub) Watch(fn func(Event)) (cancel func()) {
	w := &watcher{fn: fn}
	b := h.events
	b.mu.Lock()
	b.watchers = append(b.watchers, w)
	b.mu.Unlock()
	return func() {
		w.cancelled.Store(true)
		b.mu.Lock()
		for i, x := range b.watchers {
			if x == w {
				b.watchers = append(b.watchers[:i:i], b.watchers[i+1:]...)
				break
			}
		}
		b.mu.Unlock()
	}
}

func (b *bus) push(e Event) {
	b.mu.Lock()
	b.q = append(b.q, e)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *bus) twin(c *twin.Change) { b.push(Event{Kind: EventTwin, Twin: c}) }

func (b *bus) identity(e *IdentityEvent) { b.push(Event{Kind: EventIdentity, Identity: e}) }

// conn numbers and queues a connection event; numbering under the queue's lock keeps the
// sequence in queue order.
func (b *bus) conn(id string, connected bool, t time.Time) {
	b.mu.Lock()
	e := &ConnEvent{DeviceID: id, Connected: connected, Seq: b.seq(), Time: t}
	b.q = append(b.q, Event{Kind: EventConnection, Conn: e})
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// start runs the fan-out goroutine.
func (b *bus) start(h *Hub) {
	go b.run()
}

func (b *bus) run() {
	defer close(b.stopped)
	var batch []Event
	for {
		select {
		case <-b.wake:
		case <-b.quit:
			b.deliver(batch)
			return
		}
		batch = b.deliver(batch)
	}
}

// deliver drains the queue into the watchers; it returns the emptied batch for reuse.
func (b *bus) deliver(batch []Event) []Event {
	for {
		b.mu.Lock()
		batch, b.q = b.q, batch[:0]
		ws := b.watchers
		b.mu.Unlock()
		if len(batch) == 0 {
			return batch
		}
		for _, e := range batch {
			for _, w := range ws {
				if !w.cancelled.Load() {
					w.fn(e)
				}
			}
		}
		clear(batch)
	}
}

// stop delivers what is queued and ends the fan-out goroutine.
func (b *bus) stop() {
	close(b.quit)
	<-b.stopped
}
