package hub

import "sync"

// Device requests are admitted into a shard's pipeline in rounds, a bounded number at a
// time. Go has no goroutine priorities: with the CPU saturated, every stage of a back-end
// write (owner, store committer, Pebble's WAL writer, completion) waits in the run queue
// behind every runnable connection goroutine, ~1,000 under a reported storm, and a
// desired notification took hundreds of milliseconds. A connection goroutine that finds
// its shard's budget spent waits in the hook instead: a waiting goroutine is not
// runnable, the device's further requests stay in its socket, and TCP flow control holds
// the device back. Back-end operations (the priority lane) never take from the budget.
//
// A round is one device's requests, at most roundOps of them, taken one by one as its
// connection goroutine reads them: the requests a device has queued together are then
// applied in one batch and answered in one write, as without a budget. The round's slot
// goes back when all of the device's admitted requests are answered (queued for writing:
// a device that does not read cannot hold a slot); the device's next request then waits
// for a new slot behind the devices already waiting, so a device that never pauses still
// takes its turn.

// DefaultDeviceBudget is how many device rounds one shard has in its pipeline at a time
// unless Config.DeviceBudget says otherwise. With roundOps requests each that is up to
// 64 requests per shard: enough to fill a group commit at 50,000 patches/s with a few
// milliseconds per round trip through the pipeline, few enough to keep the run queue
// short. Measured on 2 cores (docs/benchmarks/hub.md): 16 gave 5-15 % more peak reported
// throughput with about twice the desired-notification p99 under a storm; 4 halves that
// p99 again but no longer keeps up with a paced 50,000 patches/s there.
const DefaultDeviceBudget = 8

// MaxDeviceBudget bounds Config.DeviceBudget.
const MaxDeviceBudget = 4096

// roundOps is how many requests one round admits.
const roundOps = 8

// admit admits one twin request of device c, waiting while its shard's budget is spent;
// answered gives it back. It runs on c's connection goroutine.
func (h *Hub) admit(c *conn) {
	o := &c.out
	o.mu.Lock()
	if o.grant > 0 { // the current round has room
		o.grant--
		o.pending++
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	h.shardFor(c.DeviceID).budget.acquire(h.quit)
	o.mu.Lock()
	o.slots++
	o.grant = roundOps - 1
	o.pending++
	o.mu.Unlock()
}

// answered records that one of c's admitted requests is answered; the last one ends the
// device's rounds and gives their slots back. (A device may hold two slots for a moment:
// a new round started while the previous one still had requests in the pipeline.)
func (h *Hub) answered(c *conn) {
	o := &c.out
	o.mu.Lock()
	o.pending--
	n := 0
	if o.pending == 0 {
		n, o.slots, o.grant = o.slots, 0, 0
	}
	o.mu.Unlock()
	if n > 0 {
		b := &h.shardFor(c.DeviceID).budget
		for range n {
			b.release()
		}
	}
}

// budget is a counting semaphore whose waiters are served in arrival order.
type budget struct {
	mu      sync.Mutex
	limit   int // slots: Config.DeviceBudget, set by New
	used    int
	waiters []chan struct{} // in arrival order; a waiter's channel receives its slot
	pool    []chan struct{} // waiter channels for reuse
}

// acquire takes a slot, waiting while none is free. If quit closes while it waits, it
// takes one over the limit instead (the hub is closing; the request is still answered,
// and its answer gives the slot back as usual).
func (b *budget) acquire(quit <-chan struct{}) {
	b.mu.Lock()
	if b.used < b.limit && len(b.waiters) == 0 {
		b.used++
		b.mu.Unlock()
		return
	}
	var ch chan struct{}
	if n := len(b.pool); n > 0 {
		ch, b.pool = b.pool[n-1], b.pool[:n-1]
	} else {
		ch = make(chan struct{}, 1)
	}
	b.waiters = append(b.waiters, ch)
	b.mu.Unlock()
	select {
	case <-ch:
	case <-quit:
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-ch: // handed a slot meanwhile
		default:
			b.drop(ch)
			b.used++
		}
		return
	}
	b.mu.Lock()
	b.pool = append(b.pool, ch)
	b.mu.Unlock()
}

// drop removes waiter ch (under mu).
func (b *budget) drop(ch chan struct{}) {
	for i, w := range b.waiters {
		if w == ch {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			return
		}
	}
}

// release gives a slot back: to the longest waiting acquire, if any.
func (b *budget) release() {
	b.mu.Lock()
	if len(b.waiters) == 0 {
		b.used--
		b.mu.Unlock()
		return
	}
	ch := b.waiters[0]
	b.waiters[0] = nil
	b.waiters = b.waiters[1:]
	b.mu.Unlock()
	ch <- struct{}{} // buffered: never blocks
}
