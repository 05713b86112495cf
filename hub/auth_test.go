package hub

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/twinops/twinops/sas"
)

func TestDeviceAuthMatrix(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	other := createDevice(t, h, "dev2")
	off := createDevice(t, h, "off")
	off.Status = StatusDisabled
	if _, err := h.UpdateDevice(context.Background(), off, "*"); err != nil {
		t.Fatal(err)
	}
	key := x.Authentication.SymmetricKey.PrimaryKey
	hour := time.Now().Add(time.Hour)
	devPolicy, _ := h.policy("device")
	svcPolicy, _ := h.policy("service")
	policyToken := func(p Policy, id string) string {
		tok, err := sas.NewToken(sas.DeviceResource("localhost", id), p.PrimaryKey, p.Name, hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := deviceToken(t, "dev1", key, hour)
	cases := map[string]struct {
		id string
		o  dialOpts
		ok bool
	}{
		"good primary key":        {"dev1", dialOpts{}, true},
		"good secondary key":      {"dev1", dialOpts{password: deviceToken(t, "dev1", x.Authentication.SymmetricKey.SecondaryKey, hour)}, true},
		"host with port in sr":    {"dev1", dialOpts{password: mustToken(t, "localhost:8883/devices/dev1", key, "", hour), username: "localhost:8883/dev1/?api-version=2021-04-12"}, true},
		"device policy with skn":  {"dev1", dialOpts{password: policyToken(devPolicy, "dev1")}, true},
		"expired":                 {"dev1", dialOpts{password: deviceToken(t, "dev1", key, time.Now().Add(-time.Minute))}, false},
		"tampered signature":      {"dev1", dialOpts{password: strings.Replace(good, "&sig=", "&sig=A", 1)}, false},
		"tampered expiry":         {"dev1", dialOpts{password: strings.Replace(good, "&se=", "&se=1", 1)}, false},
		"another device's key":    {"dev1", dialOpts{password: deviceToken(t, "dev1", other.Authentication.SymmetricKey.PrimaryKey, hour)}, false},
		"token for another":       {"dev1", dialOpts{password: deviceToken(t, "dev2", other.Authentication.SymmetricKey.PrimaryKey, hour)}, false},
		"wrong client id":         {"dev1", dialOpts{clientID: "dev2"}, false},
		"unknown device":          {"ghost", dialOpts{password: deviceToken(t, "ghost", key, hour)}, false},
		"disabled device":         {"off", dialOpts{password: deviceToken(t, "off", off.Authentication.SymmetricKey.PrimaryKey, hour)}, false},
		"wrong host":              {"dev1", dialOpts{password: mustToken(t, "evil/devices/dev1", key, "", hour)}, false},
		"policy without connect":  {"dev1", dialOpts{password: policyToken(svcPolicy, "dev1")}, false},
		"username of another":     {"dev1", dialOpts{username: "localhost/dev2/?api-version=2021-04-12"}, false},
		"password not a token":    {"dev1", dialOpts{password: "hunter2"}, false},
		"service id device token": {"dev1", dialOpts{clientID: "service/x"}, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			k := key
			d, err := dialDevice(t, h, c.id, k, c.o)
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				d.close()
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "not Authorized") && !strings.Contains(err.Error(), "not authorized") {
				t.Fatalf("refused with %v, want CONNACK not authorized", err)
			}
		})
	}
}

func mustToken(t *testing.T, resource, key, policy string, expiry time.Time) string {
	t.Helper()
	tok, err := sas.NewToken(resource, key, policy, expiry)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDisconnects(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	key := x.Authentication.SymmetricKey.PrimaryKey

	t.Run("token expiry", func(t *testing.T) {
		d, err := dialDevice(t, h, "dev1", key, dialOpts{password: deviceToken(t, "dev1", key, time.Now().Add(2*time.Second))})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-d.lost:
		case <-time.After(waitTimeout):
			t.Fatal("still connected after the token expired")
		}
	})
	t.Run("disabled while connected", func(t *testing.T) {
		d := mustDial(t, h, x)
		y := x
		y.Status = StatusDisabled
		if _, err := h.UpdateDevice(context.Background(), y, ""); err != nil {
			t.Fatal(err)
		}
		select {
		case <-d.lost:
		case <-time.After(waitTimeout):
			t.Fatal("still connected after being disabled")
		}
		if _, err := dialDevice(t, h, "dev1", key, dialOpts{}); err == nil {
			t.Fatal("a disabled device connected")
		}
		y.Status = StatusEnabled
		if _, err := h.UpdateDevice(context.Background(), y, ""); err != nil {
			t.Fatal(err)
		}
		mustDial(t, h, x).close()
	})
	t.Run("one connection per device", func(t *testing.T) {
		first := mustDial(t, h, x)
		second := mustDial(t, h, x)
		select {
		case <-first.lost:
		case <-time.After(waitTimeout):
			t.Fatal("the first connection survived a second one")
		}
		second.subscribe("$iothub/twin/res/#", 0)
		if m := second.request("$iothub/twin/GET/?$rid=1", "1", ""); !strings.HasPrefix(m.topic, "$iothub/twin/res/200/") {
			t.Fatalf("second connection GET: %s", m.topic)
		}
		tw, _ := h.GetTwin(context.Background(), "dev1")
		if tw.ConnectionState != "Connected" {
			t.Fatalf("after take-over the twin says %s", tw.ConnectionState)
		}
	})
	t.Run("deleted while connected", func(t *testing.T) {
		d := mustDial(t, h, x)
		if err := h.DeleteDevice(context.Background(), "dev1", "*"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-d.lost:
		case <-time.After(waitTimeout):
			t.Fatal("still connected after being deleted")
		}
		if _, err := h.GetTwin(context.Background(), "dev1"); err == nil {
			t.Fatal("twin survived the identity")
		}
	})
}

func TestQoS2Refused(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	d := mustDial(t, h, x)
	if got := d.subscribe("$iothub/twin/res/#", 2); got != 1 {
		t.Fatalf("SUBACK for QoS 2: %#x, want 1", got)
	}
	d.c.Publish("$iothub/twin/GET/?$rid=1", 2, false, "")
	select {
	case <-d.lost:
	case <-time.After(waitTimeout):
		t.Fatal("QoS 2 publish did not close the connection")
	}
	var _ paho.Client = d.c
}

func TestServiceAuth(t *testing.T) {
	h := startHub(t, t.TempDir())
	createDevice(t, h, "dev1")
	hour := time.Now().Add(time.Hour)
	owner, _ := h.policy("iothubowner")
	reader, _ := h.policy("registryRead")
	dev, _ := h.policy("device")
	cases := map[string]struct {
		clientID, token string
		ok              bool
		rights          Rights
	}{
		"owner":                {"service/a", mustToken(t, "localhost", owner.PrimaryKey, "iothubowner", hour), true, owner.Rights},
		"registryRead":         {"service/b", mustToken(t, "localhost:8883", reader.SecondaryKey, "registryRead", hour), true, RegistryRead},
		"device policy":        {"service/c", mustToken(t, "localhost", dev.PrimaryKey, "device", hour), false, 0},
		"no skn":               {"service/d", mustToken(t, "localhost", owner.PrimaryKey, "", hour), false, 0},
		"other host":           {"service/e", mustToken(t, "evil", owner.PrimaryKey, "iothubowner", hour), false, 0},
		"wrong key":            {"service/f", mustToken(t, "localhost", reader.PrimaryKey, "iothubowner", hour), false, 0},
		"expired":              {"service/g", mustToken(t, "localhost", owner.PrimaryKey, "iothubowner", time.Now().Add(-time.Second)), false, 0},
		"service token as dev": {"dev1", mustToken(t, "localhost", owner.PrimaryKey, "iothubowner", hour), false, 0},
		"reserved client id":   {"inline", mustToken(t, "localhost", owner.PrimaryKey, "iothubowner", hour), false, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := dialDevice(t, h, "x", "", dialOpts{clientID: c.clientID, username: "localhost/service", password: c.token})
			if !c.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			v, ok := h.conns.Load(c.clientID)
			if !ok || v.(*conn).Kind != kindService || v.(*conn).Rights != c.rights {
				t.Fatalf("connection record %+v", v)
			}
		})
	}
}
