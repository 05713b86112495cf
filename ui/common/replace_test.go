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
