package twinclient

import (
	"sort"
	"sync"
)

// DesiredUpdate is what a Device hands to its OnDesired callback.
type DesiredUpdate struct {
	// Version is the desired $version after the update.
	Version int64
	// Desired is the whole desired section at Version, without $version. The receiver owns
	// it (a fresh copy per update).
	Desired map[string]any
	// Patch is the merge patch from the previously delivered update to this one (null
	// values delete). Nil when Full.
	Patch map[string]any
	// Full is true when the update comes from reading the whole twin (the first delivery,
	// and after a reconnect or a version gap): Desired replaces what the receiver knew.
	Full bool
}

// desiredGate orders desired-property notifications and applies the Azure reconnection
// flow: after every (re)connect the device reads the whole twin, notifications that arrive
// meanwhile are held, and those whose $version is not newer than the twin read are dropped.
// Notifications can arrive out of order (paho runs each handler on its own goroutine), so
// one newer than version+1 is held until the missing ones arrive or a re-read settles it.
// The gate is pure state; the Device guards it with its mutex.
type desiredGate struct {
	version int64                    // desired $version applied so far (0: never read)
	desired map[string]any           // desired at version
	syncing bool                     // a whole-twin read is in flight; hold notifications
	held    map[int64]map[string]any // notifications newer than version+1, or held while syncing
}

// devMaxHeld bounds the held notifications; past it they are dropped and a re-read covers them.
const devMaxHeld = 1024

func newDesiredGate() *desiredGate {
	return &desiredGate{desired: map[string]any{}, syncing: true, held: map[int64]map[string]any{}}
}

// startSync marks a whole-twin read as in flight (after a connect, or to close a gap).
func (g *desiredGate) startSync() { g.syncing = true }

// notify takes a desired notification. It returns the updates to deliver, in order, and
// gap = true when notifications are held waiting for an older one.
func (g *desiredGate) notify(version int64, patch map[string]any) (ups []DesiredUpdate, gap bool) {
	if version <= g.version {
		return nil, len(g.held) > 0 // stale or duplicate: the twin already includes it
	}
	if len(g.held) >= devMaxHeld {
		clear(g.held) // a re-read (which the caller starts on gap) covers everything
	}
	g.held[version] = patch
	if g.syncing {
		return nil, false
	}
	ups = g.drain()
	return ups, len(g.held) > 0
}

// full takes the desired section read with the whole twin. It ends a sync, drops held
// notifications that the read includes and applies the newer ones. first reports whether
// the gate had never been synced: then the read is delivered even if its version is not
// newer, so that the receiver always learns the starting state.
func (g *desiredGate) full(version int64, desired map[string]any) (ups []DesiredUpdate, gap bool) {
	first := g.version == 0
	g.syncing = false
	if version > g.version || first {
		g.version, g.desired = version, desired
		ups = append(ups, DesiredUpdate{Version: version, Desired: devCopyMap(desired), Full: true})
	}
	for v := range g.held {
		if v <= g.version {
			delete(g.held, v)
		}
	}
	ups = append(ups, g.drain()...)
	return ups, len(g.held) > 0
}

// drain applies held notifications that follow version without a gap.
func (g *desiredGate) drain() []DesiredUpdate {
	var ups []DesiredUpdate
	for {
		p, ok := g.held[g.version+1]
		if !ok {
			return ups
		}
		delete(g.held, g.version+1)
		g.version++
		devMergePatch(g.desired, p)
		ups = append(ups, DesiredUpdate{Version: g.version, Desired: devCopyMap(g.desired), Patch: p})
	}
}

// heldVersions lists the held versions in order (tests and logs).
func (g *desiredGate) heldVersions() []int64 {
	vs := make([]int64, 0, len(g.held))
	for v := range g.held {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs
}

// devMergePatch applies a JSON merge patch (RFC 7386) to dst in place: null deletes, objects
// merge recursively, anything else (arrays included) replaces. Patch values are copied.
func devMergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			sub, ok := dst[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dst[k] = sub
			}
			devMergePatch(sub, pv)
		default:
			dst[k] = devCopyValue(v)
		}
	}
}

// devMergePatches composes two merge patches into one with the same effect as a then b. It
// reports false when no single merge patch can say it: b sets an object where a deleted
// or replaced one (a merge patch cannot express "replace this object wholesale").
func devMergePatches(a, b map[string]any) (map[string]any, bool) {
	out := devCopyMap(a)
	for k, v := range b {
		bm, bIsMap := v.(map[string]any)
		av, inA := out[k]
		am, aIsMap := av.(map[string]any)
		switch {
		case bIsMap && aIsMap:
			m, ok := devMergePatches(am, bm)
			if !ok {
				return nil, false
			}
			out[k] = m
		case bIsMap && inA:
			return nil, false
		default:
			out[k] = devCopyValue(v)
		}
	}
	return out, true
}

// devCopyMap copies a JSON object tree.
func devCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = devCopyValue(v)
	}
	return out
}

// devCopyValue copies a JSON value.
func devCopyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return devCopyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = devCopyValue(e)
		}
		return out
	default:
		return v
	}
}

// desiredInbox hands desired updates from paho's goroutines to the one goroutine that
// calls OnDesired. It never blocks the producer: updates not yet taken are coalesced into
// one (latest snapshot, composed patch), so a slow callback sees fewer, larger updates.
type desiredInbox struct {
	mu      sync.Mutex
	pending *DesiredUpdate
	signal  chan struct{} // capacity 1
}

func newDesiredInbox() *desiredInbox { return &desiredInbox{signal: make(chan struct{}, 1)} }

// put queues ups (in order) and wakes the consumer. Never blocks.
func (in *desiredInbox) put(ups []DesiredUpdate) {
	if len(ups) == 0 {
		return
	}
	in.mu.Lock()
	for _, u := range ups {
		in.pending = devCoalesce(in.pending, u)
	}
	in.mu.Unlock()
	select {
	case in.signal <- struct{}{}:
	default:
	}
}

// take returns the pending update, if any.
func (in *desiredInbox) take() (DesiredUpdate, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.pending == nil {
		return DesiredUpdate{}, false
	}
	u := *in.pending
	in.pending = nil
	return u, true
}

// devCoalesce folds u into the pending update p.
func devCoalesce(p *DesiredUpdate, u DesiredUpdate) *DesiredUpdate {
	if p == nil || u.Full {
		return &u
	}
	out := DesiredUpdate{Version: u.Version, Desired: u.Desired, Full: p.Full}
	if !p.Full {
		if out.Patch, out.Full = devMergePatches(p.Patch, u.Patch); !out.Full {
			out.Full, out.Patch = true, nil // not expressible as one patch: hand over the whole
		} else {
			out.Full = false
		}
	}
	return &out
}
