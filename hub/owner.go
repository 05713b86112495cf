package hub

import (
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/twinops/twinops/hub/store"
	"github.com/twinops/twinops/twin"
)

// Twins are sharded over a few owner goroutines. Each twin belongs to exactly one shard;
// only that shard's owner changes it, in the order operations arrive. Hooks and API calls
// hand operations over (shard.in) and never touch a twin or the disk themselves. The owner
// applies a batch of operations under the shard's lock, writes the changed twins to the
// store in one group commit, and runs the operations' completions (answers, events) once
// the store has synced: durable before acknowledged.

// maxBatch bounds the operations one owner applies per store commit.
const maxBatch = 512

// shard is one owner's twins. mu is held for writing by the owner while it applies a
// batch, and for reading by readers that clone twins (GetTwin, Query).
type shard struct {
	mu      sync.RWMutex
	docs    map[string]*twin.Doc
	touched map[string]struct{} // activity not yet written (LastActivityTime)
	in      chan func(*txn)     // device operations
	prio    chan func(*txn)     // back-end operations: applied before queued device ones
	comp    compQueue           // completions of committed batches, in commit order
	qi      queryIndex          // the twins as a column index for queries (query_index.go)
	budget  budget              // device requests admitted and not yet answered (budget.go)

	// Reused by the owner from batch to batch (the store copies what it is given).
	dirty   map[string]struct{} // txn.dirty
	encBuf  []byte              // the batch's keys and marshalled twins
	encRecs []store.Record      // the batch's store records
}

// compQueue is a shard's queue of device completions (answers). It is unbounded so that
// the store's committer, which pushes to it from its done callbacks, never waits: writing
// answers may wait (on a client), and a committer waiting on it would stop every commit of
// the hub.
type compQueue struct {
	mu     sync.Mutex
	q      []func()
	closed bool
	wake   chan struct{} // capacity 1
}

func (c *compQueue) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *compQueue) push(fn func()) {
	c.mu.Lock()
	c.q = append(c.q, fn)
	c.mu.Unlock()
	c.signal()
}

// close makes run return once the queue is empty.
func (c *compQueue) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.signal()
}

// run runs the queued completions in order until the queue is closed and empty.
func (c *compQueue) run() {
	var batch []func()
	for {
		c.mu.Lock()
		batch, c.q = c.q, batch[:0]
		closed := c.closed
		c.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-c.wake
			continue
		}
		for _, fn := range batch {
			fn()
		}
		clear(batch)
	}
}

// kv is one store write: Value nil deletes Key.
type kv struct {
	Key   string
	Value []byte
}

// txn collects what a batch of operations did: twins to write, other writes, and what to
// run right after the batch (now) or after the commit, with the commit's error: on the
// committing goroutine in commit order (inOrder: back-end completions and every event), or
// on the shard's completion runner (done: device answers).
type txn struct {
	h       *Hub
	s       *shard
	dirty   map[string]struct{} // twins to write as they are at the end of the batch (absent = delete)
	writes  []kv
	now     []func()
	inOrder []func(err error)
	done    []func(err error)
	backEnd bool // applying a back-end (priority lane) operation
}

// markDirty schedules the twin id (as it is at the end of the batch) for writing.
func (tx *txn) markDirty(id string) {
	if tx.dirty == nil {
		if tx.s.dirty == nil {
			tx.s.dirty = make(map[string]struct{})
		}
		tx.dirty = tx.s.dirty
	}
	tx.dirty[id] = struct{}{}
	tx.s.qi.changed(id)
}

// afterCommit runs fn once the batch is durable (err nil) or failed. fn must not block.
// A back-end operation's fn runs on the store's commit goroutine, in commit order with
// every event (onCommit): a desired notification does not wait for the answers of earlier
// device batches. A device operation's fn (its answer) runs on the shard's completion
// runner, in commit order with the other device answers.
func (tx *txn) afterCommit(fn func(err error)) {
	if tx.backEnd {
		tx.inOrder = append(tx.inOrder, fn)
		return
	}
	tx.done = append(tx.done, fn)
}

// onCommit runs fn on the store's commit goroutine once the batch is durable or failed, in
// commit order with back-end completions, before the batch's device answers: for events,
// which must leave in the order of the changes. fn must be short and must not block.
func (tx *txn) onCommit(fn func(err error)) { tx.inOrder = append(tx.inOrder, fn) }

// runBackEnd applies a back-end operation.
func (tx *txn) runBackEnd(op func(*txn)) {
	tx.backEnd = true
	op(tx)
	tx.backEnd = false
}

// afterApply runs fn right after the batch is applied, before the commit: for answers
// that need no durability (reads, refusals).
func (tx *txn) afterApply(fn func()) { tx.now = append(tx.now, fn) }

// shardFor returns the shard owning device id.
func (h *Hub) shardFor(id string) *shard {
	return h.shards[maphash.String(h.seed, id)%uint64(len(h.shards))]
}

// submit hands op to the owner of device id. It blocks only while the owner's queue is
// full (back-pressure), and returns false when the hub is closing or its store has failed
// (answer h.refusal()).
func (h *Hub) submit(id string, op func(*txn)) bool {
	if h.failed.Load() != nil {
		return false
	}
	select {
	case h.shardFor(id).in <- op:
		return true
	case <-h.quit:
		return false
	}
}

// submitPriority is submit for back-end operations (service writes, registry): they go
// ahead of the device operations already queued, so that a desired change reaches a busy
// device without waiting behind thousands of reported patches.
func (h *Hub) submitPriority(id string, op func(*txn)) bool {
	if h.failed.Load() != nil {
		return false
	}
	select {
	case h.shardFor(id).prio <- op:
		return true
	case <-h.quit:
		return false
	}
}

// prioCheck is how many device operations an owner applies between looks at the priority
// lane: a back-end write that arrives during a batch of device operations ends the batch
// early (it is committed at once) instead of waiting for the rest of it.
const prioCheck = 16

// runShard is the owner loop of one shard. The priority lane is looked at first, so that
// a back-end write waiting together with device operations is applied and committed ahead
// of them in a batch of its own; after such a batch, queued device operations get the
// next turn, so that a stream of back-end writes cannot starve them.
func (h *Hub) runShard(s *shard) {
	defer h.wg.Done()
	lastPrio := false
	for {
		if lastPrio { // device operations' turn after a priority batch
			select {
			case op := <-s.in:
				h.runBatch(s, op, false, false)
				lastPrio = false
				continue
			default:
			}
		}
		select { // the priority lane first
		case op := <-s.prio:
			h.runBatch(s, op, true, false)
			lastPrio = true
			continue
		case <-h.quit:
			h.runBatch(s, nil, false, true)
			return
		default:
		}
		select {
		case op := <-s.prio:
			h.runBatch(s, op, true, false)
			lastPrio = true
		case op := <-s.in:
			h.runBatch(s, op, false, false)
			lastPrio = false
		case <-h.quit:
			h.runBatch(s, nil, false, true)
			return
		}
	}
}

// runBatch applies first and the back-end operations queued in the priority lane, then
// commits. A batch that starts with a back-end operation (fromPrio) holds only those, so
// that their commit does not wait for device operations; otherwise it also takes device
// operations up to maxBatch, stopping early when a back-end operation arrives. The final
// batch applies everything queued and also writes the activity not yet stored.
func (h *Hub) runBatch(s *shard, first func(*txn), fromPrio, final bool) {
	tx := &txn{h: h, s: s}
	s.mu.Lock()
	switch {
	case first == nil:
	case fromPrio:
		tx.runBackEnd(first)
	default:
		first(tx)
	}
prio:
	for {
		select {
		case op := <-s.prio:
			tx.runBackEnd(op)
		default:
			break prio
		}
	}
drain:
	for n := 1; final || !fromPrio && n < maxBatch; n++ {
		if !final && n%prioCheck == 0 && len(s.prio) > 0 {
			break
		}
		select {
		case op := <-s.in:
			op(tx)
		default:
			break drain
		}
	}
	if final {
		for id := range s.touched {
			tx.markDirty(id)
		}
	}
	recs := tx.collect()
	s.mu.Unlock()
	for _, fn := range tx.now {
		fn()
	}
	if len(recs) == 0 {
		tx.committed(nil)
		return
	}
	h.st.st.ApplyAsync(recs, tx.committed)
	s.recycle()
}

// committed runs on the store's commit goroutine: the batch's back-end completions and
// events at once, in commit order, and its device answers through the completion runner,
// so that the next commit does not wait for them.
func (tx *txn) committed(err error) {
	if err != nil {
		tx.h.storeFailed(fmt.Errorf("group commit: %w", err))
	}
	for _, fn := range tx.inOrder {
		fn(err)
	}
	if len(tx.done) > 0 {
		tx.s.comp.push(func() {
			for _, fn := range tx.done {
				fn(err)
			}
		})
	}
}

// runCompletions runs the completions (answers, notifications, events) of a shard's
// committed batches, in order, off the store's commit goroutine so that the next fsync
// does not wait for them.
func (h *Hub) runCompletions(s *shard) {
	defer h.compWG.Done()
	s.comp.run()
}

// maxRetainedEnc: an owner's encoding buffer larger than this (a batch of huge twins, the
// final batch) is dropped after use rather than kept.
const maxRetainedEnc = 4 << 20

// collect encodes the batch's store records (under the shard lock): the other writes,
// then every dirty twin as it is now. The keys and twins go into the shard's reused
// buffer, valid until the next batch: the store copies the records when they are queued.
func (tx *txn) collect() []store.Record {
	s := tx.s
	buf, recs := s.encBuf[:0], s.encRecs[:0]
	for _, w := range tx.writes {
		recs = append(recs, store.Record{Key: []byte(w.Key), Value: w.Value, Delete: w.Value == nil})
	}
	for id := range tx.dirty {
		d := s.docs[id]
		delete(s.touched, id)
		k := len(buf)
		buf = append(append(buf, twinPrefix...), id...)
		v := len(buf)
		if d == nil {
			recs = append(recs, store.Record{Key: buf[k:v:v], Delete: true})
			continue
		}
		buf = d.AppendJSON(buf)
		// buf may have moved: the slices taken before keep the old array, which nothing
		// writes to again.
		recs = append(recs, store.Record{Key: buf[k:v:v], Value: buf[v:len(buf):len(buf)]})
	}
	clear(tx.dirty)
	s.encBuf, s.encRecs = buf, recs
	return recs
}

// recycle keeps the shard's encoding buffers for the next batch unless they grew large.
func (s *shard) recycle() {
	if cap(s.encBuf) > maxRetainedEnc {
		s.encBuf, s.encRecs = nil, nil
	}
	clear(s.encRecs)
}

// Store keys.
const (
	twinPrefix  = "twin/"
	identPrefix = "ident/"
	seqKey      = "meta/connseq"
)

func twinKey(id string) string  { return twinPrefix + id }
func identKey(id string) string { return identPrefix + id }

// storeFailed records the first failed store write. A failed commit leaves the twins in
// memory ahead of the disk, and Pebble errors are not transient, so from then on the hub
// refuses every twin operation (503, see refusal) rather than serve or build on changes
// that are not on disk. Restarting the hub reloads what is durable.
func (h *Hub) storeFailed(err error) {
	if h.failed.CompareAndSwap(nil, &err) {
		h.log.Error("store write failed; the hub refuses all twin requests from now on (503): restart it", "err", err)
	}
}

// refusal is the error for an operation the hub no longer takes: the store failed, or the
// hub is closing.
func (h *Hub) refusal() *Error {
	if p := h.failed.Load(); p != nil {
		return &Error{Status: 503, Code: CodeShuttingDown,
			Message: fmt.Sprintf("the hub's store failed (%v); the hub takes no requests until it is restarted", *p)}
	}
	return errShuttingDown
}
