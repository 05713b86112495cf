package ui

import (
	"testing"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

func TestDifferentIsNotFailed(t *testing.T) {
	tests := map[string]struct {
		desired, reported map[string]any
		wantRow           string
		wantDiff, wantBad int
	}{
		"desired key never reported": {map[string]any{"newKey": 5.0}, map[string]any{"battery": 50.0},
			"≠ differs 1", 1, 3},
		"device reported another value": {map[string]any{"telemetry": map[string]any{"interval": 60.0}},
			map[string]any{"telemetry": map[string]any{"interval": 45.0}}, "≠ differs 1", 1, 3},
		"firmware failed": {nil, map[string]any{"firmware": map[string]any{"status": "failed"}},
			"✗ fw failed", 0, 4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := newTestModel(t, 40, false)
			m = size(t, m, 80, 24)
			d := m.c.Store.Get("dev-00000").Clone()
			if tc.desired != nil {
				if err := d.Patch(twin.Desired, tc.desired, uitest.Clock.Add(1)); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Patch(twin.Reported, tc.reported, uitest.Clock.Add(2)); err != nil {
				t.Fatal(err)
			}
			m = update(t, m, batchMsg{batch: common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}})
			c := m.c.Store.Counts()
			if c.Different != tc.wantDiff || c.Failed != tc.wantBad {
				t.Fatalf("different %d failed %d, want %d and %d", c.Different, c.Failed, tc.wantDiff, tc.wantBad)
			}
			if out := stripANSI(m.Render()); !containsText(out, "dev-00000           ● on  "+tc.wantRow) {
				t.Fatalf("row of dev-00000 does not say %q:\n%s", tc.wantRow, out)
			}
		})
	}
}
