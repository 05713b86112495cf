package hub

import (
	"strings"
	"testing"
)

func TestParseDeviceTopic(t *testing.T) {
	cases := map[string]struct {
		topic string
		want  deviceRequest
	}{
		"get":                {"$iothub/twin/GET/?$rid=1", deviceRequest{op: "GET", rid: "1"}},
		"get without slash":  {"$iothub/twin/GET?$rid=ab", deviceRequest{op: "GET", rid: "ab"}},
		"patch":              {"$iothub/twin/PATCH/properties/reported/?$rid=u-u", deviceRequest{op: "PATCH", rid: "u-u"}},
		"patch with version": {"$iothub/twin/PATCH/properties/reported/?$rid=2&$version=7", deviceRequest{op: "PATCH", rid: "2", version: 7, hasVersion: true}},
		"version first":      {"$iothub/twin/PATCH/properties/reported/?$version=7&$rid=2", deviceRequest{op: "PATCH", rid: "2", version: 7, hasVersion: true}},
		"bad version":        {"$iothub/twin/PATCH/properties/reported/?$rid=2&$version=x", deviceRequest{op: "PATCH", rid: "2", badVersion: "x"}},
		"rid kept raw":       {"$iothub/twin/GET/?$rid=%41%20b", deviceRequest{op: "GET", rid: "%41%20b"}},
		"unknown op":         {"$iothub/twin/DELETE/?$rid=3", deviceRequest{rid: "3"}},
		"desired is not ok":  {"$iothub/twin/PATCH/properties/desired/?$rid=3", deviceRequest{rid: "3"}},
		"no rid":             {"$iothub/twin/GET/", deviceRequest{op: "GET"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := parseDeviceTopic(c.topic); got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func FuzzParseDeviceTopic(f *testing.F) {
	for _, s := range []string{"$iothub/twin/GET/?$rid=1", "$iothub/twin/PATCH/properties/reported/?$rid=2&$version=7", "?&=", "$iothub/twin/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		r := parseDeviceTopic(topic)
		if r.op != "" && r.op != "GET" && r.op != "PATCH" {
			t.Fatalf("op %q", r.op)
		}
		if r.rid != "" && !strings.Contains(topic, "$rid="+r.rid) {
			t.Fatalf("rid %q not in %q", r.rid, topic)
		}
		if r.hasVersion && r.badVersion != "" && !strings.Contains(topic, "$version="+r.badVersion) {
			t.Fatalf("bad version %q not in %q", r.badVersion, topic)
		}
	})
}

func FuzzScope(f *testing.F) {
	f.Add("dev1", "$iothub/twin/res/200/?$rid=1")
	f.Add("a/+#", "$iothub/twin/PATCH/properties/desired/?$version=2")
	f.Add("svc", "$twinops/res/200/?$rid=1")
	f.Fuzz(func(t *testing.T, id, topic string) {
		for _, k := range []connKind{kindDevice, kindService} {
			p := scopePrefix(k, id)
			if strings.Count(p, "/") != 2 || strings.ContainsAny(p[3:], "+#") {
				t.Fatalf("prefix %q of %q is not one safe level", p, id)
			}
			internal := p + topic
			if k == kindDevice {
				internal = scopeDeviceTopic(p, topic)
				if internal == "" {
					if strings.HasPrefix(topic, resLong) || strings.HasPrefix(topic, desiredLong) {
						t.Fatalf("device topic %q not scoped", topic)
					}
					continue
				}
			}
			if !strings.HasPrefix(internal, p) {
				t.Fatalf("%q is outside %q", internal, p)
			}
			if got := stripScope(internal); got != topic {
				t.Fatalf("strip(%q) = %q, want %q", internal, got, topic)
			}
		}
	})
}

func FuzzIdentityCodec(f *testing.F) {
	x := Identity{DeviceID: "d", GenerationID: "1", Etag: "e", Status: StatusEnabled, StatusReason: "r",
		Authentication: Authentication{Type: "sas", SymmetricKey: SymmetricKey{PrimaryKey: "p", SecondaryKey: "s"}}}
	f.Add(marshalIdentity(&x))
	f.Add([]byte{1, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		y, err := unmarshalIdentity(b)
		if err != nil {
			return
		}
		z, err := unmarshalIdentity(marshalIdentity(y))
		if err != nil || *z != *y {
			t.Fatalf("round trip changed %+v into %+v (%v)", y, z, err)
		}
	})
}
