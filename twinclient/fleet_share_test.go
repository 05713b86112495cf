package twinclient

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// Twins listed through a Decoder with ShareValues share equal objects; a change applied
// to one twin must not show in another that shares its maps.
func TestFleetChangeLeavesSharedValuesAlone(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	dec := twin.Decoder{ShareValues: true}
	f := newFleet(context.Background(), &Service{})
	defer f.stop()
	for _, id := range []string{"a", "b"} {
		d := twin.New(id, now)
		for s, p := range map[twin.Section]map[string]any{
			twin.Tags:     {"site": map[string]any{"building": "43"}},
			twin.Desired:  {"fw": map[string]any{"version": "1.0"}},
			twin.Reported: {"fw": map[string]any{"version": "1.0"}},
		} {
			if err := d.Patch(s, p, now); err != nil {
				t.Fatal(err)
			}
		}
		d.Version = 4 // same JSON apart from the id, so the objects are shared
		var got twin.Doc
		if err := dec.Decode(d.AppendJSON(nil), &got); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.installLocked(id, &got)
		f.mu.Unlock()
	}
	b := f.docs["b"].doc
	if reflect.ValueOf(b.Tags["site"]).UnsafePointer() != reflect.ValueOf(f.docs["a"].doc.Tags["site"]).UnsafePointer() {
		t.Fatal("the two twins do not share their tags' site object: nothing to test")
	}
	before := string(b.AppendJSON(nil))
	for name, s := range map[string]twin.Section{"tags": twin.Tags, "desired": twin.Desired, "reported": twin.Reported} {
		t.Run(name, func(t *testing.T) {
			f.mu.Lock()
			defer f.mu.Unlock()
			a := f.docs["a"].doc
			ch := twin.Change{DeviceID: "a", Version: a.Version + 1, Section: s, Op: twin.OpPatch,
				Patch: map[string]any{"site": map[string]any{"building": "44"}, "fw": map[string]any{"version": "2.0"}}, Time: now.Add(time.Minute)}
			f.applyTwinLocked(twinEvent{change: ch}, map[string]struct{}{})
			if f.docs["a"].doc.Version != ch.Version {
				t.Fatalf("change not applied: twin a at version %d", f.docs["a"].doc.Version)
			}
			if after := string(b.AppendJSON(nil)); after != before {
				t.Fatalf("a change to twin a changed twin b:\n%s\n%s", before, after)
			}
		})
	}
}
