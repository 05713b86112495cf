package query

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// The two goal queries of docs/benchmarks/query.md.
const (
	benchGroupBy        = `SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`
	benchSelectiveWhere = `SELECT * FROM devices WHERE tags.region = 'eu-north' AND tags.ring = 'canary' AND properties.reported.firmware.status = 'failed'`
)

// BenchmarkTable100k measures the same queries as BenchmarkQuery100k over the same
// 100,000 twins held in a Table:
//   - Cold: the first query over a fresh Table, which builds the columns it reads;
//   - Warm: the columns exist and no twin changed;
//   - Churn: before each query 1% of the twins (1,000) got a reported patch of their
//     rollout progress in place and were marked with Changed; the query refreshes their
//     rows in the columns it reads. The patches themselves are not timed (they are the
//     hub's cost, not the query's), and they leave the rows the queries select as they
//     were, so that every benchmark sees the same fleet.
//
// cpu-ms/op counts only the timed part, as the wall time does.
func BenchmarkTable100k(b *testing.B) {
	docs := benchFleet(b, 100_000)
	newTable := func() *Table {
		t := NewTable(0)
		for _, d := range docs {
			t.Put(d)
		}
		return t
	}
	for _, c := range []struct{ name, q string }{
		{"GroupBy", benchGroupBy},
		{"SelectiveWhere", benchSelectiveWhere},
		{"GroupByTwoKeys", `SELECT tags.region AS region, properties.reported.firmware.status AS status, COUNT() AS n, AVG(properties.reported.battery) AS battery FROM devices GROUP BY tags.region, properties.reported.firmware.status`},
		{"WhereInStartsWith", `SELECT deviceId FROM devices WHERE tags.model IN ['tx-100', 'gw-510'] AND STARTSWITH(properties.reported.connectivity.ip, '10.1.') AND lastActivityTime > '2026-11-27T00:00:00Z'`},
	} {
		q, err := Parse(c.q)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/Cold", func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				t := newTable()
				b.StartTimer()
				cpu0 := cpuTime()
				runTable(b, t, q)
				cpu += cpuTime() - cpu0
			}
			reportCPU(b, cpu)
		})
		t := newTable()
		runTable(b, t, q)
		b.Run(c.name+"/Warm", func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				runTable(b, t, q)
			}
			reportCPU(b, cpuTime()-cpu0)
		})
		b.Run(c.name+"/Churn1pct", func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				for range len(docs) / 100 {
					d := docs[r.IntN(len(docs))]
					p := map[string]any{"firmware": map[string]any{"progress": float64(r.IntN(101))}}
					if err := d.Patch(twin.Reported, p, now); err != nil {
						b.Fatal(err)
					}
					t.Changed(d.DeviceID)
				}
				b.StartTimer()
				cpu0 := cpuTime()
				runTable(b, t, q)
				cpu += cpuTime() - cpu0
			}
			reportCPU(b, cpu)
		})
	}
}

func runTable(b *testing.B, t *Table, q *Query) {
	res, err := t.Run(q)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(res.Rows)), "rows")
}

func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkTableMemory reports the heap a Table over the 100,000 benchmark twins takes
// (its rows, without the twins) and what one column adds, per row: a low-cardinality
// string column (tags.region), a high-cardinality one (the reported IP address, about
// 100,000 distinct strings) and a time column (lastActivityTime).
func BenchmarkTableMemory(b *testing.B) {
	docs := benchFleet(b, 100_000)
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for b.Loop() {
		h0 := heap()
		t := NewTable(0)
		for _, d := range docs {
			t.Put(d)
		}
		h1 := heap()
		b.ReportMetric(float64(h1-h0)/float64(len(docs)), "table-B/row")
		for _, c := range []struct{ unit, where string }{
			{"region-B/row", `tags.region = 'x'`},
			{"ip-B/row", `properties.reported.connectivity.ip = 'x'`},
			{"time-B/row", `lastActivityTime > '2026-11-27T00:00:00Z'`},
		} {
			q, err := ParseWhere(c.where)
			if err != nil {
				b.Fatal(err)
			}
			before := heap()
			runTable(b, t, q)
			b.ReportMetric(float64(heap()-before)/float64(len(docs)), c.unit)
		}
		runtime.KeepAlive(t)
	}
}
