package hub

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// TestRunBatchComposition checks which queued operations one owner batch applies: a batch
// that starts with a back-end (priority) operation holds only priority operations; a
// device batch applies the priority operations first, then device operations up to
// maxBatch, and stops early once a priority operation arrives.
func TestRunBatchComposition(t *testing.T) {
	cases := map[string]struct {
		fromPrio   bool
		prio, dev  int // queued before the batch (besides first)
		prioAtDev  int // the device operation with this index queues a priority operation (-1: none)
		wantRan    int // operations applied, first included
		wantDevRun int // device operations applied, first included when it is one
	}{
		"priority batch holds only priority operations":        {fromPrio: true, prio: 2, dev: 5, prioAtDev: -1, wantRan: 3, wantDevRun: 0},
		"device batch applies priority operations first":       {prio: 1, dev: 5, prioAtDev: -1, wantRan: 7, wantDevRun: 6},
		"device batch stops when a priority operation arrives": {dev: 40, prioAtDev: 3, wantRan: prioCheck, wantDevRun: prioCheck},
		"device batch is bounded by maxBatch":                  {dev: maxBatch + 10, prioAtDev: -1, wantRan: maxBatch, wantDevRun: maxBatch},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := &Hub{log: testLogger()}
			s := &shard{docs: map[string]*twin.Doc{}, in: make(chan func(*txn), maxBatch+64), prio: make(chan func(*txn), 64)}
			var ran []string
			op := func(kind string, i int) func(*txn) {
				return func(*txn) {
					ran = append(ran, fmt.Sprintf("%s%d", kind, i))
					if kind == "d" && i == tc.prioAtDev {
						s.prio <- func(*txn) { ran = append(ran, "late") }
					}
				}
			}
			for i := range tc.prio {
				s.prio <- op("p", i)
			}
			for i := range tc.dev {
				s.in <- op("d", i)
			}
			first := op("d", 1000)
			if tc.fromPrio {
				first = op("p", 1000)
			}
			h.runBatch(s, first, tc.fromPrio, false)
			if len(ran) != tc.wantRan {
				t.Fatalf("applied %d operations %v, want %d", len(ran), ran, tc.wantRan)
			}
			dev := 0
			for _, r := range ran {
				if r[0] == 'd' {
					dev++
				}
			}
			if dev != tc.wantDevRun {
				t.Fatalf("applied %d device operations %v, want %d", dev, ran, tc.wantDevRun)
			}
			// Priority operations queued before the batch come right after first.
			for i := 1; i <= tc.prio; i++ {
				if ran[i][0] != 'p' {
					t.Fatalf("operation %d is %s, want a priority operation: %v", i, ran[i], ran)
				}
			}
			if slices.Contains(ran, "late") {
				t.Fatalf("a priority operation queued during the batch ran in it: %v", ran)
			}
			if left := len(s.in); left != tc.dev-(tc.wantDevRun-btoi(!tc.fromPrio)) {
				t.Fatalf("%d device operations left queued, want %d", left, tc.dev-(tc.wantDevRun-btoi(!tc.fromPrio)))
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCompQueueRunOrPush: a completion handed over with runOrPush runs at once on the
// caller when nothing is pending; behind pending or running completions it is queued and
// runs after them, in order.
func TestCompQueueRunOrPush(t *testing.T) {
	cases := map[string]struct {
		pending  int  // completions queued before (the runner not started yet)
		wantNow  bool // runOrPush ran it before returning
		wantRuns []string
	}{
		"idle queue: runs on the caller": {pending: 0, wantNow: true, wantRuns: []string{"x"}},
		"pending completions go first":   {pending: 2, wantNow: false, wantRuns: []string{"p0", "p1", "x"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := &compQueue{wake: make(chan struct{}, 1)}
			var mu sync.Mutex
			var runs []string
			add := func(s string) func() {
				return func() { mu.Lock(); runs = append(runs, s); mu.Unlock() }
			}
			for i := range tc.pending {
				c.push(add(fmt.Sprintf("p%d", i)))
			}
			c.runOrPush(add("x"))
			mu.Lock()
			ranNow := slices.Contains(runs, "x")
			mu.Unlock()
			if ranNow != tc.wantNow {
				t.Fatalf("ran on the caller: %v, want %v", ranNow, tc.wantNow)
			}
			done := make(chan struct{})
			go func() { c.run(); close(done) }()
			c.close()
			select {
			case <-done:
			case <-time.After(waitTimeout):
				t.Fatal("run did not return after close")
			}
			if !slices.Equal(runs, tc.wantRuns) {
				t.Fatalf("ran %v, want %v", runs, tc.wantRuns)
			}
		})
	}
}

// TestCompQueueInlineWhileRunnerWaits: completions pushed while an inline run is going on
// run after it, and close still ends the runner.
func TestCompQueueInlineWhileRunnerWaits(t *testing.T) {
	c := &compQueue{wake: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() { c.run(); close(done) }()
	var runs []string
	var mu sync.Mutex
	release := make(chan struct{})
	inlineDone := make(chan struct{})
	go func() {
		c.runOrPush(func() {
			<-release
			mu.Lock()
			runs = append(runs, "inline")
			mu.Unlock()
		})
		close(inlineDone)
	}()
	// wait until the inline run holds the queue
	deadline := time.Now().Add(waitTimeout)
	for {
		c.mu.Lock()
		busy := c.busy
		c.mu.Unlock()
		if busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the inline completion never started")
		}
		time.Sleep(time.Millisecond)
	}
	c.push(func() { mu.Lock(); runs = append(runs, "later"); mu.Unlock() })
	c.close()
	close(release)
	<-inlineDone
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after close")
	}
	if !slices.Equal(runs, []string{"inline", "later"}) {
		t.Fatalf("ran %v, want [inline later]", runs)
	}
}
