package uitest

import (
	"fmt"
	"time"

	"github.com/twinops/twinops/twin"
)

// Clock is the fixed time every golden test renders at.
var Clock = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// Now returns Clock.
func Now() time.Time { return Clock }

// Fleet returns n deterministic twins: regions, rings and models in tags; firmware
// reported and desired (some pending, some failed); a few disconnected and one disabled.
func Fleet(n int) []*twin.Doc {
	regions := []string{"eu-west", "us-east", "ap-south"}
	rings := []string{"canary", "early", "broad"}
	out := make([]*twin.Doc, 0, n)
	for i := range n {
		id := fmt.Sprintf("dev-%05d", i)
		t0 := Clock.Add(-time.Duration(i%50+10) * time.Minute)
		d := twin.New(id, t0)
		must(d.Patch(twin.Tags, map[string]any{"region": regions[i%3], "ring": rings[(i/3)%3], "model": fmt.Sprintf("x%d", 100+i%4*100)}, t0))
		fw := "1.4.2"
		if i%4 == 0 {
			fw = "1.5.0"
		}
		must(d.Patch(twin.Desired, map[string]any{"firmware": map[string]any{"version": fw}, "telemetry": map[string]any{"interval": 30.0}}, t0))
		t1 := t0.Add(time.Minute)
		rep := map[string]any{"firmware": map[string]any{"version": "1.4.2", "status": "succeeded"}, "telemetry": map[string]any{"interval": 30.0}, "battery": float64(100 - i%90)}
		switch {
		case i%17 == 5:
			rep["firmware"] = map[string]any{"version": "1.4.2", "status": "failed", "error": "checksum mismatch"}
		case i%4 == 0 && i%8 == 0:
			rep["firmware"] = map[string]any{"version": "1.5.0", "status": "succeeded"}
		case i%4 == 0:
			t1 = t0.Add(-time.Minute) // reported before desired: pending
			rep["firmware"] = map[string]any{"version": "1.4.2", "status": "downloading", "progress": 40.0}
		}
		must(d.Patch(twin.Reported, rep, t1))
		if i%7 != 3 {
			d.ConnectionState = "Connected"
		}
		if i == 11 {
			d.Status, d.StatusReason, d.ConnectionState = "disabled", "stolen", "Disconnected"
		}
		d.LastActivityTime = Clock.Add(-time.Duration(i%300) * time.Second)
		out = append(out, d)
	}
	return out
}

func must(err *twin.Error) {
	if err != nil {
		panic(err)
	}
}
