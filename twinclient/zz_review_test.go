package twinclient

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// reviewValue is a random JSON value for a patch (nil deletes, outside arrays).
func reviewValue(r *rand.Rand, depth int, inArray bool) any {
	switch n := r.IntN(10); {
	case n < 2 && !inArray:
		return nil
	case n < 4:
		return float64(r.IntN(3))
	case n < 5:
		return fmt.Sprint("s", r.IntN(2))
	case n < 7 && depth < 3:
		a := []any{}
		for range r.IntN(3) {
			a = append(a, reviewValue(r, depth+1, true))
		}
		return a
	case depth < 3:
		return reviewObject(r, depth+1, inArray)
	}
	return true
}

func reviewObject(r *rand.Rand, depth int, inArray bool) map[string]any {
	keys := []string{"a", "b", "fw", "site"}
	m := map[string]any{}
	for range r.IntN(3) + 1 {
		m[keys[r.IntN(len(keys))]] = reviewValue(r, depth, inArray)
	}
	return m
}

// Twins listed through a sharing Decoder (equal tags, nested objects, objects in arrays
// and whole sections are one map) take random patches and replaces through the fleet
// while another goroutine reads every handed-out twin: each twin ends as the same changes
// make it on its own copy, the twins not changed and every handed-out snapshot stay as
// they were, and the race detector sees no write to a map being read.
func TestReviewFleetSharedMapsUnderChanges(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const n = 12
	body := func(id string) []byte {
		d := twin.New(id, now)
		for s, p := range map[twin.Section]map[string]any{
			twin.Tags:     {"site": map[string]any{"b": "43"}, "l": []any{map[string]any{"x": 1.0}}},
			twin.Desired:  {"fw": map[string]any{"a": "1.0"}, "l": []any{map[string]any{"x": 1.0}}},
			twin.Reported: {"fw": map[string]any{"a": "1.0"}, "site": map[string]any{"b": "43"}},
		} {
			if err := d.Patch(s, p, now); err != nil {
				t.Fatal(err)
			}
		}
		d.Etag = "AAAAAAAAAAQ="
		return d.AppendJSON(nil)
	}
	var page []byte
	page = append(page, '[')
	for i := range n {
		if i > 0 {
			page = append(page, ',')
		}
		page = append(page, body(fmt.Sprint("d", i))...)
	}
	page = append(page, ']')
	docs, err := decodePage(&twin.Decoder{ShareValues: true}, listedPage{array: page})
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(context.Background(), &Service{})
	defer f.stop()
	own := map[string]*twin.Doc{} // the oracle: each twin read on its own
	f.mu.Lock()
	for _, d := range docs {
		f.installLocked(d.DeviceID, d)
		var o twin.Doc
		if err := o.UnmarshalJSON(body(d.DeviceID)); err != nil {
			t.Fatal(err)
		}
		own[d.DeviceID] = &o
	}
	f.mu.Unlock()
	orig := string(body("d0")[len(`{"deviceId":"d0"`):])

	snaps := make(chan map[string]*twin.Doc, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the consumer: reads what it was handed while the fleet writes
		defer wg.Done()
		for s := range snaps {
			before := map[string]string{}
			for id, d := range s {
				before[id] = string(d.AppendJSON(nil))
				twin.Summarize(d)
			}
			for id, d := range s {
				if after := string(d.AppendJSON(nil)); after != before[id] {
					t.Errorf("handed-out twin %s changed while held", id)
				}
			}
		}
	}()
	r := rand.New(rand.NewPCG(1, 2))
	for step := range 400 {
		id := fmt.Sprint("d", r.IntN(n/2)) // the second half is never changed
		sec := twin.Section(r.IntN(3))
		op, p := twin.OpPatch, reviewObject(r, 0, false)
		if sec != twin.Reported && r.IntN(4) == 0 {
			op = twin.OpReplace
			for k, v := range p {
				if v == nil {
					delete(p, k)
				}
			}
		}
		at := now.Add(time.Duration(step+1) * time.Second)
		f.mu.Lock()
		ch := twin.Change{DeviceID: id, Version: f.docs[id].doc.Version + 1, Section: sec, Op: op, Patch: p, Time: at}
		f.applyTwinLocked(twinEvent{change: ch}, map[string]struct{}{})
		f.mu.Unlock()
		if err := own[id].ApplyChange(ch); err != nil {
			t.Fatal(err)
		}
		if sec == twin.Reported { // the fleet counts a reported change as activity
			own[id].LastActivityTime = at
		}
		if step >= 40 && step%5 == 0 { // the first changes find nothing handed out yet
			snaps <- f.Snapshot()
		}
	}
	close(snaps)
	wg.Wait()
	for id, d := range f.Snapshot() {
		got, want := string(d.AppendJSON(nil)), string(own[id].AppendJSON(nil))
		if got != want {
			t.Errorf("twin %s in the fleet:\n%s\non its own:\n%s", id, got, want)
		}
		if id >= fmt.Sprint("d", n/2) && len(id) == 2 && got[len(`{"deviceId":"dX"`):] != orig {
			t.Errorf("twin %s was never changed but now reads\n%s", id, got)
		}
	}
}
