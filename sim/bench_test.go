package sim

import (
	"context"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
)

// The console's demo fleet: 200 devices connecting over TLS (provisioned beforehand, as on
// a second start), until every one has connected.
func BenchmarkStart200(b *testing.B) {
	h, err := hub.New(hub.Config{DataDir: b.TempDir(), Hostname: "localhost", TLSAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Start(); err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	o := Options{Count: 200, Seed: 1, FlakyRate: 0.04, FailureRate: 0.08}
	conns, err := Provision(context.Background(), hubRegistry{h}, o)
	if err != nil {
		b.Fatal(err)
	}
	s := &simHub{h: h}
	s.dial.URL, s.dial.CAFile = "mqtts://"+h.TLSAddr().String(), h.CAFile()
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		f, err := Run(context.Background(), o, conns, s.dial)
		if err != nil {
			b.Fatal(err)
		}
		<-f.Ready()
		total += time.Since(start)
		if st := f.Stats(); st.Errors > 0 {
			b.Logf("start took %v with %d connection errors (last: %v)", time.Since(start), st.Errors, st.LastError)
		}
		b.StopTimer()
		_ = f.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready")
}

// Provisioning 200 new devices (identity + tags, each durable) through the Go API seam.
func BenchmarkProvision200(b *testing.B) {
	for i := range b.N {
		b.StopTimer()
		h, err := hub.New(hub.Config{DataDir: b.TempDir(), Hostname: "localhost", PlainAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Start(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := Provision(context.Background(), hubRegistry{h}, Options{Count: 200, Seed: int64(i)}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		h.Close()
		b.StartTimer()
	}
}
