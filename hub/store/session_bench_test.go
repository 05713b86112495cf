package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// BenchmarkRestoreSessions measures a hub start-up's share for sessions: mochi's Serve
// loading 100,000 stored persistent sessions (a client record and two subscriptions
// each, the Node SDK's twin filters) through SessionHook, with the hub's
// MaximumClientWritesPending (256). Goal: well under the hub's 2 s start-up budget.
func BenchmarkRestoreSessions(b *testing.B) {
	const n = 100_000
	st := seedSessions(b, n)
	defer st.Close()
	b.ResetTimer()
	for range b.N {
		caps := mqtt.NewDefaultServerCapabilities()
		caps.MaximumClientWritesPending = 256
		srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: slog.New(slog.DiscardHandler)})
		if err := srv.AddHook(NewSessionHook(st, nil), nil); err != nil {
			b.Fatal(err)
		}
		cpu0, start := cpuTime(), time.Now()
		if err := srv.Serve(); err != nil {
			b.Fatal(err)
		}
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		if got := len(srv.Clients.GetAll()); got != n {
			b.Fatalf("restored %d sessions, want %d", got, n)
		}
		b.ReportMetric(elapsed.Seconds(), "s/restore")
		b.ReportMetric(cpu.Seconds(), "cpu-s/restore")
		b.StopTimer()
		srv.Close()
		b.StartTimer()
	}
}

// cpuTime is the process's user + system CPU time so far (all goroutines, GC included):
// a figure that the shared machine's load does not inflate the way it does wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStoredSessions is SessionHook's own share of BenchmarkRestoreSessions: reading
// and decoding 100,000 sessions (StoredClients + StoredSubscriptions).
func BenchmarkStoredSessions(b *testing.B) {
	const n = 100_000
	st := seedSessions(b, n)
	defer st.Close()
	h := NewSessionHook(st, nil)
	b.ResetTimer()
	for range b.N {
		cpu0 := cpuTime()
		c, err := h.StoredClients()
		if err != nil {
			b.Fatal(err)
		}
		s, err := h.StoredSubscriptions()
		if err != nil || len(c) != n || len(s) != 2*n {
			b.Fatalf("%d clients, %d subscriptions, %v", len(c), len(s), err)
		}
		b.ReportMetric((cpuTime() - cpu0).Seconds(), "cpu-s/restore")
	}
}

// seedSessions opens a store holding n device sessions (a client record and the Node
// SDK's two twin filters each, scoped as the hub scopes them), compacted as after a
// restart.
func seedSessions(b *testing.B, n int) *Store {
	b.Helper()
	st, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]Record, 0, 3*1000)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("device-%06d", i)
		var subs []storage.Subscription
		for _, f := range []string{"r/#", "d/#"} {
			subs = append(subs, storage.Subscription{Filter: "$d/" + hex.EncodeToString([]byte(id)) + "/" + f})
		}
		rs, err := SessionRecords(storage.Client{ID: id, T: storage.ClientKey, ProtocolVersion: 4, Listener: "tls"}, subs)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rs...)
		if len(recs) == cap(recs) || i == n-1 {
			if err := st.Apply(context.Background(), recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if err := st.db.Compact(context.Background(), []byte(SessionPrefix), prefixEnd([]byte(SessionPrefix)), false); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkLazyReconnectRestore is lazy restore's cost per reconnecting device: the
// OnSessionEstablish lookup and subscription of one stored session among 100,000, and
// the connection's OnDisconnect (MQTT 3.1.1: no write).
func BenchmarkLazyReconnectRestore(b *testing.B) {
	const n = 100_000
	st := seedSessions(b, n)
	defer st.Close()
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 256
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: slog.New(slog.DiscardHandler)})
	h := NewLazySessionHook(st, srv, nil)
	h.sweepEvery = 0 // measured by BenchmarkSweepExpired
	if err := srv.AddHook(h, nil); err != nil {
		b.Fatal(err)
	}
	cpu0, start := cpuTime(), time.Now()
	if err := srv.Serve(); err != nil {
		b.Fatal(err)
	}
	serveWall, serveCPU := time.Since(start), cpuTime()-cpu0
	defer srv.Close()
	var pk packets.Packet
	b.ResetTimer()
	cpuLoop := cpuTime()
	for i := range b.N {
		cl := srv.NewClient(nil, "tls", fmt.Sprintf("device-%06d", i%n), false)
		cl.Properties.ProtocolVersion = 4
		h.OnSessionEstablish(cl, pk)
		if cl.State.Subscriptions.Len() != 2 {
			b.Fatalf("restored %d subscriptions", cl.State.Subscriptions.Len())
		}
		h.present.CompareAndDelete(cl.ID, cl)
		h.OnDisconnect(cl, nil, false) // as when the connection ends (releases the hook's hold on cl)
		for f := range cl.State.Subscriptions.GetAll() {
			srv.Topics.Unsubscribe(f, cl.ID)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpuLoop)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(serveWall.Seconds(), "s/serve")
	b.ReportMetric(serveCPU.Seconds(), "cpu-s/serve")
}

// BenchmarkSweepExpired is the lazy hook's background expiry sweep over 100,000 stored
// sessions none of which has expired (the start-up and hourly cost).
func BenchmarkSweepExpired(b *testing.B) {
	const n = 100_000
	st := seedSessions(b, n)
	defer st.Close()
	h := NewLazySessionHook(st, mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)}), nil)
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		if deleted, err := h.sweepExpired(context.Background()); err != nil || deleted != 0 {
			b.Fatalf("swept %d, %v", deleted, err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e9, "cpu-s/sweep")
}
