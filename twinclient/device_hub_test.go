package twinclient

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/twinops/twinops/hub"
)

// devLeakCheck fails the test if goroutines started during it are still running after
// its cleanups (hub included) have run.
func devLeakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// devTestHub is a real hub on 127.0.0.1:0 for Device tests.
type devTestHub struct {
	h   *hub.Hub
	url string
}

// startDevHub starts a hub in a temporary data dir; the test's cleanup closes it.
func startDevHub(t *testing.T) *devTestHub {
	t.Helper()
	h, err := hub.New(hub.Config{DataDir: t.TempDir(), Hostname: "localhost", TLSAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return &devTestHub{h: h, url: "mqtts://" + h.TLSAddr().String()}
}

// device creates a device and returns DeviceOptions that reach it.
func (th *devTestHub) device(t *testing.T, id string) DeviceOptions {
	t.Helper()
	ctx := context.Background()
	if _, err := th.h.CreateDevice(ctx, hub.Identity{DeviceID: id}); err != nil {
		t.Fatal(err)
	}
	cs, err := th.h.DeviceConnectionString(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return DeviceOptions{ConnectionString: cs, URL: th.url, CAFile: th.h.CAFile()}
}

// setDesired merges patch into a device's desired properties and returns the new
// desired $version.
func (th *devTestHub) setDesired(t *testing.T, id string, patch map[string]any) int64 {
	t.Helper()
	d, err := th.h.PatchTwin(context.Background(), id, hub.TwinPatch{Desired: patch, HasDesired: true}, "*")
	if err != nil {
		t.Fatal(err)
	}
	return d.Desired.Version
}

// devRecorder collects a Device's callbacks on channels.
type devRecorder struct {
	updates chan DesiredUpdate
	conns   chan bool
}

func newDevRecorder(o *DeviceOptions) *devRecorder {
	r := &devRecorder{updates: make(chan DesiredUpdate, 1000), conns: make(chan bool, 1000)}
	o.OnDesired = func(u DesiredUpdate) { r.updates <- u }
	o.OnConnection = func(c bool, _ error) { r.conns <- c }
	return r
}

// next waits for the next desired update.
func (r *devRecorder) next(t *testing.T) DesiredUpdate {
	t.Helper()
	select {
	case u := <-r.updates:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no desired update within 10s")
		return DesiredUpdate{}
	}
}

// waitConn waits for a connect (true) or disconnect (false) callback.
func (r *devRecorder) waitConn(t *testing.T, want bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-r.conns:
			if c == want {
				return
			}
		case <-deadline:
			t.Fatalf("no connection callback %v within 10s", want)
		}
	}
}

func devDial(t *testing.T, o DeviceOptions) *Device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := DialDevice(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func devTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDeviceGetAndPatchReported(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	d := devDial(t, th.device(t, "dev-1"))
	ctx := devTestCtx(t)

	tw, err := d.GetTwin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tw.DesiredVersion != 1 || tw.ReportedVersion != 1 || len(tw.Desired) != 0 || len(tw.Reported) != 0 {
		t.Fatalf("fresh twin = %+v, want empty sections at $version 1", tw)
	}
	v, err := d.PatchReported(ctx, map[string]any{"a": 1.0, "o": map[string]any{"b": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if v != 2 {
		t.Fatalf("reported $version after the first patch = %d, want 2", v)
	}
	if v, err = d.PatchReported(ctx, map[string]any{"a": nil}); err != nil || v != 3 {
		t.Fatalf("second patch: version %d, %v; want 3", v, err)
	}
	tw, err = d.GetTwin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"o": map[string]any{"b": "x"}}; !reflect.DeepEqual(tw.Reported, want) || tw.ReportedVersion != 3 {
		t.Fatalf("reported = %v at %d, want %v at 3", tw.Reported, tw.ReportedVersion, want)
	}

	// A refused patch is an *Error with the hub's status and code, and changes nothing.
	_, err = d.PatchReported(ctx, map[string]any{"bad key": 1.0})
	var he *Error
	if !errors.As(err, &he) || he.Status != 400 || he.Code == 0 || he.Message == "" {
		t.Fatalf("patch with a bad key: %v, want *Error status 400 with a code and message", err)
	}
	if tw2, err := d.GetTwin(ctx); err != nil || tw2.ReportedVersion != 3 {
		t.Fatalf("after a refused patch: %+v, %v; want reported still at 3", tw2, err)
	}
	_ = d.Close()
	if _, err := d.GetTwin(ctx); !errors.Is(err, ErrDeviceClosed) {
		t.Fatalf("GetTwin after Close: %v, want ErrDeviceClosed", err)
	}
}

func TestDeviceDesiredCallback(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	o := th.device(t, "dev-1")
	th.setDesired(t, "dev-1", map[string]any{"telemetryConfig": map[string]any{"sendFrequency": "5m"}})
	r := newDevRecorder(&o)
	devDial(t, o)

	u := r.next(t)
	if !u.Full || u.Version != 2 || !reflect.DeepEqual(u.Desired, map[string]any{"telemetryConfig": map[string]any{"sendFrequency": "5m"}}) {
		t.Fatalf("first update = %+v, want the whole desired at version 2", u)
	}
	v := th.setDesired(t, "dev-1", map[string]any{"telemetryConfig": map[string]any{"sendFrequency": "30s"}, "firmware": map[string]any{"version": "2.1.0"}})
	u = r.next(t)
	want := map[string]any{"telemetryConfig": map[string]any{"sendFrequency": "30s"}, "firmware": map[string]any{"version": "2.1.0"}}
	if u.Full || u.Version != v || !reflect.DeepEqual(u.Desired, want) || !reflect.DeepEqual(u.Patch, want) {
		t.Fatalf("update = %+v, want patch %v at version %d", u, want, v)
	}
	v = th.setDesired(t, "dev-1", map[string]any{"firmware": nil})
	u = r.next(t)
	if u.Version != v || !reflect.DeepEqual(u.Desired, map[string]any{"telemetryConfig": map[string]any{"sendFrequency": "30s"}}) {
		t.Fatalf("after deleting firmware: %+v", u)
	}
}

func TestDeviceReconnectReadsTwinAndDropsStale(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	o := th.device(t, "dev-1")
	r := newDevRecorder(&o)
	d := devDial(t, o)
	if u := r.next(t); u.Version != 1 || !u.Full {
		t.Fatalf("first update %+v", u)
	}
	r.waitConn(t, true)

	// Offline: the hub cannot push these; the device must learn them by reading the twin.
	d.Drop(200 * time.Millisecond)
	r.waitConn(t, false)
	th.setDesired(t, "dev-1", map[string]any{"a": 1.0})
	v := th.setDesired(t, "dev-1", map[string]any{"b": 2.0})
	r.waitConn(t, true)
	u := r.next(t)
	if !u.Full || u.Version != v || !reflect.DeepEqual(u.Desired, map[string]any{"a": 1.0, "b": 2.0}) {
		t.Fatalf("after reconnecting: %+v, want the whole desired at %d", u, v)
	}
	v = th.setDesired(t, "dev-1", map[string]any{"c": 3.0})
	if u := r.next(t); u.Full || u.Version != v {
		t.Fatalf("next update %+v, want the patch at %d", u, v)
	}
	select {
	case u := <-r.updates:
		t.Fatalf("unexpected extra update %+v", u)
	default:
	}
}

// Desired patches race with repeated link drops: every update the device delivers must be
// newer than the one before, and the device must end with exactly the hub's desired.
func TestDeviceDesiredConvergesAcrossDrops(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	o := th.device(t, "dev-1")
	r := newDevRecorder(&o)
	d := devDial(t, o)
	const patches = 60
	var last int64
	for i := range patches {
		last = th.setDesired(t, "dev-1", map[string]any{fmt.Sprintf("k%d", i%7): float64(i), "n": float64(i)})
		if i%15 == 7 {
			d.Drop(time.Duration(i%3) * 20 * time.Millisecond)
		}
	}
	want, err := th.h.GetTwin(context.Background(), "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	var prev int64
	for {
		u := r.next(t)
		if u.Version <= prev {
			t.Fatalf("update at version %d after %d: stale or duplicate", u.Version, prev)
		}
		prev = u.Version
		if u.Version == last {
			if !reflect.DeepEqual(u.Desired, want.Desired.Values) {
				t.Fatalf("final desired %v, hub has %v", u.Desired, want.Desired.Values)
			}
			break
		}
	}
	if st := d.Status(); st.DesiredVersion != last {
		t.Fatalf("status desired version %d, want %d", st.DesiredVersion, last)
	}
}

func TestDeviceRequestWaitsForReconnect(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	o := th.device(t, "dev-1")
	r := newDevRecorder(&o)
	d := devDial(t, o)
	r.waitConn(t, true)
	d.Drop(300 * time.Millisecond)
	r.waitConn(t, false)
	v, err := d.PatchReported(devTestCtx(t), map[string]any{"while": "offline"})
	if st := d.Status(); st.TLSResumed < 1 || st.Connects != 2 {
		t.Errorf("status after one reconnect: %+v, want 2 connects, the second resuming the TLS session", st)
	}
	if err != nil || v < 2 {
		t.Fatalf("patch made while offline: %d, %v; want it sent after the reconnect", v, err)
	}
	tw, err := th.h.GetTwin(context.Background(), "dev-1")
	if err != nil || tw.Reported.Values["while"] != "offline" {
		t.Fatalf("hub twin reported = %v, %v", tw.Reported.Values, err)
	}
}

func TestDeviceTokenRenewal(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	o := th.device(t, "dev-1")
	o.TokenLifetime, o.RenewBefore = 3*time.Second, 2*time.Second
	r := newDevRecorder(&o)
	d := devDial(t, o)
	r.next(t)
	for range 3 { // the first connect and two renewals
		r.waitConn(t, true)
	}
	st := d.Status()
	if st.Renewals < 2 || !st.TokenExpiry.After(time.Now()) {
		t.Fatalf("status after renewals: %+v", st)
	}
	ctx := devTestCtx(t)
	if _, err := d.PatchReported(ctx, map[string]any{"renewed": true}); err != nil {
		t.Fatalf("patch after renewals: %v", err)
	}
	v := th.setDesired(t, "dev-1", map[string]any{"after": "renewal"})
	for {
		u := r.next(t)
		if u.Version == v {
			break
		}
	}
}

func TestDeviceGatewayHostName(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	o := th.device(t, "dev-1")
	o.ConnectionString += ";GatewayHostName=" + th.h.TLSAddr().String()
	o.URL = ""
	d := devDial(t, o)
	if _, err := d.GetTwin(devTestCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestDeviceRefused(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	o := th.device(t, "dev-1")
	tests := map[string]struct {
		conn    string
		wantErr string
	}{
		"wrong key":      {conn: strings.Replace(o.ConnectionString, "SharedAccessKey=", "SharedAccessKey=AAAA", 1), wantErr: "refused the credentials"},
		"unknown device": {conn: strings.Replace(o.ConnectionString, "DeviceId=dev-1", "DeviceId=dev-404", 1), wantErr: "refused the credentials"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			oo := o
			oo.ConnectionString = tc.conn
			d, err := DialDevice(devTestCtx(t), oo)
			if err == nil {
				_ = d.Close()
				t.Fatal("DialDevice succeeded with bad credentials")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not say %q", err, tc.wantErr)
			}
		})
	}
}

// The hub goes away and comes back on the same address and data: the device reconnects
// by itself, learns the desired change made while it was away, and its requests work.
func TestDeviceSurvivesHubRestart(t *testing.T) {
	devLeakCheck(t)
	dir := t.TempDir()
	h, err := hub.New(hub.Config{DataDir: dir, Hostname: "localhost", TLSAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	addr := h.TLSAddr().String()
	th := &devTestHub{h: h, url: "mqtts://" + addr}
	o := th.device(t, "dev-1")
	o.RetryMax = 200 * time.Millisecond
	r := newDevRecorder(&o)
	d := devDial(t, o)
	r.next(t)
	r.waitConn(t, true)

	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	r.waitConn(t, false)
	h2, err := hub.New(hub.Config{DataDir: dir, Hostname: "localhost", TLSAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	v, err := h2.PatchTwin(context.Background(), "dev-1", hub.TwinPatch{Desired: map[string]any{"while": "away"}, HasDesired: true}, "*")
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h2.Close() })
	r.waitConn(t, true)
	u := r.next(t)
	if !u.Full || u.Version != v.Desired.Version || u.Desired["while"] != "away" {
		t.Fatalf("after the hub restart: %+v, want the whole desired at %d", u, v.Desired.Version)
	}
	if _, err := d.PatchReported(devTestCtx(t), map[string]any{"back": true}); err != nil {
		t.Fatal(err)
	}
}

// A device token signed with a policy key (skn=device), as gateways and token services do.
func TestDevicePolicyKeyToken(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	o := th.device(t, "dev-1")
	var key string
	for _, p := range th.h.Policies() {
		if p.Name == "device" {
			key = p.PrimaryKey
		}
	}
	if key == "" {
		t.Fatal("the hub has no device policy")
	}
	o.ConnectionString = "HostName=localhost;DeviceId=dev-1;SharedAccessKeyName=device;SharedAccessKey=" + key
	d := devDial(t, o)
	if _, err := d.PatchReported(devTestCtx(t), map[string]any{"via": "policy"}); err != nil {
		t.Fatal(err)
	}
}

func TestDevicePatchReportedIf(t *testing.T) {
	devLeakCheck(t)
	th := startDevHub(t)
	d := devDial(t, th.device(t, "dev-1"))
	ctx := devTestCtx(t)
	v, err := d.PatchReportedIf(ctx, map[string]any{"a": 1.0}, 1)
	if err != nil || v != 2 {
		t.Fatalf("patch at the current version: %d, %v; want 2", v, err)
	}
	_, err = d.PatchReportedIf(ctx, map[string]any{"a": 2.0}, 1)
	var he *Error
	if !errors.As(err, &he) || he.Status != 412 {
		t.Fatalf("patch at a stale version: %v, want *Error 412", err)
	}
	tw, err := d.GetTwin(ctx)
	if err != nil || tw.ReportedVersion != 2 || tw.Reported["a"] != 1.0 {
		t.Fatalf("after the refused patch: %+v, %v; want a=1 at version 2", tw, err)
	}
	if _, err := d.PatchReportedIf(ctx, map[string]any{"a": 3.0}, 0); err == nil {
		t.Fatal("version 0 accepted")
	}
}
