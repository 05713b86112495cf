package common

import (
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// TestReplaceHistoryShowsRemovals: a replace drops what its section leaves out, and the
// twin's history says so (a merge-patch reading saw "no value changed"), also when the
// same batch changed the section before the replace.
func TestReplaceHistoryShowsRemovals(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		before []Event // earlier events of the same batch
		next   map[string]any
		want   []string // path old→new, "-" for removed
	}{
		"replace without a drops a.b": {
			next: map[string]any{"x": 1.0},
			want: []string{"desired.a.b -1", "desired.k -v"},
		},
		"replace keeping a.b, changing k": {
			next: map[string]any{"a": map[string]any{"b": 1.0}, "k": "w"},
			want: []string{"desired.k v→w"},
		},
		"earlier patch in the batch added c, replace drops it": {
			before: []Event{{Time: at, DeviceID: "p", Kind: "desired", Version: 3, Patch: map[string]any{"c": 2.0, "k": nil}}},
			next:   map[string]any{"a": map[string]any{"b": 1.0}},
			want:   []string{"desired.c -2"},
		},
		"plain patch never removes": {
			before: nil,
			next:   nil,
			want:   nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewStore()
			d := &twin.Doc{DeviceID: "p", Version: 2, Desired: twin.Props{Values: map[string]any{"a": map[string]any{"b": 1.0}, "k": "v"}}}
			s.Apply(Batch{Twins: map[string]*twin.Doc{"p": d}})
			evs := append([]Event{}, tc.before...)
			if tc.next != nil {
				evs = append(evs, Event{Time: at, DeviceID: "p", Kind: "desired", Version: 4, Op: OpReplace, Patch: tc.next})
			} else {
				evs = append(evs, Event{Time: at, DeviceID: "p", Kind: "desired", Version: 4, Patch: map[string]any{"x": 1.0}})
			}
			s.Apply(Batch{Events: evs})
			h := s.History("p")
			var got []string
			for _, l := range h[len(h)-1].Lines {
				switch {
				case l.Deleted:
					got = append(got, l.Path+" -"+Plain(l.Old))
				case l.HadOld:
					got = append(got, l.Path+" "+Plain(l.Old)+"→"+Plain(l.New))
				}
			}
			if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
				t.Fatalf("last history entry %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFailedDeviceCountedOnce: a device whose firmware update failed while its desired
// version is still unreported counts as failed, not also as pending; a device with the
// same pending change that did not fail counts as pending.
func TestFailedDeviceCountedOnce(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		status string
		want   Counts
	}{
		"failed":      {"failed", Counts{Total: 1, Failed: 1}},
		"downloading": {"downloading", Counts{Total: 1, Pending: 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := doc("p", at, map[string]any{"firmware": map[string]any{"version": "1.0", "status": tc.status}})
			if err := d.Patch(twin.Desired, map[string]any{"firmware": map[string]any{"version": "2.0"}}, at.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if sum := twin.Summarize(d); sum.Pending == 0 {
				t.Fatalf("setup: %+v has nothing pending", sum)
			}
			s := NewStore()
			s.Apply(Batch{Twins: map[string]*twin.Doc{"p": d}})
			if c := s.Counts(); c != tc.want {
				t.Fatalf("counts %+v, want %+v", c, tc.want)
			}
			s.Apply(Batch{Twins: map[string]*twin.Doc{"p": nil}})
			if c := s.Counts(); c != (Counts{}) {
				t.Fatalf("after delete %+v, want zero", c)
			}
		})
	}
}
