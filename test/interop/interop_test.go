// Package interop proves that the Azure IoT device SDK for Node.js, unmodified, works
// against a real twinops hub: connection string and CA, twin GET, reported patches,
// desired notifications, and notifications still arriving after the connection was cut
// and restored (the SDK does not re-subscribe, so the hub's persistent sessions carry it).
package interop

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/sas"
	"github.com/twinops/twinops/twin"
)

// step bounds every wait on the Node device; generous because CI machines are shared,
// and the test never relies on it for correctness.
const step = 30 * time.Second

// startHub runs a real hub in-process with a TLS listener on 127.0.0.1:0.
func startHub(t *testing.T) *hub.Hub {
	t.Helper()
	return startHubIn(t, t.TempDir())
}

// startHubIn runs a real hub in-process on dir; the test's cleanup closes it.
func startHubIn(t *testing.T, dir string) *hub.Hub {
	t.Helper()
	h, err := hub.New(hub.Config{DataDir: dir, Hostname: "localhost", TLSAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	if err := h.Start(); err != nil {
		h.Close()
		t.Fatalf("hub.Start: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// createDevice registers id and returns its connection string pointed at host:port.
func createDevice(t *testing.T, h *hub.Hub, id string, port int) string {
	t.Helper()
	ctx := context.Background()
	if _, err := h.CreateDevice(ctx, hub.Identity{DeviceID: id}); err != nil {
		t.Fatalf("CreateDevice(%s): %v", id, err)
	}
	s, err := h.DeviceConnectionString(ctx, id)
	if err != nil {
		t.Fatalf("DeviceConnectionString(%s): %v", id, err)
	}
	cs, err := sas.ParseConnectionString(s)
	if err != nil {
		t.Fatalf("hub gave connection string %q: %v", s, err)
	}
	cs.HostName = fmt.Sprintf("localhost:%d", port)
	return cs.String()
}

// connections delivers the hub's connected/disconnected events for one device.
func connections(t *testing.T, h *hub.Hub, id string) <-chan bool {
	ch := make(chan bool, 64)
	cancel := h.Watch(func(e hub.Event) {
		if e.Kind == hub.EventConnection && e.Conn.DeviceID == id {
			select {
			case ch <- e.Conn.Connected:
			default:
			}
		}
	})
	t.Cleanup(cancel)
	return ch
}

// waitConnected waits until the hub says the device is connected.
func waitConnected(t *testing.T, ch <-chan bool, what string) {
	t.Helper()
	timer := time.NewTimer(step)
	defer timer.Stop()
	for {
		select {
		case up := <-ch:
			if up {
				return
			}
		case <-timer.C:
			t.Fatalf("%s: the hub saw no connection within %s", what, step)
		}
	}
}

func getTwin(t *testing.T, h *hub.Hub, id string) *twin.Doc {
	t.Helper()
	d, err := h.GetTwin(context.Background(), id)
	if err != nil {
		t.Fatalf("GetTwin(%s): %v", id, err)
	}
	return d
}

func TestNodeDeviceSDK(t *testing.T) {
	node := requireNode(t)
	h := startHub(t)
	p := startProxy(t, h.TLSAddr().String())
	const id = "node-device-1"
	cs := createDevice(t, h, id, p.Port())
	conns := connections(t, h, id)
	d := startNode(t, node, cs, h.CAFile())

	d.wait("connected", nil, step, "the Node SDK's open() over TLS with the hub's CA")
	waitConnected(t, conns, "first connection")
	first := d.wait("twin", nil, step, "the first twin GET")
	if v, _ := num(first.Desired, "$version"); v != 1 {
		t.Errorf("new twin's desired $version seen by the SDK = %v, want 1 (GET body %s)", v, first.Raw)
	}
	if v, _ := num(first.Reported, "$version"); v != 1 {
		t.Errorf("new twin's reported $version seen by the SDK = %v, want 1 (GET body %s)", v, first.Raw)
	}
	d.wait("ready", nil, step, "the desired subscription and second GET")

	t.Run("reported", func(t *testing.T) {
		d.send(map[string]any{"cmd": "report", "patch": map[string]any{
			"firmware": map[string]any{"version": "1.0.0"}, "battery": 93}})
		d.wait("reported", nil, step, "the 204 for a reported patch")
		doc := getTwin(t, h, id)
		if got := str(doc.Reported.Values, "firmware", "version"); got != "1.0.0" {
			t.Errorf("hub's reported firmware.version = %q, want 1.0.0 (reported %s)", got, describe(doc.Reported.Values))
		}
		if got, _ := num(doc.Reported.Values, "battery"); got != 93 {
			t.Errorf("hub's reported battery = %v, want 93", got)
		}
		if doc.Reported.Version != 2 {
			t.Errorf("reported $version after one patch = %d, want 2", doc.Reported.Version)
		}
	})

	t.Run("refused-patch", func(t *testing.T) {
		before := getTwin(t, h, id)
		// A key with a space is invalid (facts sheet 2.4): the SDK must get an error answer
		// (it fails the update only when the body has an errorCode) and the twin stays.
		d.send(map[string]any{"cmd": "report", "patch": map[string]any{"bad key": 1}})
		e := d.wait("error", nil, step, "the error answer to an invalid reported patch")
		if e.Where != "report" || e.Message == "" {
			t.Errorf("invalid patch: device.js reported %s, want a report error with the hub's message", e.Raw)
		}
		after := getTwin(t, h, id)
		if after.Reported.Version != before.Reported.Version || after.Etag != before.Etag {
			t.Errorf("refused patch changed the twin: reported $version %d -> %d, etag %s -> %s",
				before.Reported.Version, after.Reported.Version, before.Etag, after.Etag)
		}
	})

	// Three desired patches: before any drop, after one, after two. The SDK re-subscribes
	// nothing after a drop, so rounds 2 and 3 pass only if the hub kept the session.
	for round := 1; round <= 3; round++ {
		if !t.Run(fmt.Sprintf("desired-after-%d-drops", round-1), func(t *testing.T) {
			desiredRound(t, h, p, d, conns, id, round)
		}) {
			t.FailNow()
		}
	}

	t.Run("get-after-drops", func(t *testing.T) {
		doc := getTwin(t, h, id)
		d.send(map[string]any{"cmd": "get"})
		e := d.wait("twin", nil, step, "a twin GET after two drops (responses still routed)")
		if v, _ := num(e.Desired, "$version"); int64(v) != doc.Desired.Version {
			t.Errorf("GET desired $version = %v, want %d", v, doc.Desired.Version)
		}
		if v, _ := num(e.Reported, "echo"); v != 3 {
			t.Errorf("GET reported echo = %v, want 3 (%s)", v, e.Raw)
		}
		if strings.Contains(e.Raw, "$metadata") {
			t.Errorf("device GET body carries $metadata; Azure's does not: %s", e.Raw)
		}
	})
}

// TestNodeTokenRenewal: the SDK renews its SAS token by DISCONNECT and a new CONNECT with
// CleanSession 0 and sends no SUBSCRIBE; desired notifications must still arrive.
func TestNodeTokenRenewal(t *testing.T) {
	node := requireNode(t)
	h := startHub(t)
	const id = "node-renewal-1"
	cs := createDevice(t, h, id, tcpPort(t, h))
	conns := connections(t, h, id)
	// Tokens valid 6 s, renewed 2 s before expiry: a renewal reconnect every 4 s.
	d := startNode(t, node, cs, h.CAFile(), "TOKEN_VALID_SECONDS=6")
	d.wait("ready", nil, step, "the device to connect, GET and subscribe")
	// setOptions renews the token at once (a reconnect before the subscriptions): forget
	// the connection events so far and wait for a renewal after the SUBSCRIBEs.
	for drained := false; !drained; {
		select {
		case <-conns:
		default:
			drained = true
		}
	}
	timer := time.NewTimer(step)
	defer timer.Stop()
	for _, want := range []bool{false, true} {
		for got := !want; got != want; {
			select {
			case got = <-conns:
			case <-timer.C:
				t.Fatalf("no token-renewal reconnect (disconnect, then connect) within %s", step)
			}
		}
	}
	doc, err := h.PatchTwin(context.Background(), id, hub.TwinPatch{HasDesired: true,
		Desired: map[string]any{"echo": float64(42)}}, "")
	if err != nil {
		t.Fatalf("PatchTwin: %v", err)
	}
	e := d.wait("desired", func(e event) bool { v, _ := num(e.Patch, "echo"); return v == 42 },
		step, "a desired notification after a token renewal")
	if v, _ := num(e.Patch, "$version"); int64(v) != doc.Desired.Version {
		t.Errorf("notification $version = %v, want %d", v, doc.Desired.Version)
	}
	d.wait("reported", func(e event) bool { v, _ := num(e.Patch, "echo"); return v == 42 },
		step, "the echo after a renewal acknowledged")
}

func tcpPort(t *testing.T, h *hub.Hub) int {
	t.Helper()
	a := h.TLSAddr()
	if a == nil {
		t.Fatal("hub has no TLS listener")
	}
	var port int
	if _, err := fmt.Sscanf(a.String()[strings.LastIndexByte(a.String(), ':')+1:], "%d", &port); err != nil {
		t.Fatalf("hub TLS address %q: %v", a, err)
	}
	return port
}

// desiredRound cuts the connection (after the first round), patches desired through the
// hub's Go API and checks the notification, the device's echo and the hub's reported state.
func desiredRound(t *testing.T, h *hub.Hub, p *proxy, d *nodeDevice, conns <-chan bool, id string, round int) {
	if round > 1 {
		if n := p.cut(); n != 1 {
			t.Fatalf("cut %d connections, want the device's one", n)
		}
		d.wait("connect", nil, step, "the SDK reconnecting after the connection was cut")
		waitConnected(t, conns, "reconnection")
	}
	doc, err := h.PatchTwin(context.Background(), id, hub.TwinPatch{HasDesired: true,
		Desired: map[string]any{"echo": float64(round), "telemetry": map[string]any{"interval": float64(10 * round)}}}, "*")
	if err != nil {
		t.Fatalf("PatchTwin: %v", err)
	}
	e := d.wait("desired", func(e event) bool { v, _ := num(e.Patch, "echo"); return v == float64(round) },
		step, fmt.Sprintf("desired notification %d", round))
	if v, _ := num(e.Patch, "$version"); int64(v) != doc.Desired.Version {
		t.Errorf("notification $version = %v, want the twin's desired $version %d", v, doc.Desired.Version)
	}
	if v, _ := num(e.Patch, "telemetry", "interval"); v != float64(10*round) {
		t.Errorf("notification telemetry.interval = %v, want %d (patch %s)", v, 10*round, describe(e.Patch))
	}
	d.wait("reported", func(e event) bool { v, _ := num(e.Patch, "echo"); return v == float64(round) },
		step, fmt.Sprintf("the device's echo %d acknowledged", round))
	got := getTwin(t, h, id)
	if v, _ := num(got.Reported.Values, "echo"); v != float64(round) {
		t.Errorf("hub's reported echo = %v, want %d", v, round)
	}
}

// TestNodeDevicesScoped: two SDK devices on one hub each see only their own desired
// notifications and twin, whatever the SDK subscribes to.
func TestNodeDevicesScoped(t *testing.T) {
	node := requireNode(t)
	h := startHub(t)
	port := tcpPort(t, h)
	a := startNode(t, node, createDevice(t, h, "scoped-a", port), h.CAFile())
	b := startNode(t, node, createDevice(t, h, "scoped-b", port), h.CAFile())
	a.wait("ready", nil, step, "device a to subscribe")
	b.wait("ready", nil, step, "device b to subscribe")
	ctx := context.Background()
	// a's patch goes out first; had b received it, it would be b's first notification.
	for _, p := range []struct {
		id   string
		echo float64
	}{{"scoped-a", 1}, {"scoped-b", 2}} {
		if _, err := h.PatchTwin(ctx, p.id, hub.TwinPatch{HasDesired: true, Desired: map[string]any{"echo": p.echo}}, ""); err != nil {
			t.Fatalf("PatchTwin(%s): %v", p.id, err)
		}
	}
	if e := b.wait("desired", nil, step, "device b's notification"); e.Patch["echo"] != float64(2) {
		t.Fatalf("device b's first notification is %s, want its own patch (echo 2)", e.Raw)
	}
	if e := a.wait("desired", nil, step, "device a's notification"); e.Patch["echo"] != float64(1) {
		t.Fatalf("device a's first notification is %s, want its own patch (echo 1)", e.Raw)
	}
	b.send(map[string]any{"cmd": "get"})
	if e := b.wait("twin", nil, step, "device b's GET"); e.Desired["echo"] != float64(2) {
		t.Fatalf("device b's GET shows desired %s, want its own (echo 2)", describe(e.Desired))
	}
}

// TestNodeAcrossHubRestart: the hub stops and starts again on the same data directory
// while the SDK device reconnects; the SDK subscribes to nothing again, so the desired
// notification after the restart arrives only if the session was kept in the store.
func TestNodeAcrossHubRestart(t *testing.T) {
	node := requireNode(t)
	dir := t.TempDir()
	h1 := startHubIn(t, dir)
	p := startProxy(t, h1.TLSAddr().String())
	const id = "node-restart-1"
	d := startNode(t, node, createDevice(t, h1, id, p.Port()), h1.CAFile())
	d.wait("ready", nil, step, "the device to connect, GET and subscribe")

	p.setTarget("") // the SDK's reconnect waits in the proxy while the hub restarts
	if err := h1.Close(); err != nil {
		t.Fatalf("closing the first hub: %v", err)
	}
	h2 := startHubIn(t, dir)
	conns := connections(t, h2, id)
	p.setTarget(h2.TLSAddr().String())
	d.wait("connect", nil, step, "the SDK reconnecting to the restarted hub")
	waitConnected(t, conns, "reconnection to the restarted hub")

	doc, err := h2.PatchTwin(context.Background(), id, hub.TwinPatch{HasDesired: true,
		Desired: map[string]any{"echo": float64(7)}}, "")
	if err != nil {
		t.Fatalf("PatchTwin on the restarted hub: %v", err)
	}
	e := d.wait("desired", func(e event) bool { v, _ := num(e.Patch, "echo"); return v == 7 },
		step, "a desired notification after the hub restarted (session restored from the store)")
	if v, _ := num(e.Patch, "$version"); int64(v) != doc.Desired.Version {
		t.Errorf("notification $version = %v, want %d", v, doc.Desired.Version)
	}
	d.wait("reported", func(e event) bool { v, _ := num(e.Patch, "echo"); return v == 7 },
		step, "the echo acknowledged by the restarted hub (twin responses routed)")
	if v, _ := num(getTwin(t, h2, id).Reported.Values, "echo"); v != 7 {
		t.Errorf("restarted hub's reported echo = %v, want 7", v)
	}
}
