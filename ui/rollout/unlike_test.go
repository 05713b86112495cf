package rollout

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// TestRolloutWarnsOfValuesUnlikeTheCurrentOnes: the review warns when the new value is not
// of the kind the devices hold at the path (the test fleet holds version strings like
// "1.4.2" at firmware.version and the number 30 at telemetry.interval).
func TestRolloutWarnsOfValuesUnlikeTheCurrentOnes(t *testing.T) {
	tests := map[string]struct {
		path, value string
		want        string // in the review; "" for no such warning
	}{
		"version like the others":          {"firmware.version", "2.1.0", ""},
		"longer numbers, same shape":       {"firmware.version", "10.20.300", ""},
		"a number for a version string":    {"firmware.version", "2.1", "hold strings here"},
		"the number in quotes, but short":  {"firmware.version", `"2.1"`, "shaped unlike"},
		"first digit lost":                 {"firmware.version", ".1.0", "shaped unlike"},
		"a word for a number":              {"telemetry.interval", "fast", "hold numbers here"},
		"a number for a number":            {"telemetry.interval", "60", ""},
		"a new property has nothing to go": {"firmware.channel", "beta", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := setup(t, 8)
			m = press(m, "up") // the path field, its value selected
			m = typeIn(m, tc.path)
			m = press(m, "tab")
			m = typeIn(m, tc.value)
			m = press(m, "enter")
			if m.phase != phaseConfirm {
				t.Fatalf("phase %d err %q", m.phase, m.err)
			}
			out := ansi.Strip(m.View())
			for _, w := range []string{"hold strings here", "hold numbers here", "shaped unlike"} {
				if got, want := strings.Contains(out, w), w == tc.want; got != want {
					t.Fatalf("warning %q shown %v, want %v:\n%s", w, got, want, out)
				}
			}
		})
	}
}

func TestShape(t *testing.T) {
	for in, want := range map[string]string{"1.4.2": "9.9.9", "10.0.12": "9.9.9", "5m": "9a", "2.1.0-rc1": "9.9.9-a9", "": "", "éa": "éa"} {
		if got := shape(in); got != want {
			t.Errorf("shape(%q) = %q, want %q", in, got, want)
		}
	}
}
