package hub

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestScopingHostileFilters(t *testing.T) {
	h := startHub(t, t.TempDir())
	victim := mustDial(t, h, createDevice(t, h, "dev1"))
	thief := mustDial(t, h, createDevice(t, h, "dev2"))
	victim.subscribe("$iothub/twin/res/#", 0)
	victim.subscribe("$iothub/twin/PATCH/properties/desired/#", 0)

	filters := map[string]byte{
		"#":                  0x80,
		"+/#":                0x80,
		"$iothub/#":          0,
		"$iothub/twin/res/#": 0,
		"$iothub/+/PATCH/#":  0x80,
		"$iothub/twin/#":     0,
		"$iothub/twin/res/+": 0x80,
		"$d/" + hex.EncodeToString([]byte("dev1")) + "/#":   0x80,
		"$d/" + hex.EncodeToString([]byte("dev1")) + "/r/#": 0x80,
		"$d/#":                                0x80,
		"$SYS/#":                              0x80,
		"$twinops/events/#":                   0x80,
		"$iothub/methods/POST/#":              0x80,
		"devices/dev1/messages/devicebound/#": 0x80,
		"devices/dev2/messages/devicebound/#": 0x80,
	}
	for f, want := range filters {
		if got := thief.subscribe(f, 0); got != want {
			t.Errorf("SUBACK for %q: %#x, want %#x", f, got, want)
		}
	}

	// The victim's traffic: requests, answers, a desired notification.
	m := victim.request("$iothub/twin/PATCH/properties/reported/?$rid=v1", "v1", `{"secret":1}`)
	if !strings.HasPrefix(m.topic, "$iothub/twin/res/204/") {
		t.Fatalf("victim PATCH: %s", m.topic)
	}
	victim.request("$iothub/twin/GET/?$rid=v2", "v2", "")
	if _, err := h.PatchTwin(context.Background(), "dev1", TwinPatch{Desired: map[string]any{"secret": 2}, HasDesired: true}, "*"); err != nil {
		t.Fatal(err)
	}
	n := victim.nextWith("$iothub/twin/PATCH/properties/desired/")
	if n.topic != "$iothub/twin/PATCH/properties/desired/?$version=2" || n.payload != `{"secret":2,"$version":2}` {
		t.Fatalf("desired notification %q %s", n.topic, n.payload)
	}

	// The thief's own probe answer must be the first thing it receives.
	thief.expectOnlyProbe("probe")
	select {
	case m := <-thief.msgs:
		t.Fatalf("thief received %s %s", m.topic, m.payload)
	default:
	}
}

func TestDevicePublishOutsideDeviceTopics(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	d := mustDial(t, h, x)
	d.subscribe("$iothub/twin/res/#", 0)
	// QoS 0 to a foreign topic is dropped; telemetry is accepted and discarded; the
	// connection stays usable.
	d.publish("$twinops/req/twin.get/?$rid=1", 0, `{"deviceId":"dev1"}`)
	d.publish("devices/dev1/messages/events/", 1, `{"t":1}`)
	d.publish("$iothub/methods/res/200/?$rid=1", 0, `{}`)
	d.expectOnlyProbe("p")
	// QoS 1 to a foreign topic closes the connection (IoT Hub does the same).
	d.c.Publish("devices/dev2/messages/events/", 1, false, "x")
	select {
	case <-d.lost:
	case <-time.After(waitTimeout):
		t.Fatal("QoS 1 publish to another device's topic did not close the connection")
	}
}

func TestSessionSurvivesReconnect(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	d := mustDial(t, h, x)
	d.subscribe("$iothub/twin/res/#", 0)
	d.subscribe("$iothub/twin/PATCH/properties/desired/#", 0)
	d.close()

	// Reconnect with CleanSession=0 and no SUBSCRIBE, as the Node SDK does.
	d2 := mustDial(t, h, x)
	if !d2.c.IsConnected() {
		t.Fatal("not connected")
	}
	m := d2.request("$iothub/twin/GET/?$rid=after", "after", "")
	if !strings.HasPrefix(m.topic, "$iothub/twin/res/200/") {
		t.Fatalf("GET after reconnect: %s", m.topic)
	}
	if _, err := h.PatchTwin(context.Background(), "dev1", TwinPatch{Desired: map[string]any{"x": true}, HasDesired: true}, ""); err != nil {
		t.Fatal(err)
	}
	if n := d2.nextWith("$iothub/twin/PATCH/properties/desired/"); !strings.Contains(n.payload, `"x":true`) {
		t.Fatalf("desired after reconnect: %s", n.payload)
	}
}

func TestSessionSurvivesHubRestart(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	x := createDevice(t, h, "dev1")
	d := mustDial(t, h, x)
	d.subscribe("$iothub/twin/res/#", 0)
	d.subscribe("$iothub/twin/PATCH/properties/desired/#", 0)
	d.close()
	// A clean-session device keeps nothing.
	y := createDevice(t, h, "clean")
	c, err := dialDevice(t, h, "clean", y.Authentication.SymmetricKey.PrimaryKey, dialOpts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	c.subscribe("$iothub/twin/res/#", 0)
	c.close()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := startHub(t, dir)
	d2 := mustDial(t, h2, x) // no SUBSCRIBE, as the Node SDK after a reconnect
	m := d2.request("$iothub/twin/GET/?$rid=r", "r", "")
	if m.topic != "$iothub/twin/res/200/?$rid=r" {
		t.Fatalf("GET after restart: %s", m.topic)
	}
	if _, err := h2.PatchTwin(context.Background(), "dev1", TwinPatch{Desired: map[string]any{"k": 1}, HasDesired: true}, "*"); err != nil {
		t.Fatal(err)
	}
	if n := d2.nextWith("$iothub/twin/PATCH/properties/desired/"); n.payload != `{"k":1,"$version":2}` {
		t.Fatalf("desired after restart: %s", n.payload)
	}

	c2, err := dialDevice(t, h2, "clean", y.Authentication.SymmetricKey.PrimaryKey, dialOpts{clean: true})
	if err != nil {
		t.Fatal(err)
	}
	// Checked on the hub's side: a GET sent before SUBSCRIBE may be answered after the
	// subscription exists (answers are made by the shard's owner, later), so an answer
	// arriving is no proof of a kept subscription.
	cl, ok := h2.srv.Clients.Get("clean")
	if !ok {
		t.Fatal("the clean session's client is not on the hub")
	}
	if n := cl.State.Subscriptions.Len(); n != 0 {
		t.Fatalf("a clean session came back with %d subscriptions: %v", n, cl.State.Subscriptions.GetAll())
	}
	c2.subscribe("$iothub/twin/res/#", 0)
	if m := c2.request("$iothub/twin/GET/?$rid=y", "y", ""); !strings.Contains(m.topic, "$rid=y") {
		t.Fatalf("clean session: %s", m.topic)
	}
}

func TestBackendWrites(t *testing.T) {
	h := startHub(t, t.TempDir())
	ctx := context.Background()
	d := mustDial(t, h, createDevice(t, h, "dev1"))
	d.subscribe("$iothub/twin/PATCH/properties/desired/#", 0)
	if _, err := h.PatchTwin(ctx, "dev1", TwinPatch{Desired: map[string]any{"a": 1, "b": map[string]any{"c": 2, "d": 3}}, HasDesired: true}, ""); err != nil {
		t.Fatal(err)
	}
	if n := d.nextWith("$iothub/twin/PATCH/properties/desired/"); n.payload != `{"a":1,"b":{"c":2,"d":3},"$version":2}` {
		t.Fatalf("patch notification %s", n.payload)
	}
	before, _ := h.GetTwin(ctx, "dev1")

	// Both sections or neither: a valid tags patch with an invalid desired patch changes nothing.
	_, err := h.PatchTwin(ctx, "dev1", TwinPatch{Tags: map[string]any{"ok": true}, Desired: map[string]any{"bad.key": 1}, HasTags: true, HasDesired: true}, "")
	if st, _, _ := ErrorStatus(err); st != 400 {
		t.Fatalf("invalid desired: %v", err)
	}
	after, _ := h.GetTwin(ctx, "dev1")
	if after.Version != before.Version || len(after.Tags) != 0 {
		t.Fatalf("a refused write changed the twin: version %d -> %d, tags %v", before.Version, after.Version, after.Tags)
	}

	// Replace: the device gets the smallest patch (nulls for removed keys).
	doc, err := h.ReplaceTwin(ctx, "dev1", TwinPatch{Desired: map[string]any{"b": map[string]any{"c": 2}, "e": "x"}, HasDesired: true}, before.Etag)
	if err != nil {
		t.Fatal(err)
	}
	n := d.nextWith("$iothub/twin/PATCH/properties/desired/")
	if n.payload != `{"a":null,"b":{"d":null},"e":"x","$version":3}` {
		t.Fatalf("replace notification %s", n.payload)
	}
	if doc.Desired.Version != 3 || len(doc.Desired.Values) != 2 {
		t.Fatalf("replaced desired %+v", doc.Desired)
	}
	// The etag of the replace is now stale.
	if _, err := h.ReplaceTwin(ctx, "dev1", TwinPatch{Tags: map[string]any{}, HasTags: true}, before.Etag); err == nil {
		t.Fatal("stale etag accepted by replace")
	}
	if _, err := h.PatchTwin(ctx, "ghost", TwinPatch{Tags: map[string]any{}, HasTags: true}, ""); err == nil {
		t.Fatal("patch of an unknown device")
	} else if st, code, _ := ErrorStatus(err); st != 404 || code != CodeDeviceNotFound {
		t.Fatalf("unknown device: %d %d", st, code)
	}
}
