package hub

import (
	"context"

	"github.com/twinops/twinops/twin"
)

// TwinPatch is a back-end write to a twin: tags and/or desired properties. For PatchTwin
// they are merge patches; for ReplaceTwin the whole new sections. HasTags/HasDesired say
// which sections the write touches (a nil map with Has set replaces with {}).
type TwinPatch struct {
	Tags, Desired       map[string]any
	HasTags, HasDesired bool
}

// touch records device activity on the twin, in memory only (written with the twin's
// next change, or at shutdown).
func (h *Hub) touch(tx *txn, d *twin.Doc) {
	d.LastActivityTime = h.now()
	if tx.s.touched == nil {
		tx.s.touched = make(map[string]struct{})
	}
	tx.s.touched[d.DeviceID] = struct{}{}
	tx.s.qi.changed(d.DeviceID)
}

// setConnected records a device's connection state on its twin (no disk write) and
// publishes a connection event with the next sequence number. The owner applies it only
// while c is still the device's current connection record (for connected) or no newer
// one has replaced it (for disconnected): after a quick reconnect, the old connection's
// disconnect can reach the owner after the new one's connect, and must not win.
func (h *Hub) setConnected(c *conn, connected bool) {
	id := c.DeviceID
	now := h.now()
	h.submit(id, func(tx *txn) {
		v, ok := h.conns.Load(c.ID)
		current := ok && v.(*conn) == c
		if connected && !current || !connected && ok && !current {
			return // superseded by a newer connection's record
		}
		state := "Disconnected"
		if connected {
			state = "Connected"
		}
		if d := tx.s.docs[id]; d != nil {
			d.ConnectionState = state
			h.touch(tx, d)
		}
		tx.afterApply(func() { h.events.conn(id, connected, now) })
	})
}

// GetTwin returns a copy of device id's twin.
func (h *Hub) GetTwin(ctx context.Context, id string) (*twin.Doc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.failed.Load() != nil {
		return nil, h.refusal() // memory may be ahead of the disk
	}
	s := h.shardFor(id)
	s.mu.RLock()
	d := s.docs[id].Clone()
	s.mu.RUnlock()
	if d == nil {
		return nil, errNotFound(id)
	}
	return d, nil
}

// result is what an owner operation hands back to a waiting API call.
type result struct {
	doc *twin.Doc
	err error
}

// PatchTwin merges p into the twin's tags and/or desired properties, if etag ("" or "*"
// for any) is the twin's current etag. The change is durable when PatchTwin returns; a
// desired change is then pushed to the device if it is connected. Both sections change
// or neither does.
func (h *Hub) PatchTwin(ctx context.Context, id string, p TwinPatch, etag string) (*twin.Doc, error) {
	return h.writeTwin(ctx, id, p, etag, twin.OpPatch)
}

// ReplaceTwin replaces the twin's tags and/or desired properties with p's, under the same
// rules as PatchTwin. The device is notified with the smallest patch from the old desired
// properties to the new ones (nulls for removed keys), so SDKs that merge stay exact.
func (h *Hub) ReplaceTwin(ctx context.Context, id string, p TwinPatch, etag string) (*twin.Doc, error) {
	return h.writeTwin(ctx, id, p, etag, twin.OpReplace)
}

func (h *Hub) writeTwin(ctx context.Context, id string, p TwinPatch, etag, op string) (*twin.Doc, error) {
	if !p.HasTags && !p.HasDesired {
		return nil, errInvalid("the write names neither tags nor desired properties; give at least one")
	}
	done := make(chan result, 1)
	ok := h.submitPriority(id, func(tx *txn) { h.applyWrite(tx, id, p, etag, op, done) })
	if !ok {
		return nil, h.refusal()
	}
	r, err := wait(ctx, h, done)
	if err != nil {
		return nil, err
	}
	return r.doc, r.err
}

// applyWrite runs on the owner: it checks the etag, applies the sections to a copy (so a
// failure of the second leaves the first unapplied), swaps it in and schedules the answer,
// the device notification and the events for after the commit.
func (h *Hub) applyWrite(tx *txn, id string, p TwinPatch, etag, op string, done chan<- result) {
	fail := func(err error) { done <- result{err: err} }
	d := tx.s.docs[id]
	if d == nil {
		fail(errNotFound(id))
		return
	}
	if etag != "" && etag != "*" && unquote(etag) != d.Etag {
		fail(errPrecondition("etag %q is stale: the twin of %q is now at etag %q (version %d); get the twin and retry", etag, id, d.Etag, d.Version))
		return
	}
	now := h.now()
	nd := d.Clone()
	var changes []*twin.Change
	var notify map[string]any
	apply := func(s twin.Section, v map[string]any) *twin.Error {
		if v == nil {
			v = map[string]any{}
		}
		var old map[string]any
		if s == twin.Desired && op == twin.OpReplace {
			old = nd.Desired.Values
		}
		var terr *twin.Error
		if op == twin.OpReplace {
			terr = nd.Replace(s, v, now)
		} else {
			terr = nd.Patch(s, v, now)
		}
		if terr != nil {
			return terr
		}
		changes = append(changes, &twin.Change{DeviceID: id, Version: nd.Version, Section: s, Op: op, Patch: v, Time: now})
		if s == twin.Desired {
			notify = v
			if op == twin.OpReplace {
				notify = twin.MakePatch(old, nd.Desired.Values)
			}
		}
		return nil
	}
	if p.HasTags {
		if terr := apply(twin.Tags, p.Tags); terr != nil {
			fail(terr)
			return
		}
	}
	if p.HasDesired {
		if terr := apply(twin.Desired, p.Desired); terr != nil {
			fail(terr)
			return
		}
	}
	tx.s.docs[id] = nd
	tx.markDirty(id)
	snapshot := nd.Clone()
	desiredVersion := nd.Desired.Version
	tx.afterCommit(func(err error) {
		if err != nil {
			done <- result{err: errInternal("the change to %q could not be stored (%v); it may be lost", id, err)}
			return
		}
		done <- result{doc: snapshot}
		if notify != nil {
			h.notifyDesired(id, notify, desiredVersion)
		}
		for _, c := range changes {
			h.events.twin(c)
		}
	})
}

// unquote removes the quotes HTTP clients put around etags ("\"AAAA\"" -> "AAAA").
func unquote(etag string) string {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag[1 : len(etag)-1]
	}
	return etag
}

// forEachTwin calls fn with every twin, shard by shard, under the shard's read lock: fn
// must not keep d or block.
func (h *Hub) forEachTwin(fn func(d *twin.Doc) bool) {
	for _, s := range h.shards {
		s.mu.RLock()
		for _, d := range s.docs {
			if !fn(d) {
				s.mu.RUnlock()
				return
			}
		}
		s.mu.RUnlock()
	}
}

// TwinCount returns the number of twins.
func (h *Hub) TwinCount() int {
	n := 0
	for _, s := range h.shards {
		s.mu.RLock()
		n += len(s.docs)
		s.mu.RUnlock()
	}
	return n
}
