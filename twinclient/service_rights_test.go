package twinclient

import (
	"context"
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Every policy against every operation: allowed ones do not answer 403, refused ones
// answer 403 with errorCode 403001 and change nothing.
func TestServiceRightsMatrix(t *testing.T) {
	sh := startSvcHub(t)
	admin := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	if _, err := admin.CreateDevice(ctx, Identity{DeviceID: "target"}); err != nil {
		t.Fatal(err)
	}
	// op -> right it needs ("any" for any service right)
	ops := []struct {
		op, need string
		body     func(n int) string
	}{
		{"hub.info", "any", func(int) string { return `{}` }},
		{"twin.get", "serviceConnect", func(int) string { return `{"deviceId":"target"}` }},
		{"twin.patch", "serviceConnect", func(int) string { return `{"deviceId":"target","desired":{"a":1}}` }},
		{"twin.replace", "serviceConnect", func(int) string { return `{"deviceId":"target","tags":{"a":1}}` }},
		{"query", "serviceConnect", func(int) string { return `{"query":"SELECT * FROM devices"}` }},
		{"device.get", "registryRead", func(int) string { return `{"deviceId":"target"}` }},
		{"device.list", "registryRead", func(int) string { return `{}` }},
		{"device.connectionString", "registryRead", func(int) string { return `{"deviceId":"target"}` }},
		{"device.create", "registryWrite", func(n int) string { return fmt.Sprintf(`{"deviceId":"new-%d"}`, n) }},
		{"device.update", "registryWrite", func(int) string { return `{"deviceId":"target","statusReason":"r"}` }},
		{"device.regenerateKey", "registryWrite", func(int) string { return `{"deviceId":"target","key":"secondary"}` }},
		{"device.delete", "registryWrite", func(n int) string { return fmt.Sprintf(`{"deviceId":"new-%d"}`, n) }},
	}
	policies := map[string][]string{
		"iothubowner":       {"registryRead", "registryWrite", "serviceConnect"},
		"service":           {"serviceConnect"},
		"registryRead":      {"registryRead"},
		"registryReadWrite": {"registryRead", "registryWrite"},
	}
	n := 0
	for policy, rights := range policies {
		s := sh.dial(t, policy)
		has := map[string]bool{"any": true}
		for _, r := range rights {
			has[r] = true
		}
		for _, o := range ops {
			n++
			t.Run(policy+"/"+o.op, func(t *testing.T) {
				before, _ := admin.GetTwin(ctx, "target")
				status, body, err := s.roundTrip(ctx, o.op, []byte(o.body(n)))
				if err != nil {
					t.Fatal(err)
				}
				if has[o.need] {
					if status == 403 {
						t.Fatalf("refused: %s", body)
					}
					if status >= 300 && o.op != "device.delete" { // device.delete of a device the policy could not create: 404 is fine
						t.Fatalf("status %d: %s", status, body)
					}
					return
				}
				e := parseErrorBody(status, body)
				if status != 403 || e.Code != 403001 {
					t.Fatalf("status %d %s, want 403 with errorCode 403001", status, body)
				}
				after, _ := admin.GetTwin(ctx, "target")
				if after.Version != before.Version {
					t.Fatalf("a refused %s changed the twin", o.op)
				}
			})
		}
	}
}

// Event subscriptions follow the rights: twin and connection events need
// serviceConnect, identity events registryRead or serviceConnect.
func TestServiceEventSubscriptionRights(t *testing.T) {
	sh := startSvcHub(t)
	cases := map[string]struct {
		policy, filter string
		allowed        bool
	}{
		"owner all":             {"iothubowner", "$twinops/events/#", true},
		"service all":           {"service", "$twinops/events/#", true},
		"service twin":          {"service", "$twinops/events/twin/+", true},
		"registryRead all":      {"registryRead", "$twinops/events/#", false},
		"registryRead twin":     {"registryRead", "$twinops/events/twin/#", false},
		"registryRead conn":     {"registryRead", "$twinops/events/connection/#", false},
		"registryRead identity": {"registryRead", "$twinops/events/identity/#", true},
		"registryRead sync":     {"registryRead", "$twinops/events/sync", true},
		"service other topic":   {"service", "devices/#", false},
		"service iothub":        {"service", "$iothub/twin/res/#", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := sh.dial(t, c.policy)
			tok := s.client.Subscribe(c.filter, 0, func(mqtt.Client, mqtt.Message) {})
			if !tok.WaitTimeout(5 * time.Second) {
				t.Fatal("no SUBACK")
			}
			q := tok.(*mqtt.SubscribeToken).Result()[c.filter]
			if got := q != 0x80; got != c.allowed {
				t.Fatalf("granted %#x; want allowed=%v", q, c.allowed)
			}
		})
	}
}

// A registryRead client subscribed to everything it may see receives identity events
// but no twin events.
func TestServiceEventsFiltered(t *testing.T) {
	sh := startSvcHub(t)
	admin := sh.dial(t, "iothubowner")
	reader := sh.dial(t, "registryRead")
	ctx := testCtx(t)
	got := make(chan string, 100)
	for _, f := range []string{"$twinops/events/identity/#", "$twinops/events/twin/#"} {
		tok := reader.client.Subscribe(f, 0, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() })
		tok.WaitTimeout(5 * time.Second)
	}
	if _, err := admin.CreateDevice(ctx, Identity{DeviceID: "ev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PatchTwin(ctx, "ev", Patch{Desired: map[string]any{"a": 1.0}}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UpdateDevice(ctx, Identity{DeviceID: "ev", Status: "disabled"}, ""); err != nil {
		t.Fatal(err)
	}
	// events are delivered in order: once the marker's creation is here, the twin event
	// of "ev" would have been too
	if _, err := admin.CreateDevice(ctx, Identity{DeviceID: "marker"}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for {
		select {
		case topic := <-got:
			seen = append(seen, topic)
			if topic != "$twinops/events/identity/marker" {
				continue
			}
			want := []string{"$twinops/events/identity/ev", "$twinops/events/identity/ev", "$twinops/events/identity/marker"}
			if fmt.Sprint(seen) != fmt.Sprint(want) {
				t.Fatalf("registryRead received %v, want %v", seen, want)
			}
			return
		case <-ctx.Done():
			t.Fatalf("marker event never came; received %v", seen)
		}
	}
}

// A device policy cannot connect as a service client; neither can a wrong key.
func TestServiceConnectRefused(t *testing.T) {
	sh := startSvcHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dev, err := sh.h.ServiceConnectionString("device")
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := sh.h.ServiceConnectionString("iothubowner")
	wrongKey := owner[:len(owner)-8] + "AAAAAAA="
	for name, cs := range map[string]string{"device policy": dev, "wrong key": wrongKey} {
		t.Run(name, func(t *testing.T) {
			s, err := DialService(ctx, ServiceOptions{URL: sh.url, ConnectionString: cs})
			if err == nil {
				s.Close()
				t.Fatal("connected")
			}
		})
	}
}
