package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// TestBackEndCompletionsSkipDeviceAnswers: with the shard's completion runner held up
// (device answers waiting), a device's committed patch still produces its event, a
// back-end write still returns and notifies the device, and the events come in commit
// order; the device's answer follows once the runner goes on.
func TestBackEndCompletionsSkipDeviceAnswers(t *testing.T) {
	h := startHub(t, t.TempDir())
	rc, c := dialTwinDevice(t, h, "dev1")
	events := make(chan *twin.Change, 10)
	cancel := h.Watch(func(e Event) {
		if e.Kind == EventTwin {
			events <- e.Twin
		}
	})
	defer cancel()
	release := make(chan struct{})
	h.shardFor(c.DeviceID).comp.push(func() { <-release })
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	nextEvent := func(want twin.Section) {
		t.Helper()
		select {
		case ch := <-events:
			if ch.Section != want {
				t.Fatalf("event for section %v, want %v", ch.Section, want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("no %v event while the completion runner is held up", want)
		}
	}
	rc.publish(topicPatchReported+"?$rid=1", []byte(`{"a":1}`))
	if err := rc.flush(); err != nil {
		t.Fatal(err)
	}
	nextEvent(twin.Reported)
	ctx, cancelCtx := context.WithTimeout(context.Background(), waitTimeout)
	defer cancelCtx()
	if _, err := h.PatchTwin(ctx, "dev1", TwinPatch{Desired: map[string]any{"x": 1.0}, HasDesired: true}, ""); err != nil {
		t.Fatalf("PatchTwin while device answers wait: %v", err)
	}
	nextEvent(twin.Desired)
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	topic, _, err := rc.readPublish()
	if err != nil || !strings.HasPrefix(topic, topicDesiredPatch) {
		t.Fatalf("first message %q (%v), want the desired notification ahead of the held-up answer", topic, err)
	}
	close(release)
	topic, _, err = rc.readPublish()
	if err != nil || !strings.HasPrefix(topic, topicTwinRes+"204/?$rid=1&") {
		t.Fatalf("then %q (%v), want the 204", topic, err)
	}
}
