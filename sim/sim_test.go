package sim

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twinclient"
)

// hubRegistry is Registry over the hub's Go API (tests).
type hubRegistry struct{ h *hub.Hub }

func (r hubRegistry) EnsureDevice(ctx context.Context, id string) (string, bool, error) {
	created := true
	if _, err := r.h.CreateDevice(ctx, hub.Identity{DeviceID: id}); err != nil {
		var he *hub.Error
		if !errors.As(err, &he) || he.Status != 409 {
			return "", false, err
		}
		created = false
	}
	c, err := r.h.DeviceConnectionString(ctx, id)
	return c, created, err
}

func (r hubRegistry) SetTags(ctx context.Context, id string, tags map[string]any) error {
	_, err := r.h.PatchTwin(ctx, id, hub.TwinPatch{Tags: tags, HasTags: true}, "*")
	return err
}

// simHub is a hub on 127.0.0.1:0 that tracks every device's reported firmware.
type simHub struct {
	h       *hub.Hub
	dial    twinclient.DeviceOptions
	mu      sync.Mutex
	fw      map[string]map[string]any // device -> reported firmware, from the event stream
	conns   map[string][]bool         // device -> connection events in order
	battery map[string][]float64      // device -> reported battery levels in order
	starts  map[string]int            // device -> firmware downloads started
	signal  chan struct{}
}

func startSimHub(t *testing.T) *simHub {
	t.Helper()
	h, err := hub.New(hub.Config{DataDir: t.TempDir(), Hostname: "localhost", TLSAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	s := &simHub{h: h, fw: map[string]map[string]any{}, conns: map[string][]bool{}, battery: map[string][]float64{},
		starts: map[string]int{},
		signal: make(chan struct{}, 1),
		dial:   twinclient.DeviceOptions{URL: "mqtts://" + h.TLSAddr().String(), CAFile: h.CAFile()}}
	cancel := h.Watch(s.onEvent)
	t.Cleanup(func() { cancel(); _ = h.Close() })
	return s
}

// onEvent runs on the hub's event goroutine; it records connection events and folds
// reported firmware and battery patches.
func (s *simHub) onEvent(e hub.Event) {
	defer func() {
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Kind == hub.EventConnection {
		s.conns[e.Conn.DeviceID] = append(s.conns[e.Conn.DeviceID], e.Conn.Connected)
		return
	}
	if e.Kind != hub.EventTwin || e.Twin.Section != twin.Reported {
		return
	}
	if b, ok := e.Twin.Patch["batteryLevel"].(float64); ok {
		s.battery[e.Twin.DeviceID] = append(s.battery[e.Twin.DeviceID], b)
	}
	p, ok := e.Twin.Patch["firmware"].(map[string]any)
	if !ok {
		return
	}
	cur := s.fw[e.Twin.DeviceID]
	if p["status"] == stageDownloading && cur["status"] != stageDownloading {
		s.starts[e.Twin.DeviceID]++
	}
	if cur == nil {
		cur = map[string]any{}
		s.fw[e.Twin.DeviceID] = cur
	}
	for k, v := range p {
		if v == nil {
			delete(cur, k)
		} else {
			cur[k] = v
		}
	}
}

// firmwareAttempts is how many downloads a device has started.
func (s *simHub) firmwareAttempts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts[id]
}

// waitFor re-checks cond after every reported firmware change until it holds.
func (s *simHub) waitFor(t *testing.T, timeout time.Duration, what string, cond func(fw map[string]map[string]any) bool) {
	t.Helper()
	s.waitAll(t, timeout, what, func(s *simHub) bool { return cond(s.fw) })
}

// waitAll re-checks cond (called with s.mu held) after every hub event until it holds.
func (s *simHub) waitAll(t *testing.T, timeout time.Duration, what string, cond func(s *simHub) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		ok := cond(s)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.signal:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

func simLeakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// startFleet provisions and runs a fleet; the test's cleanup closes it.
func startFleet(t *testing.T, s *simHub, o Options) (*Fleet, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conns, err := Provision(ctx, hubRegistry{s.h}, o)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Run(context.Background(), o, conns, s.dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	select {
	case <-f.Ready():
	case <-time.After(60 * time.Second):
		t.Fatalf("fleet not connected after 60s: %v", f.Stats())
	}
	return f, o.DeviceIDs()
}

// rollout sets desired firmware.version on every device and waits until each has
// finished (succeeded or failed) the update to version.
func rollout(t *testing.T, s *simHub, ids []string, version string) (succeeded, failed []string) {
	t.Helper()
	ctx := context.Background()
	errs := make(chan error, len(ids))
	sem := make(chan struct{}, 16)
	for _, id := range ids {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := s.h.PatchTwin(ctx, id, hub.TwinPatch{Desired: map[string]any{"firmware": map[string]any{"version": version}}, HasDesired: true}, "*")
			errs <- err
		}()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	done := func(fw map[string]any) bool {
		st := fw["status"]
		return fw["targetVersion"] == version && (st == statusSucceeded || st == statusFailed)
	}
	s.waitFor(t, 120*time.Second, "every device to finish the update to "+version, func(all map[string]map[string]any) bool {
		for _, id := range ids {
			if !done(all[id]) {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		tw, err := s.h.GetTwin(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		fw, _ := tw.Reported.Values["firmware"].(map[string]any)
		switch fw["status"] {
		case statusSucceeded:
			if fw["version"] != version || fw["progress"] != 100.0 {
				t.Errorf("%s succeeded but reports %v", id, fw)
			}
			succeeded = append(succeeded, id)
		case statusFailed:
			if fw["version"] == version || fw["lastError"] == nil {
				t.Errorf("%s failed but reports %v", id, fw)
			}
			failed = append(failed, id)
		default:
			t.Errorf("%s: stored firmware %v, want succeeded or failed", id, fw)
		}
	}
	return succeeded, failed
}

func TestRollout200(t *testing.T) {
	simLeakCheck(t)
	s := startSimHub(t)
	o := Options{Count: 200, Seed: 42, FailureRate: 0.1, FlakyRate: 0.05, Speed: 100, Parallelism: 32}
	start := time.Now()
	f, ids := startFleet(t, s, o)
	t.Logf("provisioned and connected in %v", time.Since(start))

	// Provisioning tagged the twins from the profiles, and the fleet started with mixed firmware.
	for _, id := range ids[:10] {
		tw, err := s.h.GetTwin(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if want := o.Profile(id).Tags(); !reflect.DeepEqual(tw.Tags, want) {
			t.Fatalf("%s tags %v, want %v", id, tw.Tags, want)
		}
	}
	if v := f.Stats().Versions; len(v) < 3 {
		t.Fatalf("initial firmware versions %v, want a mix", v)
	}

	start = time.Now()
	succeeded, failed := rollout(t, s, ids, "3.0.0")
	t.Logf("rollout finished in %v", time.Since(start))
	if len(succeeded)+len(failed) != len(ids) {
		t.Fatalf("succeeded %d + failed %d != %d", len(succeeded), len(failed), len(ids))
	}
	var want []string
	for _, id := range ids {
		if o.FirmwareFailure(id, "3.0.0", 1) != "" {
			want = append(want, id)
		}
	}
	if !reflect.DeepEqual(failed, want) {
		t.Fatalf("failed devices %v, want the seeded %v", failed, want)
	}
	if len(want) == 0 || len(want) > 40 {
		t.Fatalf("%d seeded failures at rate 0.1 of 200: the failure draw is off", len(want))
	}
	t.Logf("rollout: %d succeeded, %d failed; %v", len(succeeded), len(failed), f.Stats())
}

func TestSameSeedSameOutcome(t *testing.T) {
	simLeakCheck(t)
	o := Options{Count: 20, Seed: 7, FailureRate: 0.3, Speed: 200}
	outcome := func() map[string]any {
		s := startSimHub(t)
		_, ids := startFleet(t, s, o)
		rollout(t, s, ids, "9.9.9")
		out := map[string]any{}
		for _, id := range ids {
			tw, err := s.h.GetTwin(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = []any{tw.Tags, tw.Reported.Values["firmware"], tw.Reported.Values["deviceInfo"]}
		}
		return out
	}
	a, b := outcome(), outcome()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs with seed %d differ:\n%v\n%v", o.Seed, a, b)
	}
}

func TestTelemetryConfigEcho(t *testing.T) {
	simLeakCheck(t)
	s := startSimHub(t)
	o := Options{Count: 1, Seed: 1, Speed: 100}
	_, ids := startFleet(t, s, o)
	id := ids[0]
	tests := map[string]struct {
		value      any
		wantStatus string
		wantFreq   any
	}{
		"duration string": {value: "30s", wantStatus: "success", wantFreq: "30s"},
		"seconds":         {value: 120.0, wantStatus: "success", wantFreq: 120.0},
		"not a duration":  {value: "fast", wantStatus: statusFailed, wantFreq: 120.0},
		"out of range":    {value: "1ms", wantStatus: statusFailed, wantFreq: 120.0},
	}
	for _, name := range []string{"duration string", "seconds", "not a duration", "out of range"} {
		tc := tests[name]
		t.Run(name, func(t *testing.T) {
			if _, err := s.h.PatchTwin(context.Background(), id, hub.TwinPatch{Desired: map[string]any{"telemetryConfig": map[string]any{"sendFrequency": tc.value}}, HasDesired: true}, "*"); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				tw, err := s.h.GetTwin(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				tc2, _ := tw.Reported.Values["telemetryConfig"].(map[string]any)
				if tc2["status"] == tc.wantStatus && reflect.DeepEqual(tc2["sendFrequency"], tc.wantFreq) {
					if tc.wantStatus == statusFailed && !strings.Contains(tc2["lastError"].(string), "sendFrequency") {
						t.Fatalf("lastError %q does not explain", tc2["lastError"])
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("reported telemetryConfig %v, want status %s with %v", tc2, tc.wantStatus, tc.wantFreq)
				}
				time.Sleep(20 * time.Millisecond) // polling the hub's Go API; no event for "not yet"
			}
		})
	}
}
