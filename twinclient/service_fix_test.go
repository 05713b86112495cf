package twinclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A wrong key is refused as not authorized (paho must not fall back to MQTT 3.1 and
// report "unacceptable protocol version"), with a hint about the key and policy.
func TestServiceWrongKeySaysNotAuthorized(t *testing.T) {
	sh := startSvcHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	owner, err := sh.h.ServiceConnectionString("iothubowner")
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := owner[:len(owner)-8] + "AAAAAAA="
	s, err := DialService(ctx, ServiceOptions{URL: sh.url, ConnectionString: wrongKey})
	if err == nil {
		s.Close()
		t.Fatal("connected with a wrong key")
	}
	msg := err.Error()
	if strings.Contains(msg, "protocol version") || !strings.Contains(msg, "not authorized: check the connection string's key and policy") {
		t.Fatalf("wrong key: %v", err)
	}
}

// Replacing a section with {} empties it (an empty map must reach the hub, not be
// dropped as if the section were not named).
func TestServiceReplaceWithEmptySections(t *testing.T) {
	sh := startSvcHub(t)
	s := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	if _, err := s.CreateDevice(ctx, Identity{DeviceID: "pump-1"}); err != nil {
		t.Fatal(err)
	}
	full := Patch{Tags: map[string]any{"ring": "canary"}, Desired: map[string]any{"fan": 3.0}}
	if _, err := s.PatchTwin(ctx, "pump-1", full, ""); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		p               Patch
		tagsN, desiredN int
	}{
		"tags":    {Patch{Tags: map[string]any{}}, 0, 1},
		"desired": {Patch{Desired: map[string]any{}}, 1, 0},
		"both":    {Patch{Tags: map[string]any{}, Desired: map[string]any{}}, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.ReplaceTwin(ctx, "pump-1", full, ""); err != nil {
				t.Fatal(err)
			}
			d, err := s.ReplaceTwin(ctx, "pump-1", tc.p, "")
			if err != nil {
				t.Fatalf("replace with {}: %v", err)
			}
			if len(d.Tags) != tc.tagsN || len(d.Desired.Values) != tc.desiredN {
				t.Fatalf("after replace: tags %v, desired %v; want %d and %d keys", d.Tags, d.Desired.Values, tc.tagsN, tc.desiredN)
			}
			got, err := s.GetTwin(ctx, "pump-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Tags) != tc.tagsN || len(got.Desired.Values) != tc.desiredN {
				t.Fatalf("read back: tags %v, desired %v", got.Tags, got.Desired.Values)
			}
		})
	}
	if _, err := s.ReplaceTwin(ctx, "pump-1", Patch{}, ""); err == nil {
		t.Fatal("a replace naming no section was accepted")
	}
}

// paho runs OnConnectionLost concurrently with the first reconnect attempt, so it may run
// after the new connection is up, and a late onConnect may find the gate open. Neither
// may break the current connection (the gate stays open, the fleet stays synced) or panic.
func TestServiceLateConnectionHandlers(t *testing.T) {
	sh := startSvcHub(t)
	s := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	if _, err := s.CreateDevice(ctx, Identity{DeviceID: "pump-1"}); err != nil {
		t.Fatal(err)
	}
	f := s.Fleet(ctx)
	waitState(t, ctx, f, Synced)
	s.onLost(s.client, errors.New("late notice of an old connection's loss"))
	if st := f.Status().State; st != Synced {
		t.Fatalf("fleet state %v after a late connection-lost notice; want synced", st)
	}
	s.onConnect(s.client) // the gate is open already: must not close it twice
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.GetTwin(short, "pump-1"); err != nil {
		t.Fatalf("request after a late connection-lost notice: %v", err)
	}
}

// A real drop still fails nothing silently: requests come back after the reconnect and the
// fleet lists again.
func TestServiceReconnectsAfterDrop(t *testing.T) {
	sh := startSvcHub(t)
	s := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	f := s.Fleet(ctx)
	waitState(t, ctx, f, Synced)
	gen := s.generation()
	s.dropConn()
	for {
		_, err := s.CreateDevice(ctx, Identity{DeviceID: "after-drop"})
		if err == nil || IsStatus(err, 409) { // 409: an attempt that failed with ErrDisconnected was applied
			break
		}
		if !errors.Is(err, ErrDisconnected) {
			t.Fatalf("create after a drop: %v", err)
		}
	}
	if s.generation() <= gen {
		t.Fatalf("generation %d after a drop; want > %d", s.generation(), gen)
	}
	for f.Get("after-drop") == nil {
		if _, err := f.Next(ctx); err != nil {
			t.Fatalf("fleet never saw the device created after the drop: %v", err)
		}
	}
}

// Fleet called while onConnect is between its subscription and opening the gate: it sees
// no connection, so onConnect must add the event subscription itself.
func TestServiceFleetStartedDuringConnect(t *testing.T) {
	sh := startSvcHub(t)
	s := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	s.mu.Lock()
	s.ready = make(chan struct{}) // as between a reconnect and its SUBACK
	s.mu.Unlock()
	f := s.Fleet(ctx) // sees no connection: leaves the subscription to onConnect
	s.opened(nil)     // onConnect read s.fleet before Fleet set it
	waitState(t, ctx, f, Synced)
	if _, err := s.CreateDevice(ctx, Identity{DeviceID: "late-fleet"}); err != nil {
		t.Fatal(err)
	}
	for f.Get("late-fleet") == nil {
		if _, err := f.Next(ctx); err != nil {
			t.Fatalf("no event reached a fleet started during connect: %v", err)
		}
	}
}

// waitState waits (within ctx) until the fleet reaches want.
func waitState(t *testing.T, ctx context.Context, f *Fleet, want State) {
	t.Helper()
	for f.Status().State != want {
		b, err := f.Next(ctx)
		if err != nil {
			t.Fatalf("fleet never reached %v (now %v): %v", want, f.Status().State, err)
		}
		if b.Status.State == want {
			return
		}
	}
}
