package hub

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// BenchmarkHubQuery100k measures Hub.Query (the service protocol's query, first page of
// up to 1000 rows) over 100,000 twins held by the hub's shards, through their column
// indexes: the first query of each kind (Cold, building the shards' Tables and columns)
// and then each op with 1% of the twins changed in place before it (a reported patch of
// rollout progress and activity, as the owner applies them; not timed). Figures in
// docs/benchmarks/query.md.
func BenchmarkHubQuery100k(b *testing.B) {
	h := startHub(b, b.TempDir())
	docs := hubBenchTwins(b, h, 100_000)
	r := rand.New(rand.NewPCG(5, 6))
	ctx := context.Background()
	for _, c := range []struct{ name, q string }{
		{"GroupBy", `SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`},
		{"SelectiveWhere", `SELECT * FROM devices WHERE tags.region = 'eu-north' AND tags.ring = 'canary' AND properties.reported.firmware.status = 'failed'`},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu0, t0 := cpuTime(), time.Now()
			p, err := h.Query(ctx, c.q, 1000, "")
			if err != nil {
				b.Fatal(err)
			}
			coldWall, coldCPU := time.Since(t0), cpuTime()-cpu0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				for range len(docs) / 100 {
					d := docs[r.IntN(len(docs))]
					s := h.shardFor(d.DeviceID)
					s.mu.Lock()
					if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"progress": float64(r.IntN(101))}}, time.Now()); err != nil {
						b.Fatal(err)
					}
					d.LastActivityTime = time.Now()
					s.qi.changed(d.DeviceID)
					s.mu.Unlock()
				}
				b.StartTimer()
				cpu1 := cpuTime()
				if p, err = h.Query(ctx, c.q, 1000, ""); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - cpu1
			}
			b.ReportMetric(float64(coldWall.Microseconds())/1000, "cold-ms")
			b.ReportMetric(float64(coldCPU.Microseconds())/1000, "cold-cpu-ms")
			b.ReportMetric(float64(len(p.Items)), "rows")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// hubBenchTwins puts n twins shaped like twin/query's benchmark fleet (tags, desired and
// reported firmware) straight into the hub's shards, as a restart's load does.
func hubBenchTwins(b *testing.B, h *Hub, n int) []*twin.Doc {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	docs := make([]*twin.Doc, n)
	for i := range docs {
		d := twin.New(fmt.Sprintf("device-%06d", i), now)
		for s, p := range map[twin.Section]map[string]any{
			twin.Tags: {"region": pick("eu-west", "eu-north", "us-east", "us-west", "ap-south", "ap-east", "sa-east", "af-south"),
				"ring": pick("canary", "early", "broad", "broad", "broad"), "model": pick("tx-100", "tx-200", "gw-500")},
			twin.Desired: {"firmware": map[string]any{"version": pick("2.1.0", "2.0.3")}, "telemetryConfig": map[string]any{"sendFrequency": "5m"}},
			twin.Reported: {"firmware": map[string]any{"version": pick("2.0.3", "2.1.0"), "progress": 0.0,
				"status": pick("succeeded", "succeeded", "succeeded", "downloading", "installing", "rebooting", "failed")},
				"battery": float64(r.IntN(101)), "system": map[string]any{"os": "linux", "uptime": float64(r.IntN(1e6))}},
		} {
			if err := d.Patch(s, p, now); err != nil {
				b.Fatal(err)
			}
		}
		docs[i] = d
		s := h.shardFor(d.DeviceID)
		s.mu.Lock()
		s.docs[d.DeviceID] = d
		s.mu.Unlock()
	}
	return docs
}
