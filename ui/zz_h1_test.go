package ui

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twin/query"
	"github.com/twinops/twinops/ui/common"
)

// The fleet's aggregate query reads a column index of the fleet (twin/query.Table) kept
// in step with each batch: after a batch, its rows are those of the query over the
// store's twins.
func TestFleetAggregateFollowsBatches(t *testing.T) {
	const src = "SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices GROUP BY properties.reported.firmware.status"
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 160, 48)
	m = keys(t, m, ":")
	m = typeText(t, m, src)
	m = keys(t, m, "enter")
	want := func() []string {
		q, err := query.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		var docs []*twin.Doc
		m.c.Store.Each(func(d *twin.Doc) { docs = append(docs, d) })
		res, err := q.Run(func(yield func(*twin.Doc) bool) {
			for _, d := range docs {
				if !yield(d) {
					return
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, r := range res.Rows {
			b, _ := json.Marshal(r)
			lines = append(lines, string(b))
		}
		return lines
	}
	check := func(when string) {
		t.Helper()
		view := stripANSI(m.Render())
		for _, line := range want() {
			if !strings.Contains(view, line) {
				t.Fatalf("%s: the view lacks %s:\n%s", when, line, view)
			}
		}
	}
	check("before the batch")
	before := strings.Join(want(), "\n")
	m = update(t, m, batchMsg{batch: liveBatch(m)}) // dev-00004 reports installing
	if strings.Join(want(), "\n") == before {
		t.Fatal("the batch did not change the query's rows; the test shows nothing")
	}
	check("after the batch")
}

// BenchmarkLiveBatchAggregate is BenchmarkLiveBatch with the rollout GROUP BY shown: each
// frame's batch (834 changed twins of 100,000) re-runs the aggregate, through the fleet's
// column index.
func BenchmarkLiveBatchAggregate(b *testing.B) {
	m := loaded(b, 160, 48)
	m = step(m, keyMsg(":"))
	for _, r := range "SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices GROUP BY properties.reported.firmware.status" {
		m = step(m, keyMsg(string(r)))
	}
	m = step(m, keyMsg("enter"))
	docs := bigFleet()
	batches := make([]common.Batch, 16)
	for i := range batches {
		batches[i] = changeBatch(docs, i*834, 834)
	}
	c0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		m = step(m, batchMsg{batch: batches[i%len(batches)]})
		_ = m.Render()
	}
	reportCPU(b, c0)
}
