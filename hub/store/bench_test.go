package store

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// BenchmarkApply measures durable (fsynced, acknowledged) writes per second with 1 and
// 1,000 concurrent writers, for 200-byte and 4 KB values. Goal (docs/benchmarks/store.md):
// enough durable writes for the hub's 50,000 reported patches/s with 1,000 devices.
func BenchmarkApply(b *testing.B) {
	for _, size := range []int{200, 4096} {
		for _, writers := range []int{1, 1000} {
			b.Run(fmt.Sprintf("value=%dB/writers=%d", size, writers), func(b *testing.B) {
				benchApply(b, size, writers)
			})
		}
	}
}

func benchApply(b *testing.B, size, writers int) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, size)
	var seq atomic.Uint64
	par := (writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	b.SetParallelism(par)
	b.SetBytes(int64(size))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := make([]byte, 0, 32)
		for pb.Next() {
			key = fmt.Appendf(key[:0], "bench/%016d", seq.Add(1))
			if err := s.Apply(context.Background(), Record{Key: key, Value: value}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	if st.Commits > 0 {
		b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
	}
}

// BenchmarkPebbleDirect is the baseline without our committer: every writer commits its
// own pebble batch with Sync (Pebble's commit pipeline then shares WAL syncs itself).
func BenchmarkPebbleDirect(b *testing.B) {
	for _, size := range []int{200, 4096} {
		b.Run(fmt.Sprintf("value=%dB/writers=1000", size), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			value := make([]byte, size)
			var seq atomic.Uint64
			b.SetParallelism((1000 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.SetBytes(int64(size))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				key := make([]byte, 0, 32)
				for pb.Next() {
					key = fmt.Appendf(key[:0], "bench/%016d", seq.Add(1))
					if err := s.db.Set(key, value, pebble.Sync); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}
