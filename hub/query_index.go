package hub

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twin/query"
)

// queryIndex keeps a shard's twins in a query.Table (a column index, twin/query), so
// that queries read a few contiguous columns instead of walking every twin's maps.
//
// The owner tells it which twins changed (changed, from txn.markDirty and Hub.touch: an
// insert, a replacement, an in-place change, an activity or connection-state change, or a
// deletion) in O(1): it only notes the id. A query brings the Table in step with the
// shard's docs (table) under the shard's read lock, where the owner cannot change them;
// the Table refreshes the rows of the noted twins in the columns a query reads. Several
// queries may hold the read lock at once: mu (and the Table's own mutex) serialize them.
// The Table is made on the shard's first query, so a hub that is never queried pays
// nothing but an atomic load in changed; that first query (and the first to read a new
// path) builds under the read lock, so the owner's next batch waits for it once.
type queryIndex struct {
	built   atomic.Bool // t != nil: changed need not lock before the first query
	mu      sync.Mutex
	t       *query.Table        // nil until the shard's first query
	pending map[string]struct{} // twins changed since the last query
}

// changed notes that twin id was inserted, replaced, changed in place or deleted. The
// owner calls it under the shard's write lock.
func (x *queryIndex) changed(id string) {
	if !x.built.Load() {
		return
	}
	x.mu.Lock()
	if x.t != nil {
		x.pending[id] = struct{}{}
	}
	x.mu.Unlock()
}

// table returns the shard's Table in step with docs. The caller holds the shard's lock
// (read or write) until it is done with the Table. A Table that drifted from docs (a
// twin added or removed without changed: a bug) is rebuilt, and log says so.
func (x *queryIndex) table(docs map[string]*twin.Doc, log *slog.Logger) *query.Table {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.t != nil {
		for id := range x.pending {
			if d := docs[id]; d != nil {
				x.t.Put(d) // the same twin: marks its row changed
			} else {
				x.t.Delete(id)
			}
		}
		if len(x.pending) > 4096 {
			x.pending = map[string]struct{}{} // let a burst's buckets go
		} else {
			clear(x.pending)
		}
		if x.t.Len() == len(docs) {
			return x.t
		}
		// A twin was added or removed without changed: start again rather than answer
		// from a Table that is not the shard's.
		log.Error("query index out of step with its shard; rebuilding it (a twin change was not noted)",
			"indexed", x.t.Len(), "twins", len(docs))
	}
	x.t = query.NewTable(0)
	for _, d := range docs {
		x.t.Put(d)
	}
	x.pending = map[string]struct{}{}
	x.built.Store(true)
	return x.t
}

// queryIDs returns the ids (unsorted) of the twins after `after` that pass q's WHERE
// condition, reading each shard's column index under its read lock.
func (h *Hub) queryIDs(q *query.Query, after string) []string {
	var ids []string
	for _, s := range h.shards {
		s.mu.RLock()
		for id := range s.qi.table(s.docs, h.log).Select(q) {
			if id > after {
				ids = append(ids, id)
			}
		}
		s.mu.RUnlock()
	}
	return ids
}

// queryGroups runs aggregate query q shard by shard over the column indexes and merges
// the shards' groups. The groups keep nothing of a twin (keys and extremes are copies or
// immutable strings), so they are read after the locks are released.
func (h *Hub) queryGroups(q *query.Query) []any {
	var all *query.Aggregator
	for _, s := range h.shards {
		a := q.NewAggregator()
		s.mu.RLock()
		a.AddTable(s.qi.table(s.docs, h.log))
		s.mu.RUnlock()
		if all == nil {
			all = a
		} else {
			all.Merge(a)
		}
	}
	return all.Rows()
}
