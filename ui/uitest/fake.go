// Package uitest provides what the console's tests and benchmarks share: a fake back end
// that behaves like a hub (etags, 412, merge patches) and a deterministic fleet.
package uitest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// StatusError is a hub error answer with a status, as the real adapter returns.
type StatusError struct {
	Status  int
	Message string
}

// Error returns the message with the status.
func (e *StatusError) Error() string { return fmt.Sprintf("%s (status %d)", e.Message, e.Status) }

// StatusCode returns the status.
func (e *StatusError) StatusCode() int { return e.Status }

// Backend is an in-memory hub. Batches pushed with Push are returned by Next in order;
// PatchTwin applies merge patches with etag checks and pushes the change as a batch.
type Backend struct {
	mu      sync.Mutex
	docs    map[string]*twin.Doc
	queue   chan common.Batch
	Now     func() time.Time
	Patches []PatchCall // every PatchTwin call, in order
	// FailNext, when set, is returned (once) by the next PatchTwin.
	FailNext error
}

// PatchCall records one PatchTwin call.
type PatchCall struct {
	ID    string
	Patch common.Patch
	Etag  string
}

var _ common.Backend = (*Backend)(nil)

// NewBackend returns a fake hub holding docs.
func NewBackend(now func() time.Time, docs ...*twin.Doc) *Backend {
	b := &Backend{docs: map[string]*twin.Doc{}, queue: make(chan common.Batch, 1024), Now: now}
	for _, d := range docs {
		b.docs[d.DeviceID] = d
	}
	return b
}

// InitialBatch is the batch a fresh console would get first: every twin, synced.
func (b *Backend) InitialBatch() common.Batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := common.Batch{Twins: make(map[string]*twin.Doc, len(b.docs)), Status: common.Status{State: common.StateSynced}}
	for id, d := range b.docs {
		out.Twins[id] = d.Clone()
	}
	return out
}

// Push queues a batch for Next.
func (b *Backend) Push(batch common.Batch) { b.queue <- batch }

// Next returns the next pushed batch.
func (b *Backend) Next(ctx context.Context) (common.Batch, error) {
	select {
	case batch := <-b.queue:
		return batch, nil
	case <-ctx.Done():
		return common.Batch{}, ctx.Err()
	}
}

// GetTwin returns a copy of a twin.
func (b *Backend) GetTwin(_ context.Context, id string) (*twin.Doc, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.docs[id]
	if !ok {
		return nil, &StatusError{Status: 404, Message: "device " + id + " not found"}
	}
	return d.Clone(), nil
}

// PatchTwin applies a patch if the etag matches ("*" always does).
func (b *Backend) PatchTwin(_ context.Context, id string, p common.Patch, etag string) (*twin.Doc, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Patches = append(b.Patches, PatchCall{ID: id, Patch: p, Etag: etag})
	if err := b.FailNext; err != nil {
		b.FailNext = nil
		return nil, err
	}
	cur, ok := b.docs[id]
	if !ok {
		return nil, &StatusError{Status: 404, Message: "device " + id + " not found"}
	}
	if etag != "*" && etag != cur.Etag {
		return nil, &StatusError{Status: 412, Message: "etag mismatch: the twin changed"}
	}
	d := cur.Clone()
	if p.Desired != nil {
		if err := d.Patch(twin.Desired, p.Desired, b.Now()); err != nil {
			return nil, err
		}
	}
	if p.Tags != nil {
		if err := d.Patch(twin.Tags, p.Tags, b.Now()); err != nil {
			return nil, err
		}
	}
	b.docs[id] = d
	return d.Clone(), nil
}

// Mutate changes a twin as another writer would (bumping its etag) and returns the new copy.
func (b *Backend) Mutate(id string, s twin.Section, patch map[string]any) *twin.Doc {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.docs[id].Clone()
	if err := d.Patch(s, patch, b.Now()); err != nil {
		panic(err)
	}
	b.docs[id] = d
	return d.Clone()
}

// Info describes the fake hub.
func (b *Backend) Info() common.HubInfo {
	return common.HubInfo{Name: "test hub", URL: "mqtts://test:8883"}
}
