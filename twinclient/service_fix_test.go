package twinclient

import (
	"context"
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
