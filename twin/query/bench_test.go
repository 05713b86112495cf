package query

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// benchFleet builds n realistic twins (about 3.7 KB of JSON each with $metadata): tags for region,
// ring, model and location; desired firmware and telemetry configuration; reported
// firmware with rollout status, telemetry echo, battery, radio and system details.
func benchFleet(tb testing.TB, n int) []*twin.Doc {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	regions := []string{"eu-west", "eu-north", "us-east", "us-west", "ap-south", "ap-east", "sa-east", "af-south"}
	rings := []string{"canary", "early", "broad", "broad", "broad"}
	models := []string{"tx-100", "tx-200", "rx-310", "gw-500", "gw-510"}
	statuses := []string{"succeeded", "succeeded", "succeeded", "downloading", "installing", "rebooting", "failed"}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	docs := make([]*twin.Doc, n)
	for i := range docs {
		d := twin.New(fmt.Sprintf("device-%06d", i), now)
		want := "2.1.0"
		if i%2 == 1 {
			want = "2.0.3"
		}
		sensors := make([]any, 3+r.IntN(6))
		for j := range sensors {
			sensors[j] = map[string]any{"id": fmt.Sprintf("s%d", j), "kind": pick([]string{"temp", "humidity", "co2"}), "value": r.Float64() * 100, "unit": "si"}
		}
		patches := map[twin.Section]map[string]any{
			twin.Tags: {
				"region": pick(regions), "ring": pick(rings), "model": pick(models),
				"location": map[string]any{"site": fmt.Sprintf("site-%03d", r.IntN(400)), "floor": float64(r.IntN(12))},
				"owner":    fmt.Sprintf("team-%02d", r.IntN(40)),
			},
			twin.Desired: {
				"firmware":        map[string]any{"version": want, "url": "https://updates.example.com/fw/" + want + ".bin", "sha256": fmt.Sprintf("%064x", r.Uint64())},
				"telemetryConfig": map[string]any{"sendFrequency": "5m", "maxBatch": 50.0, "compress": true},
				"thresholds":      map[string]any{"tempHigh": 45.0, "tempLow": -10.0, "humidityHigh": 90.0},
			},
			twin.Reported: {
				"firmware": map[string]any{
					"version": pick([]string{"2.0.3", "2.1.0", "1.9.8"}), "status": pick(statuses),
					"progress": float64(r.IntN(101)), "lastError": "",
				},
				"telemetryConfig": map[string]any{"sendFrequency": "5m", "maxBatch": 50.0, "compress": true, "status": "applied"},
				"battery":         float64(r.IntN(101)),
				"connectivity":    map[string]any{"type": pick([]string{"wifi", "wired", "cellular"}), "rssi": -float64(40 + r.IntN(60)), "ip": fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))},
				"system":          map[string]any{"os": "linux", "kernel": "6.12.4", "uptime": float64(r.IntN(1e6)), "memFree": float64(r.IntN(1 << 20)), "model": pick(models)},
				"sensors":         sensors,
			},
		}
		for _, s := range []twin.Section{twin.Tags, twin.Desired, twin.Reported} {
			if err := d.Patch(s, patches[s], now.Add(-time.Duration(r.IntN(86400))*time.Second)); err != nil {
				tb.Fatal(err)
			}
		}
		d.ConnectionState = pick([]string{"Connected", "Connected", "Disconnected"})
		d.LastActivityTime = now.Add(-time.Duration(r.IntN(86400)) * time.Second)
		docs[i] = d
	}
	return docs
}

// BenchmarkQuery100k measures the two figures of docs/benchmarks/query.md over 100,000
// twins, plus a few related ones.
func BenchmarkQuery100k(b *testing.B) {
	docs := benchFleet(b, 100_000)
	run := func(name, q string) {
		b.Run(name, func(b *testing.B) {
			query, err := Parse(q)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var rows int
			cpu0 := cpuTime()
			for b.Loop() {
				res, _ := query.Run(seq(docs))
				rows = len(res.Rows)
			}
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
	run("GroupBy", `SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`)
	run("SelectiveWhere", `SELECT * FROM devices WHERE tags.region = 'eu-north' AND tags.ring = 'canary' AND properties.reported.firmware.status = 'failed'`)
	run("GroupByTwoKeys", `SELECT tags.region AS region, properties.reported.firmware.status AS status, COUNT() AS n, AVG(properties.reported.battery) AS battery FROM devices GROUP BY tags.region, properties.reported.firmware.status`)
	run("WhereInStartsWith", `SELECT deviceId FROM devices WHERE tags.model IN ['tx-100', 'gw-510'] AND STARTSWITH(properties.reported.connectivity.ip, '10.1.') AND lastActivityTime > '2026-11-27T00:00:00Z'`)
	run("SelectAll", `SELECT * FROM devices`)

	// The GroupBy over two halves on two goroutines merged, as a hub with shards can run it.
	b.Run("GroupByTwoShards", func(b *testing.B) {
		q, err := Parse(`SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`)
		if err != nil {
			b.Fatal(err)
		}
		cpu0 := cpuTime()
		for b.Loop() {
			half := len(docs) / 2
			done := make(chan *Aggregator)
			for _, part := range [][]*twin.Doc{docs[:half], docs[half:]} {
				go func() {
					a := q.NewAggregator()
					for _, d := range part {
						a.Add(d)
					}
					done <- a
				}()
			}
			a := <-done
			a.Merge(<-done)
			a.Rows()
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	})

	// The floor: the GroupBy query's map lookups written by hand, no query engine. The
	// twins' maps dominate the cost (pointer chasing through ~1 GB of heap).
	b.Run("HandWrittenGroupBy", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			counts := map[string]int{}
			for _, d := range docs {
				if v, _ := twin.Lookup(d.Desired.Values, "firmware", "version"); v == "2.1.0" {
					s, _ := twin.Lookup(d.Reported.Values, "firmware", "status")
					str, _ := s.(string)
					counts[str]++
				}
			}
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	})
}

// cpuTime is the CPU time this process has used (user + system). On a shared machine it
// tells the cost of a query apart from time spent waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParse measures parsing and compiling the rollout query.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(`SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMatchDoesNotAllocate holds the performance design: evaluating plain conditions
// (paths, comparisons, logic, arithmetic, IN, functions) allocates nothing per twin.
func TestMatchDoesNotAllocate(t *testing.T) {
	docs := fleet(t)
	cases := map[string]string{
		"compare strings": `tags.ring = 'canary' AND properties.reported.firmware.version != '2.1.0'`,
		"numbers":         `properties.reported.battery * 2 + 1 > 100 OR version % 2 = 0`,
		"IN":              `properties.reported.connectivity IN ['wired', 'wifi', 'a', 'b', 'c', 'd', 'e', 'f', 'g']`,
		"functions":       `IS_DEFINED(properties.reported.firmware) AND STARTSWITH(deviceId, 'd') AND NOT IS_NULL(tags.region)`,
		"times":           `lastActivityTime > '2026-11-26T00:00:00Z' AND properties.desired.$metadata.firmware.$lastUpdated < '2027-01-01'`,
		"identity":        `status = 'enabled' AND connectionState = 'Connected' AND properties.reported.$version > 1`,
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			q, err := ParseWhere(c)
			if err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				for _, d := range docs {
					q.Match(d)
				}
			})
			if allocs != 0 {
				t.Errorf("%s: %v allocations per pass over %d twins, want 0", c, allocs, len(docs))
			}
		})
	}
}
