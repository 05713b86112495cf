package hub

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// watch collects a hub's events.
func watch(t *testing.T, h *Hub) <-chan Event {
	ch := make(chan Event, 1000)
	cancel := h.Watch(func(e Event) { ch <- e })
	t.Cleanup(cancel)
	return ch
}

func nextEvent(t *testing.T, ch <-chan Event, kind EventKind) Event {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case e := <-ch:
			if e.Kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("no event of kind %d within %v", kind, waitTimeout)
		}
	}
}

func TestEventsAndRestart(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	ev := watch(t, h)
	x := createDevice(t, h, "dev1")
	if e := nextEvent(t, ev, EventIdentity); e.Identity.Op != "created" || e.Identity.DeviceID != "dev1" {
		t.Fatalf("identity event %+v", e.Identity)
	}

	d := mustDial(t, h, x)
	c1 := nextEvent(t, ev, EventConnection).Conn
	if !c1.Connected || c1.DeviceID != "dev1" {
		t.Fatalf("connection event %+v", c1)
	}
	d.subscribe("$iothub/twin/res/#", 0)
	d.request("$iothub/twin/PATCH/properties/reported/?$rid=1", "1", `{"fw":"1.0"}`)
	tw := nextEvent(t, ev, EventTwin).Twin
	if tw.Section != twin.Reported || tw.Version != 2 || tw.Patch["fw"] != "1.0" {
		t.Fatalf("twin event %+v", tw)
	}
	doc, err := h.PatchTwin(context.Background(), "dev1", TwinPatch{Tags: map[string]any{"ring": "canary"}, Desired: map[string]any{"fw": "2.0"}, HasTags: true, HasDesired: true}, "*")
	if err != nil {
		t.Fatal(err)
	}
	e1, e2 := nextEvent(t, ev, EventTwin).Twin, nextEvent(t, ev, EventTwin).Twin
	if e1.Section != twin.Tags || e2.Section != twin.Desired || e2.Version != doc.Version || e1.Version != doc.Version-1 {
		t.Fatalf("twin events %+v %+v for twin version %d", e1, e2, doc.Version)
	}
	// A stale etag changes nothing.
	if _, err := h.PatchTwin(context.Background(), "dev1", TwinPatch{Desired: map[string]any{"fw": "3.0"}, HasDesired: true}, "AAAAAAAAAAE="); err == nil {
		t.Fatal("stale etag accepted")
	} else if st, code, _ := ErrorStatus(err); st != 412 || code != CodePreconditionFailed {
		t.Fatalf("stale etag: %d %d", st, code)
	}
	d.close()
	c2 := nextEvent(t, ev, EventConnection).Conn
	if c2.Connected || c2.Seq <= c1.Seq {
		t.Fatalf("disconnect event %+v after %+v", c2, c1)
	}
	policies := h.Policies()
	last, _ := h.GetTwin(context.Background(), "dev1") // activity of the disconnect: in memory only
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: registry, twin, policies and the connection sequence carry on.
	h2 := startHub(t, dir)
	ev2 := watch(t, h2)
	got, err := h2.GetTwin(context.Background(), "dev1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != doc.Version || got.Reported.Values["fw"] != "1.0" || got.Desired.Values["fw"] != "2.0" || got.Tags["ring"] != "canary" {
		t.Fatalf("twin after restart: version %d, %+v", got.Version, got)
	}
	if d := got.LastActivityTime.Sub(last.LastActivityTime); d < -time.Microsecond || d > time.Microsecond {
		t.Fatalf("last activity after restart %v, before %v: not saved at shutdown", got.LastActivityTime, last.LastActivityTime)
	}
	if got.ConnectionState != "Disconnected" {
		t.Fatalf("connection state after restart %q", got.ConnectionState)
	}
	if p := h2.Policies(); len(p) != len(policies) || p[0].PrimaryKey != policies[0].PrimaryKey {
		t.Fatal("policies changed across a restart")
	}
	fi, err := os.Stat(filepath.Join(dir, "policies.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("policies.json: %v %v", fi.Mode(), err)
	}
	d2 := mustDial(t, h2, x)
	c3 := nextEvent(t, ev2, EventConnection).Conn
	if c3.Seq <= c2.Seq {
		t.Fatalf("sequence went back across a restart: %d after %d", c3.Seq, c2.Seq)
	}
	d2.subscribe("$iothub/twin/res/#", 0)
	m := d2.request("$iothub/twin/GET/?$rid=2", "2", "")
	if !strings.Contains(m.payload, `"fw":"2.0"`) || !strings.Contains(m.payload, `"fw":"1.0"`) {
		t.Fatalf("GET after restart: %s", m.payload)
	}
}

func TestRegistry(t *testing.T) {
	h := startHub(t, t.TempDir())
	ctx := context.Background()
	cases := map[string]struct {
		id     string
		status int
	}{
		"empty":          {"", 400},
		"space":          {"a b", 400},
		"slash":          {"a/b", 400},
		"too long":       {strings.Repeat("a", 129), 400},
		"all specials":   {"a-:.+%_#*?!(),=@;$'", 0},
		"max length":     {strings.Repeat("b", 128), 0},
		"non-ASCII":      {"pümpe", 400},
		"duplicate":      {"a-:.+%_#*?!(),=@;$'", 409},
		"control char":   {"a\x01", 400},
		"plain":          {"pump-7", 0},
		"case differs":   {"PUMP-7", 0},
		"same as plain2": {"pump-7", 409},
		"reserved":       {"inline", 400},
	}
	for _, name := range []string{"empty", "space", "slash", "too long", "all specials", "max length", "non-ASCII", "duplicate", "control char", "plain", "case differs", "same as plain2", "reserved"} {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			x, err := h.CreateDevice(ctx, Identity{DeviceID: c.id})
			if c.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				k := x.Authentication.SymmetricKey
				if k.PrimaryKey == "" || k.SecondaryKey == "" || k.PrimaryKey == k.SecondaryKey || x.Etag == "" || x.GenerationID == "" || x.Status != StatusEnabled {
					t.Fatalf("created identity %+v", x)
				}
				return
			}
			if st, _, _ := ErrorStatus(err); st != c.status {
				t.Fatalf("got %v, want status %d", err, c.status)
			}
		})
	}
	x, _ := h.GetDevice(ctx, "pump-7")
	if _, err := h.UpdateDevice(ctx, Identity{DeviceID: "pump-7", Status: StatusDisabled}, "stale"); err == nil {
		t.Fatal("stale identity etag accepted")
	}
	y, err := h.UpdateDevice(ctx, Identity{DeviceID: "pump-7", Status: StatusDisabled, StatusReason: "maintenance"}, x.Etag)
	if err != nil || y.Status != StatusDisabled || y.StatusReason != "maintenance" || y.Etag == x.Etag {
		t.Fatalf("update: %+v %v", y, err)
	}
	tw, _ := h.GetTwin(ctx, "pump-7")
	if tw.Status != StatusDisabled || tw.StatusReason != "maintenance" || tw.DeviceEtag != y.Etag {
		t.Fatalf("twin does not mirror the identity: %s %s %s", tw.Status, tw.StatusReason, tw.DeviceEtag)
	}
	z, err := h.RegenerateKey(ctx, "pump-7", "primary")
	if err != nil || z.Authentication.SymmetricKey.PrimaryKey == y.Authentication.SymmetricKey.PrimaryKey {
		t.Fatalf("regenerate: %v", err)
	}
	list, next, err := h.ListDevices(ctx, "", 2)
	if err != nil || len(list) != 2 || next == "" {
		t.Fatalf("list page 1: %d %q %v", len(list), next, err)
	}
	rest, next2, _ := h.ListDevices(ctx, next, 0)
	if len(rest) != 2 || next2 != "" || rest[0].DeviceID <= list[1].DeviceID {
		t.Fatalf("list page 2: %d %q", len(rest), next2)
	}
	cs, err := h.DeviceConnectionString(ctx, "pump-7")
	if err != nil || !strings.Contains(cs, "DeviceId=pump-7") || !strings.Contains(cs, z.Authentication.SymmetricKey.PrimaryKey) {
		t.Fatalf("connection string %q %v", cs, err)
	}
	if err := h.DeleteDevice(ctx, "pump-7", "wrong"); err == nil {
		t.Fatal("delete with a stale etag")
	}
	if err := h.DeleteDevice(ctx, "pump-7", z.Etag); err != nil {
		t.Fatal(err)
	}
	if _, err := h.GetDevice(ctx, "pump-7"); err == nil {
		t.Fatal("identity survived delete")
	}
	if _, err := h.GetTwin(ctx, "pump-7"); err == nil {
		t.Fatal("twin survived delete")
	}
}
