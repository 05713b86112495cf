package query

import (
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// fleet is a small fleet covering the cases the tests need: a firmware rollout in
// progress, tags, missing properties, nulls, numbers, arrays and identity fields.
func fleet(t testing.TB) []*twin.Doc {
	t.Helper()
	type spec struct {
		id                string
		tags, des, rep    map[string]any
		connected, disabl bool
		active            time.Time
	}
	specs := []spec{
		{id: "d1", tags: map[string]any{"region": "eu", "ring": "canary", "model": "m1"},
			des:       map[string]any{"firmware": map[string]any{"version": "2.1.0"}},
			rep:       map[string]any{"firmware": map[string]any{"version": "2.0.0", "status": "downloading"}, "battery": 80.0, "connectivity": "wifi", "mixed": "x"},
			connected: true, active: t0},
		{id: "d2", tags: map[string]any{"region": "us", "ring": "canary", "model": "m2"},
			des:       map[string]any{"firmware": map[string]any{"version": "2.1.0"}},
			rep:       map[string]any{"firmware": map[string]any{"version": "2.1.0", "status": "succeeded"}, "battery": 40.0, "connectivity": "wired", "mixed": 3.0},
			connected: true, active: t0.Add(-time.Hour)},
		{id: "d3", tags: map[string]any{"region": "eu", "ring": "broad", "model": "m1"},
			des:    map[string]any{"firmware": map[string]any{"version": "2.1.0"}},
			rep:    map[string]any{"firmware": map[string]any{"version": "2.1.0", "status": "succeeded"}, "battery": 10.0, "connectivity": "cellular", "mixed": true},
			disabl: true, active: t0.Add(-48 * time.Hour)},
		{id: "d4", tags: map[string]any{"region": "eu", "ring": "broad"},
			des: map[string]any{"firmware": map[string]any{"version": "2.0.0"}},
			rep: map[string]any{"battery": 55.5, "mixed": map[string]any{"a": 1.0}, "ips": []any{"10.0.0.4", "fe80::4"}}},
		{id: "d5"},
	}
	var docs []*twin.Doc
	for _, s := range specs {
		d := twin.New(s.id, t0.Add(-72*time.Hour))
		for sec, p := range map[twin.Section]map[string]any{twin.Tags: s.tags, twin.Desired: s.des, twin.Reported: s.rep} {
			if p == nil {
				continue
			}
			if err := d.Patch(sec, p, t0.Add(-2*time.Hour)); err != nil {
				t.Fatalf("fixture %s: %v", s.id, err)
			}
		}
		if s.connected {
			d.ConnectionState = "Connected"
		}
		if s.disabl {
			d.Status = "disabled"
		}
		d.LastActivityTime = s.active
		if s.id == "d4" {
			d.Reported.Values["note"] = nil // a stored null (patches cannot write one)
		}
		docs = append(docs, d)
	}
	// Shuffle so that ordering by deviceId is the query's doing.
	docs[0], docs[4] = docs[4], docs[0]
	docs[1], docs[3] = docs[3], docs[1]
	return docs
}

func seq(docs []*twin.Doc) iter.Seq[*twin.Doc] { return slices.Values(docs) }

// ids returns the device ids a query's WHERE selects, in fleet order sorted.
func ids(q *Query, docs []*twin.Doc) []string {
	var out []string
	for _, d := range docs {
		if q.Match(d) {
			out = append(out, d.DeviceID)
		}
	}
	slices.Sort(out)
	return out
}
