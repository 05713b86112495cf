package twinclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
)

// svcHub is a real hub on loopback for the service tests.
type svcHub struct {
	h    *hub.Hub
	url  string
	data string
}

// startSvcHub starts a hub with a plain loopback listener in a temporary directory and
// stops it when the test ends.
func startSvcHub(t testing.TB) *svcHub {
	t.Helper()
	dir := t.TempDir()
	h, err := hub.New(hub.Config{DataDir: dir, PlainAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		h.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &svcHub{h: h, url: "mqtt://" + h.PlainAddr().String(), data: dir}
}

// dial connects a service client with the named policy; it is closed when the test ends.
func (sh *svcHub) dial(t testing.TB, policy string) *Service {
	t.Helper()
	cs, err := sh.h.ServiceConnectionString(policy)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := DialService(ctx, ServiceOptions{URL: sh.url, ConnectionString: cs})
	if err != nil {
		t.Fatalf("dial as %s: %v", policy, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestServiceTwinRoundTrip(t *testing.T) {
	sh := startSvcHub(t)
	s := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	id, err := s.CreateDevice(ctx, Identity{DeviceID: "pump-1"})
	if err != nil {
		t.Fatal(err)
	}
	if id.Authentication.SymmetricKey.PrimaryKey == "" || id.Status != "enabled" {
		t.Fatalf("created identity %+v: want generated keys and status enabled", id)
	}
	d, err := s.GetTwin(ctx, "pump-1")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.PatchTwin(ctx, "pump-1", Patch{Desired: map[string]any{"fan": map[string]any{"speed": 3.0}},
		Tags: map[string]any{"ring": "canary"}}, d.Etag)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Version != d.Version+2 || d2.Desired.Values["fan"].(map[string]any)["speed"] != 3.0 || d2.Tags["ring"] != "canary" {
		t.Fatalf("after patch: version %d (was %d), desired %v, tags %v", d2.Version, d.Version, d2.Desired.Values, d2.Tags)
	}
	// the old etag is stale now
	_, err = s.PatchTwin(ctx, "pump-1", Patch{Desired: map[string]any{"x": 1.0}}, d.Etag)
	if !IsStatus(err, 412) {
		t.Fatalf("patch with a stale etag: got %v, want a 412 error", err)
	}
	d3, err := s.ReplaceTwin(ctx, "pump-1", Patch{Desired: map[string]any{"y": 2.0}}, "*")
	if err != nil {
		t.Fatal(err)
	}
	if _, has := d3.Desired.Values["fan"]; has || d3.Desired.Values["y"] != 2.0 || d3.Tags["ring"] != "canary" {
		t.Fatalf("after replace: desired %v tags %v", d3.Desired.Values, d3.Tags)
	}
	_, err = s.GetTwin(ctx, "nope")
	var he *Error
	if !errors.As(err, &he) || he.Status != 404 || he.Code != 404001 {
		t.Fatalf("get of a missing twin: %v", err)
	}
}

func TestServiceRejectsBadWrites(t *testing.T) {
	sh := startSvcHub(t)
	s := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	if _, err := s.CreateDevice(ctx, Identity{DeviceID: "d1"}); err != nil {
		t.Fatal(err)
	}
	before, err := s.GetTwin(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		op   string
		body string
	}{
		"dollar key":        {"twin.patch", `{"deviceId":"d1","desired":{"$x":1}}`},
		"dot key":           {"twin.patch", `{"deviceId":"d1","desired":{"a.b":1}}`},
		"reported":          {"twin.patch", `{"deviceId":"d1","reported":{"a":1}}`},
		"nothing to write":  {"twin.patch", `{"deviceId":"d1"}`},
		"no device id":      {"twin.get", `{}`},
		"not json":          {"twin.patch", `{"deviceId":`},
		"unknown op":        {"twin.frobnicate", `{}`},
		"bad page size":     {"query", `{"query":"SELECT * FROM devices","pageSize":5000}`},
		"bad query":         {"query", `{"query":"SELECT FROM"}`},
		"bad continuation":  {"query", `{"query":"SELECT * FROM devices","continuation":"%%%"}`},
		"bad status":        {"device.update", `{"deviceId":"d1","status":"paused"}`},
		"bad device id":     {"device.create", `{"deviceId":"has space"}`},
		"tags and too deep": {"twin.patch", `{"deviceId":"d1","tags":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":1}}}}}}}}}}}}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			status, body, err := s.roundTrip(ctx, c.op, []byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if status != 400 {
				t.Fatalf("status %d body %s, want 400", status, body)
			}
			e := parseErrorBody(status, body)
			if e.Code < 400000 || e.Code > 400999 || e.Message == "" {
				t.Fatalf("error body %s", body)
			}
		})
	}
	after, err := s.GetTwin(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != before.Version || after.Etag != before.Etag {
		t.Fatalf("refused writes changed the twin: version %d -> %d", before.Version, after.Version)
	}
}

// Two service clients edit the same desired property with etags: exactly one of two
// concurrent writes on the same etag wins, the other gets 412, retries on the new etag,
// and nothing is lost.
func TestServiceConcurrentEtagEdits(t *testing.T) {
	sh := startSvcHub(t)
	a, b := sh.dial(t, "iothubowner"), sh.dial(t, "service")
	ctx := testCtx(t)
	if _, err := a.CreateDevice(ctx, Identity{DeviceID: "shared"}); err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	var wg sync.WaitGroup
	conflicts := make([]int, 2)
	for i, s := range []*Service{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("client%d", i)
			for n := 0; n < rounds; n++ {
				for {
					d, err := s.GetTwin(ctx, "shared")
					if err != nil {
						t.Error(err)
						return
					}
					cur, _ := d.Desired.Values[key].(float64)
					_, err = s.PatchTwin(ctx, "shared", Patch{Desired: map[string]any{key: cur + 1}}, d.Etag)
					if IsStatus(err, 412) {
						conflicts[i]++
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	d, err := a.GetTwin(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if d.Desired.Values["client0"] != float64(rounds) || d.Desired.Values["client1"] != float64(rounds) {
		t.Fatalf("desired %v: want both counters at %d (a lost update)", d.Desired.Values, rounds)
	}
	if d.Desired.Version != 1+2*rounds {
		t.Fatalf("desired $version %d, want %d", d.Desired.Version, 1+2*rounds)
	}
	t.Logf("412 conflicts: %v", conflicts)
}

// Deterministic version of the conflict: both read the same etag; the second write fails
// and leaves the first in place.
func TestServiceStaleEtagChangesNothing(t *testing.T) {
	sh := startSvcHub(t)
	a, b := sh.dial(t, "iothubowner"), sh.dial(t, "service")
	ctx := testCtx(t)
	if _, err := a.CreateDevice(ctx, Identity{DeviceID: "x"}); err != nil {
		t.Fatal(err)
	}
	d, _ := a.GetTwin(ctx, "x")
	if _, err := a.PatchTwin(ctx, "x", Patch{Desired: map[string]any{"v": "a"}}, d.Etag); err != nil {
		t.Fatal(err)
	}
	_, err := b.PatchTwin(ctx, "x", Patch{Desired: map[string]any{"v": "b", "other": 1.0}}, d.Etag)
	if !IsStatus(err, 412) {
		t.Fatalf("second write on the same etag: %v, want 412", err)
	}
	now, _ := b.GetTwin(ctx, "x")
	if now.Desired.Values["v"] != "a" || now.Desired.Values["other"] != nil {
		t.Fatalf("desired after the refused write: %v", now.Desired.Values)
	}
}

// With a short token lifetime the client renews by reconnecting before the hub ends the
// connection, and requests keep working throughout.
func TestServiceTokenRenewal(t *testing.T) {
	sh := startSvcHub(t)
	cs, _ := sh.h.ServiceConnectionString("iothubowner")
	ctx := testCtx(t)
	s, err := DialService(ctx, ServiceOptions{URL: sh.url, ConnectionString: cs, TokenLifetime: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateDevice(ctx, Identity{DeviceID: "r"}); err != nil {
		t.Fatal(err)
	}
	start := s.generation()
	for n := 0; s.generation() < start+2; n++ {
		if _, err := s.PatchTwin(ctx, "r", Patch{Desired: map[string]any{"n": float64(n)}}, ""); err != nil {
			t.Fatalf("request %d across renewals (generation %d): %v", n, s.generation(), err)
		}
		if ctx.Err() != nil {
			t.Fatal("no renewals")
		}
	}
}

// twin.patch also takes Azure's REST body shape {"tags":...,"properties":{"desired":...}}.
func TestServiceAzureShapedPatch(t *testing.T) {
	sh := startSvcHub(t)
	s := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	if _, err := s.CreateDevice(ctx, Identity{DeviceID: "az"}); err != nil {
		t.Fatal(err)
	}
	status, body, err := s.roundTrip(ctx, "twin.patch",
		[]byte(`{"deviceId":"az","etag":"*","tags":{"site":"b43"},"properties":{"desired":{"mode":"eco"}}}`))
	if err != nil || status != 200 {
		t.Fatalf("status %d %s %v", status, body, err)
	}
	d, err := s.GetTwin(ctx, "az")
	if err != nil {
		t.Fatal(err)
	}
	if d.Tags["site"] != "b43" || d.Desired.Values["mode"] != "eco" {
		t.Fatalf("tags %v desired %v", d.Tags, d.Desired.Values)
	}
	status, _, _ = s.roundTrip(ctx, "twin.patch", []byte(`{"deviceId":"az","desired":{"a":1},"properties":{"desired":{"b":2}}}`))
	if status != 400 {
		t.Fatalf("desired given twice: status %d, want 400", status)
	}
}
