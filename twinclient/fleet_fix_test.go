package twinclient

import (
	"context"
	"testing"
)

// The queue from paho is bounded by bytes: large batch publishes overflow it (and cause a
// re-list) long before their count would.
func TestFleetQueueBoundedByBytes(t *testing.T) {
	f := newFleet(context.Background(), &Service{})
	defer f.stop()
	payload := make([]byte, 1<<20) // shared: the test allocates it once
	for name, tc := range map[string]struct {
		n    int
		over bool
	}{
		"under the bound": {n: maxQueueBytes/(len(payload)+rawEventOverhead+len("batch")) - 1},
		"over the bound":  {n: maxQueueBytes/len(payload) + 1, over: true},
	} {
		t.Run(name, func(t *testing.T) {
			for range tc.n {
				f.enqueue("batch", payload)
			}
			q, over := f.takeQueue(nil)
			if over != tc.over {
				t.Fatalf("%d publishes of %d bytes: overflow %v, want %v", tc.n, len(payload), over, tc.over)
			}
			if !over && len(q) != tc.n {
				t.Fatalf("queued %d of %d", len(q), tc.n)
			}
			if over && len(q) != 0 {
				t.Fatalf("an overflowed queue still holds %d publishes", len(q))
			}
		})
	}
}

// A full event ring drops the oldest events and hands the rest out in order.
func TestFleetRingKeepsNewestInOrder(t *testing.T) {
	for name, extra := range map[string]int{"not full": -10, "full": 0, "wrapped": 7, "wrapped twice": 2*maxRing + 3} {
		t.Run(name, func(t *testing.T) {
			f := newFleet(context.Background(), &Service{})
			defer f.stop()
			total := maxRing + extra
			f.mu.Lock()
			for i := range total {
				f.pushLocked(Event{Version: int64(i)})
			}
			b := f.batchLocked()
			f.pushLocked(Event{Version: -1})
			f.mu.Unlock()
			want := min(total, maxRing)
			if len(b.Events) != want || b.Status.EventsDropped != total-want {
				t.Fatalf("%d events, %d dropped; want %d and %d", len(b.Events), b.Status.EventsDropped, want, total-want)
			}
			for i, ev := range b.Events {
				if ev.Version != int64(total-want+i) {
					t.Fatalf("event %d is version %d; want %d", i, ev.Version, total-want+i)
				}
			}
			if f.ring[0].Version != -1 || len(f.ring) != 1 {
				t.Fatalf("after the batch the ring holds %v", f.ring)
			}
		})
	}
}
