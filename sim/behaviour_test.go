package sim

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
)

// setDesired merges a desired patch on one device.
func (s *simHub) setDesired(t *testing.T, id string, p map[string]any) {
	t.Helper()
	if _, err := s.h.PatchTwin(context.Background(), id, hub.TwinPatch{Desired: p, HasDesired: true}, "*"); err != nil {
		t.Fatal(err)
	}
}

// firmware returns the stored reported firmware of a device.
func (s *simHub) firmware(t *testing.T, id string) map[string]any {
	t.Helper()
	tw, err := s.h.GetTwin(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := tw.Reported.Values["firmware"].(map[string]any)
	return fw
}

func TestFlakyLinksDropAndReturn(t *testing.T) {
	simLeakCheck(t)
	s := startSimHub(t)
	// At speed 2000 a flaky device is online 30-120ms, then offline 5-22ms.
	_, ids := startFleet(t, s, Options{Count: 3, Seed: 5, FlakyRate: 1, Speed: 2000})
	s.waitAll(t, 30*time.Second, "every device to drop and come back twice", func(s *simHub) bool {
		for _, id := range ids {
			ups, downs := 0, 0
			for _, c := range s.conns[id] {
				if c {
					ups++
				} else {
					downs++
				}
			}
			if downs < 2 || ups < 3 {
				return false
			}
		}
		return true
	})
}

func TestBatteryDrains(t *testing.T) {
	simLeakCheck(t)
	s := startSimHub(t)
	o := Options{Count: 2, Seed: 9, Speed: 6000} // one percent every ~50ms
	_, ids := startFleet(t, s, o)
	s.waitAll(t, 30*time.Second, "three battery reports per device", func(s *simHub) bool {
		for _, id := range ids {
			if len(s.battery[id]) < 3 {
				return false
			}
		}
		return true
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		levels := s.battery[id]
		if levels[0] != float64(o.Profile(id).Battery) {
			t.Errorf("%s first battery report %v, want the profile's %d", id, levels[0], o.Profile(id).Battery)
		}
		for i := 1; i < len(levels); i++ {
			if levels[i] != levels[i-1]-1 && levels[i] != 100 {
				t.Errorf("%s battery went %v -> %v; want one percent down (or a recharge to 100)", id, levels[i-1], levels[i])
			}
		}
	}
}

func TestFirmwareUpdateLifecycle(t *testing.T) {
	simLeakCheck(t)
	type lifecycleCase struct {
		failureRate float64
		steps       func(t *testing.T, s *simHub, id, running string)
	}
	tests := map[string]lifecycleCase{
		"retargeted mid-update": {
			steps: func(t *testing.T, s *simHub, id, _ string) {
				s.setDesired(t, id, map[string]any{"firmware": map[string]any{"version": "5.0.0"}})
				s.waitFor(t, 30*time.Second, "downloading 5.0.0", func(fw map[string]map[string]any) bool {
					return fw[id]["targetVersion"] == "5.0.0" && fw[id]["status"] == stageDownloading
				})
				s.setDesired(t, id, map[string]any{"firmware": map[string]any{"version": "6.0.0"}})
				s.waitFor(t, 30*time.Second, "succeeded at 6.0.0", func(fw map[string]map[string]any) bool {
					return fw[id]["status"] == statusSucceeded
				})
				if fw := s.firmware(t, id); fw["version"] != "6.0.0" || fw["targetVersion"] != "6.0.0" {
					t.Fatalf("after retargeting: %v, want 6.0.0 installed", fw)
				}
			},
		},
		"failed update is not retried, reverting clears it": {
			failureRate: 1,
			steps: func(t *testing.T, s *simHub, id, running string) {
				s.setDesired(t, id, map[string]any{"firmware": map[string]any{"version": "7.0.0"}})
				s.waitFor(t, 30*time.Second, "7.0.0 failed", func(fw map[string]map[string]any) bool {
					return fw[id]["targetVersion"] == "7.0.0" && fw[id]["status"] == statusFailed
				})
				fw := s.firmware(t, id)
				if fw["version"] != running || fw["lastError"] == nil {
					t.Fatalf("failed update: %v, want %s still running and a lastError", fw, running)
				}
				// An unrelated desired change must not restart the failed update.
				s.setDesired(t, id, map[string]any{"telemetryConfig": map[string]any{"sendFrequency": "1m"}})
				s.setDesired(t, id, map[string]any{"firmware": map[string]any{"version": running}})
				s.waitFor(t, 30*time.Second, "status current again", func(fw map[string]map[string]any) bool {
					return fw[id]["status"] == statusCurrent
				})
				if fw := s.firmware(t, id); fw["lastError"] != nil || fw["targetVersion"] != nil || fw["version"] != running {
					t.Fatalf("after reverting: %v, want %s current with no error", fw, running)
				}
				if n := s.firmwareAttempts(id); n != 1 {
					t.Fatalf("%d downloads of 7.0.0 started, want 1 (no retry)", n)
				}
			},
		},
	}
	tests["a version that is not a string is reported, not installed"] = lifecycleCase{steps: func(t *testing.T, s *simHub, id, running string) {
		s.setDesired(t, id, map[string]any{"firmware": map[string]any{"version": 3.0}})
		s.waitFor(t, 30*time.Second, "a lastError about the version", func(fw map[string]map[string]any) bool {
			e, _ := fw[id]["lastError"].(string)
			return strings.Contains(e, "not a version string")
		})
		if fw := s.firmware(t, id); fw["version"] != running || fw["status"] != statusCurrent {
			t.Fatalf("after a numeric version: %v, want %s still current", fw, running)
		}
	}}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := startSimHub(t)
			o := Options{Count: 1, Seed: 11, Speed: 50, FailureRate: tc.failureRate}
			_, ids := startFleet(t, s, o)
			tc.steps(t, s, ids[0], o.Profile(ids[0]).Firmware)
		})
	}
}

func TestRestartKeepsFirmware(t *testing.T) {
	simLeakCheck(t)
	s := startSimHub(t)
	o := Options{Count: 6, Seed: 21, FailureRate: 0.4, Speed: 100}
	conns, err := Provision(context.Background(), hubRegistry{s.h}, o)
	if err != nil {
		t.Fatal(err)
	}
	run := func() *Fleet {
		f, err := Run(context.Background(), o, conns, s.dial)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-f.Ready():
		case <-time.After(60 * time.Second):
			t.Fatalf("fleet not connected: %v", f.Stats())
		}
		return f
	}
	f := run()
	ids := o.DeviceIDs()
	rollout(t, s, ids, "4.0.0")
	before := map[string]map[string]any{}
	for _, id := range ids {
		before[id] = s.firmware(t, id)
	}
	statsBefore := f.Stats()
	_ = f.Close()

	f = run()
	defer f.Close()
	// Restarted devices run what they had installed and keep their outcome; the failed
	// ones do not retry the same version.
	if st := f.Stats(); !reflect.DeepEqual(st.Versions, statsBefore.Versions) || !reflect.DeepEqual(st.Firmware, statsBefore.Firmware) {
		t.Fatalf("after restart versions %v firmware %v; before %v %v", st.Versions, st.Firmware, statsBefore.Versions, statsBefore.Firmware)
	}
	for _, id := range ids {
		fw := s.firmware(t, id)
		if fw["version"] != before[id]["version"] || fw["status"] != before[id]["status"] {
			t.Fatalf("%s after restart %v, before %v", id, fw, before[id])
		}
	}
}
