package hub

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCompQueueNeverBlocks checks that pushing completions never waits for the runner
// (the store's committer pushes them) and that they run in order.
func TestCompQueueNeverBlocks(t *testing.T) {
	c := compQueue{wake: make(chan struct{}, 1)}
	const n = 10000
	var got []int
	pushed := make(chan struct{})
	go func() {
		for i := range n {
			c.push(func() { got = append(got, i) })
		}
		close(pushed)
	}()
	select {
	case <-pushed: // no runner yet: a bounded queue would block here
	case <-time.After(waitTimeout):
		t.Fatal("push blocked without a runner")
	}
	c.close()
	done := make(chan struct{})
	go func() { c.run(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after close")
	}
	if len(got) != n {
		t.Fatalf("ran %d completions, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("completion %d ran as %d: out of order", i, v)
		}
	}
}

// TestConnSeqAcrossReservations draws more connection numbers than one reserved block
// (the next block is reserved asynchronously, never under the bus lock with an fsync) and
// checks that a restarted hub continues above every number handed out.
func TestConnSeqAcrossReservations(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	b := h.events
	var last uint64
	b.mu.Lock()
	for range seqBlock + seqBlock/4 {
		s := b.seq()
		if s <= last {
			b.mu.Unlock()
			t.Fatalf("seq %d after %d: not increasing", s, last)
		}
		last = s
	}
	b.mu.Unlock()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if p := h.failed.Load(); p != nil {
		t.Fatalf("store failed: %v", *p)
	}
	h2 := startHub(t, dir)
	h2.events.mu.Lock()
	first := h2.events.seq()
	h2.events.mu.Unlock()
	if first <= last {
		t.Fatalf("after restart seq %d, but %d was handed out before", first, last)
	}
}

// TestStoreFailureIsFatal checks that after a failed commit the hub refuses twin
// operations with 503 instead of serving changes that are not on disk.
func TestStoreFailureIsFatal(t *testing.T) {
	h := startHub(t, t.TempDir())
	createDevice(t, h, "dev1")
	ctx := context.Background()
	if _, err := h.PatchTwin(ctx, "dev1", TwinPatch{Tags: map[string]any{"a": 1.0}, HasTags: true}, ""); err != nil {
		t.Fatalf("PatchTwin before the failure: %v", err)
	}
	_ = h.st.st.Close() // every later commit fails

	_, err := h.PatchTwin(ctx, "dev1", TwinPatch{Tags: map[string]any{"a": 2.0}, HasTags: true}, "")
	if status, _, msg := ErrorStatus(err); err == nil || status != 500 {
		t.Fatalf("PatchTwin whose commit fails: status %d (%q), want 500", status, msg)
	}
	cases := map[string]func() error{
		"PatchTwin": func() error {
			_, err := h.PatchTwin(ctx, "dev1", TwinPatch{Tags: map[string]any{"a": 3.0}, HasTags: true}, "")
			return err
		},
		"GetTwin": func() error {
			_, err := h.GetTwin(ctx, "dev1")
			return err
		},
		"CreateDevice": func() error {
			_, err := h.CreateDevice(ctx, Identity{DeviceID: "dev2"})
			return err
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			err := call()
			var he *Error
			if !errors.As(err, &he) || he.Status != 503 {
				t.Fatalf("%s after a failed commit: %v; want a 503 error", name, err)
			}
		})
	}
}
