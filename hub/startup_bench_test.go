package hub

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/hooks/storage"

	"github.com/twinops/twinops/hub/store"
	"github.com/twinops/twinops/twin"
)

// BenchmarkStartup100k: New (open the store, load 100,000 twins and identities) and
// Start, with twins of about 1 KB written straight into the store beforehand; with
// sessions=100000 every device also has a stored persistent session (its client record
// and the two twin subscriptions, as the Node SDK leaves them).
func BenchmarkStartup100k(b *testing.B) {
	for _, sessions := range []bool{false, true} {
		name := "sessions=0"
		if sessions {
			name = "sessions=100000"
		}
		b.Run(name, func(b *testing.B) { benchStartup(b, 100_000, sessions) })
	}
}

func benchStartup(b *testing.B, twins int, sessions bool) {
	dir := b.TempDir()
	h := startHub(b, dir) // creates policies, PKI and the store layout
	h.Close()
	seedStartup(b, dir, twins, sessions)
	// One untimed start: Pebble replays and flushes the population's WAL, as a hub that
	// has run for a while would have done long ago.
	if h, err := New(Config{DataDir: dir, Logger: testLogger()}); err == nil {
		h.Close()
	}
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime()
		h, err := New(Config{DataDir: dir, PlainAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", Logger: testLogger()})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Start(); err != nil {
			b.Fatal(err)
		}
		d, c := time.Since(t0), cpuTime()-c0
		if n := h.TwinCount(); n != twins {
			b.Fatalf("loaded %d twins, want %d", n, twins)
		}
		h.Close()
		b.ReportMetric(d.Seconds(), "s-to-start")
		b.ReportMetric(c.Seconds(), "cpu-s-to-start")
	}
}

// seedStartup writes n twins of about 1 KB and their identities (and, with sessions,
// their persistent sessions) straight into the store in dir.
func seedStartup(b *testing.B, dir string, n int, sessions bool) {
	st, err := store.Open(dir+"/store", store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	proto := twin.New("proto", now)
	proto.Patch(twin.Desired, map[string]any{"telemetryConfig": map[string]any{"sendFrequency": "5m"}, "firmware": map[string]any{"version": "2.1.0"}}, now)
	proto.Patch(twin.Reported, map[string]any{"telemetryConfig": map[string]any{"sendFrequency": "5m", "status": "success"},
		"firmware": map[string]any{"version": "2.0.9", "status": "downloading", "progress": 40.0}, "battery": 87.0}, now)
	proto.Patch(twin.Tags, map[string]any{"region": "eu-west", "ring": "canary", "model": "pump-x2"}, now)
	var recs []store.Record
	for i := range n {
		id := "dev-" + strconv.Itoa(i)
		d := proto.Clone()
		d.DeviceID = id
		tb, _ := d.MarshalJSON()
		k1, _ := newKey()
		k2, _ := newKey()
		xb := marshalIdentity(&Identity{DeviceID: id, Status: StatusEnabled, Etag: newIdentityEtag(), GenerationID: newGenerationID(now),
			Authentication: Authentication{Type: "sas", SymmetricKey: SymmetricKey{PrimaryKey: k1, SecondaryKey: k2}}})
		recs = append(recs, store.Record{Key: []byte(twinKey(id)), Value: tb}, store.Record{Key: []byte(identKey(id)), Value: xb})
		if sessions {
			prefix := scopePrefix(kindDevice, id)
			sr, err := store.SessionRecords(storage.Client{ID: id, T: storage.ClientKey, ProtocolVersion: 4, Listener: "tls"},
				[]storage.Subscription{{Filter: prefix + "r/#"}, {Filter: prefix + "d/#"}})
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, sr...)
		}
		if len(recs) >= 2000 {
			if err := st.Apply(context.Background(), recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if err := st.Apply(context.Background(), recs...); err != nil {
		b.Fatal(err)
	}
}
