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
// reads testNow and which was created startedAgo seconds before; maxExpiry (if not 0) is
// the server's MaximumSessionExpiryInterval.
func lazyHook(t *testing.T, st *Store, startedAgo int64, maxExpiry uint32) (*mqtt.Server, *SessionHook) {
	t.Helper()
	caps := mqtt.NewDefaultServerCapabilities()
	if maxExpiry != 0 {
		caps.MaximumSessionExpiryInterval = maxExpiry
	}
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: slog.New(slog.DiscardHandler)})
	h := NewLazySessionHook(st, srv, nil)
	h.now = func() time.Time { return time.Unix(testNow, 0) }
	h.started = time.Unix(testNow-startedAgo, 0)
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
