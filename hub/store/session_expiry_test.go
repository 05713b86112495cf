package store

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// testNow is the fake clock of the expiry tests (unix seconds).
const testNow = 1_800_000_000

// lazyHook starts a mochi server (no listener) with a lazy session hook on st whose clock
// reads testNow and which was created startedAgo seconds before, without expiry sweeps;
// maxExpiry (if not 0) is the server's MaximumSessionExpiryInterval.
func lazyHook(t *testing.T, st *Store, startedAgo int64, maxExpiry uint32) (*mqtt.Server, *SessionHook) {
	t.Helper()
	return lazyHookSweeping(t, st, startedAgo, maxExpiry, 0)
}

// lazyHookSweeping is lazyHook with expiry sweeps every sweepEvery (0: none).
func lazyHookSweeping(t *testing.T, st *Store, startedAgo int64, maxExpiry uint32, sweepEvery time.Duration) (*mqtt.Server, *SessionHook) {
	t.Helper()
	caps := mqtt.NewDefaultServerCapabilities()
	if maxExpiry != 0 {
		caps.MaximumSessionExpiryInterval = maxExpiry
	}
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: slog.New(slog.DiscardHandler)})
	h := NewLazySessionHook(st, srv, nil)
	h.now = func() time.Time { return time.Unix(testNow, 0) }
	h.started = time.Unix(testNow-startedAgo, 0)
	h.sweepEvery = sweepEvery
	if err := srv.AddHook(h, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, h
}

// testClient is a mochi client of protocol version v (5: with session expiry interval
// expiry) that has read a CONNECT with CleanSession=clean.
func testClient(srv *mqtt.Server, id string, v byte, expiry uint32, clean bool) (*mqtt.Client, packets.Packet) {
	cl := srv.NewClient(nil, "tcp", id, false)
	cl.Properties.ProtocolVersion, cl.Properties.Clean = v, clean
	if v == 5 {
		cl.Properties.Props.SessionExpiryInterval, cl.Properties.Props.SessionExpiryIntervalFlag = expiry, true
	}
	return cl, packets.Packet{Connect: packets.ConnectParams{Clean: clean}}
}

// flushedKeys waits for the store's queued writes and lists the session keys.
func flushedKeys(t *testing.T, st *Store) string {
	t.Helper()
	if err := st.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(storedKeys(t, st))
}

// TestLazyRestoreExpiry: a reconnecting client gets its stored session back unless the
// session expired (MQTT 5 session expiry interval, or the server's maximum, counted from
// the stored disconnect time, or from the hub's start for a record without one, as
// earlier builds wrote); an expired session is deleted and CONNACK says no session.
func TestLazyRestoreExpiry(t *testing.T) {
	cases := map[string]struct {
		version      byte
		expiry       uint32 // MQTT 5 session expiry interval
		disconnected int64  // seconds before now; -1: no disconnect time in the record
		startedAgo   int64  // hub start, seconds before now
		maxExpiry    uint32 // server maximum; 0: mochi's default (never)
		restored     bool
	}{
		"mqtt5 expired":                           {5, 60, 120, 3600, 0, false},
		"mqtt5 not yet expired":                   {5, 3600, 120, 3600, 0, true},
		"mqtt5 earlier build's record, expired":   {5, 60, -1, 120, 0, false},
		"mqtt5 earlier build's record, hub new":   {5, 60, -1, 10, 0, true},
		"mqtt3.1.1 never expires":                 {4, 0, 400 * 24 * 3600, 400 * 24 * 3600, 0, true},
		"mqtt3.1.1 earlier build's record":        {4, 0, -1, 400 * 24 * 3600, 0, true},
		"mqtt3.1.1 server maximum configured":     {4, 0, 120, 3600, 60, false},
		"mqtt3.1.1 within the configured maximum": {4, 0, 30, 3600, 60, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			st := openT(t, t.TempDir())
			defer st.Close()
			rec := storage.Client{ID: "d", T: storage.ClientKey, ProtocolVersion: c.version}
			if c.version == 5 {
				rec.Properties.SessionExpiryInterval, rec.Properties.SessionExpiryIntervalFlag = c.expiry, true
			}
			recs, err := SessionRecords(rec, []storage.Subscription{{Filter: "t/#", Qos: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if c.disconnected >= 0 {
				if recs[0].Value, err = encodeClientAt(rec, testNow-c.disconnected); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Apply(context.Background(), recs...); err != nil {
				t.Fatal(err)
			}
			srv, h := lazyHook(t, st, c.startedAgo, c.maxExpiry)
			cl, pk := testClient(srv, "d", c.version, c.expiry, false)
			h.OnSessionEstablish(cl, pk)
			_, present := h.present.Load("d")
			_, subscribed := cl.State.Subscriptions.Get("t/#")
			if present != c.restored || subscribed != c.restored {
				t.Fatalf("sessionPresent %v, subscribed %v; want %v", present, subscribed, c.restored)
			}
			want := "[s/d| s/d|t/#]"
			if !c.restored {
				want = "[]"
			}
			if got := flushedKeys(t, st); got != want {
				t.Fatalf("stored %s, want %s", got, want)
			}
		})
	}
}

// TestDisconnectRecordsTime: when a persistent connection ends, the disconnect time is
// stored with the session if the session can expire (MQTT 5), and not for MQTT 3.1.1
// sessions, which never expire with mochi's default maximum.
func TestDisconnectRecordsTime(t *testing.T) {
	cases := map[string]struct {
		version byte
		want    int64 // stored disconnect time
	}{
		"mqtt5":     {5, testNow},
		"mqtt3.1.1": {4, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			st := openT(t, t.TempDir())
			defer st.Close()
			srv, h := lazyHook(t, st, 0, 0)
			cl, pk := testClient(srv, "d", c.version, 600, false)
			h.OnSessionEstablish(cl, pk)
			h.OnSessionEstablished(cl, pk)
			h.OnDisconnect(cl, nil, false)
			if got := flushedKeys(t, st); got != "[s/d|]" {
				t.Fatalf("stored %s", got)
			}
			v, err := st.Get(sessionKey("d"))
			if err != nil {
				t.Fatal(err)
			}
			got, at, err := decodeClientAt("d", v)
			if err != nil || at != c.want || got.ProtocolVersion != c.version {
				t.Fatalf("stored client %+v at %d, %v; want at %d", got, at, err, c.want)
			}
		})
	}
}

// TestStaleConnectionWritesDropped: the writes of a connection that a newer connection of
// its id has replaced are dropped, so a persistent connection's record written after a
// clean reconnect's forget leaves nothing stored; and its late disconnect neither
// records nor forgets anything.
func TestStaleConnectionWritesDropped(t *testing.T) {
	st := openT(t, t.TempDir())
	defer st.Close()
	srv, h := lazyHook(t, st, 0, 0)
	old, oldPk := testClient(srv, "d", 4, 0, false)
	h.OnSessionEstablish(old, oldPk)
	clean, cleanPk := testClient(srv, "d", 4, 0, true)
	h.OnSessionEstablish(clean, cleanPk)
	h.OnSessionEstablished(old, oldPk) // after the clean connect: dropped
	h.OnSubscribed(old, packets.Packet{Filters: packets.Subscriptions{{Filter: "t/#"}}}, []byte{0})
	h.OnDisconnect(old, nil, false)
	if got := flushedKeys(t, st); got != "[]" {
		t.Fatalf("stale connection's writes stored: %s", got)
	}

	next, nextPk := testClient(srv, "d", 4, 0, false)
	h.OnSessionEstablish(next, nextPk)
	h.OnSessionEstablished(next, nextPk)
	h.OnDisconnect(clean, nil, true) // the clean connection ends late: must not forget next's session
	if got := flushedKeys(t, st); got != "[s/d|]" {
		t.Fatalf("stored %s, want the newest connection's record", got)
	}
}

func TestClientAtCodec(t *testing.T) {
	c := storage.Client{ID: "d", T: storage.ClientKey, ProtocolVersion: 4}
	for name, at := range map[string]int64{"none": 0, "set": testNow} {
		t.Run(name, func(t *testing.T) {
			v, err := encodeClientAt(c, at)
			if err != nil {
				t.Fatal(err)
			}
			got, gotAt, err := decodeClientAt("d", v)
			if err != nil || gotAt != at || !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip: %+v at %d, %v", got, gotAt, err)
			}
			if _, err := decodeClient("d", v); (err == nil) != (at == 0) {
				t.Fatalf("decodeClient of a record with a disconnect time: %v", err)
			}
		})
	}
	for name, v := range map[string][]byte{"truncated": {fmtTimedClient}, "nested": {fmtTimedClient, 1, fmtTimedClient, 1, 1, 4, 0, 0, 0, 0}} {
		if _, _, err := decodeClientAt("d", v); err == nil {
			t.Errorf("%s: decoded %q without error", name, v)
		}
	}
}

// seedExpiry stores a session (client record and one subscription) for each id: MQTT 5
// with the given session expiry interval, disconnected the given seconds before testNow
// (-1: no disconnect time, as earlier builds wrote), or MQTT 3.1.1 if expiry is 0.
func seedExpiry(t *testing.T, st *Store, sessions map[string][2]int64) {
	t.Helper()
	for id, s := range sessions {
		c := storage.Client{ID: id, T: storage.ClientKey, ProtocolVersion: 4}
		if s[0] > 0 {
			c.ProtocolVersion = 5
			c.Properties.SessionExpiryInterval, c.Properties.SessionExpiryIntervalFlag = uint32(s[0]), true
		}
		recs, err := SessionRecords(c, []storage.Subscription{{Filter: "t/#"}})
		if err != nil {
			t.Fatal(err)
		}
		if s[1] >= 0 {
			if recs[0].Value, err = encodeClientAt(c, testNow-s[1]); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Apply(context.Background(), recs...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSweepExpired: the lazy hook's sweep deletes stored sessions that expired while their
// clients stayed away, but not unexpired ones, MQTT 3.1.1 ones, nor an expired one whose
// client is connected (its connection decides).
func TestSweepExpired(t *testing.T) {
	st := openT(t, t.TempDir())
	defer st.Close()
	seedExpiry(t, st, map[string][2]int64{
		"expired":    {60, 120},
		"old-format": {60, -1}, // counts from the hub's start, 3600 s ago
		"connected":  {60, 120},
		"fresh":      {3600, 120},
		"mqtt3":      {0, -1},
	})
	srv, h := lazyHook(t, st, 3600, 0)
	cl, _ := testClient(srv, "connected", 5, 60, false)
	h.setCurrent(cl)
	n, err := h.sweepExpired(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("sweep deleted %d sessions, %v; want 2", n, err)
	}
	want := "[s/connected| s/connected|t/# s/fresh| s/fresh|t/# s/mqtt3| s/mqtt3|t/#]"
	if got := flushedKeys(t, st); got != want {
		t.Fatalf("stored %s\nwant %s", got, want)
	}
}

// TestSweepRunsFromStart: a lazy hook with sweeps deletes an expired session on its own
// once the server has started, and Stop ends the sweeps.
func TestSweepRunsFromStart(t *testing.T) {
	st := openT(t, t.TempDir())
	defer st.Close()
	seedExpiry(t, st, map[string][2]int64{"expired": {60, 120}, "fresh": {3600, 120}})
	_, h := lazyHookSweeping(t, st, 0, 0, time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for flushedKeys(t, st) != "[s/fresh| s/fresh|t/#]" {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s, stored %s", flushedKeys(t, st))
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- h.Stop() }() // the server's Close calls it; it waits for the sweeps to end
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not end the sweeps within 10 s")
	}
}

// TestEagerLoadSkipsExpired: mochi's start-up restore (StoredClients/StoredSubscriptions)
// gets neither an expired session nor its subscriptions, and the expired one is deleted.
func TestEagerLoadSkipsExpired(t *testing.T) {
	st := openT(t, t.TempDir())
	defer st.Close()
	seedExpiry(t, st, map[string][2]int64{"expired": {60, 120}, "fresh": {3600, 120}, "mqtt3": {0, -1}})
	h := NewSessionHook(st, nil)
	h.now = func() time.Time { return time.Unix(testNow, 0) }
	clients, err := h.StoredClients()
	if err != nil {
		t.Fatal(err)
	}
	subs, err := h.StoredSubscriptions()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range clients {
		got = append(got, c.ID)
	}
	for _, s := range subs {
		got = append(got, s.Client+"|"+s.Filter)
	}
	if fmt.Sprint(got) != "[fresh mqtt3 fresh|t/# mqtt3|t/#]" {
		t.Fatalf("restored %v", got)
	}
	if keys := flushedKeys(t, st); keys != "[s/fresh| s/fresh|t/# s/mqtt3| s/mqtt3|t/#]" {
		t.Fatalf("stored %s", keys)
	}
}
