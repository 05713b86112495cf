package sas

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := decodeKey(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseConnectionString(t *testing.T) {
	cases := map[string]struct {
		in   string
		want ConnectionString
		str  string
	}{
		"device": {"HostName=localhost;DeviceId=dev1;SharedAccessKey=" + nodeKey,
			ConnectionString{HostName: "localhost", DeviceID: "dev1", SharedAccessKey: nodeKey},
			"HostName=localhost;DeviceId=dev1;SharedAccessKey=" + nodeKey},
		"service": {"HostName=hub.example.com;SharedAccessKeyName=iothubowner;SharedAccessKey=" + nodeKey,
			ConnectionString{HostName: "hub.example.com", SharedAccessKeyName: "iothubowner", SharedAccessKey: nodeKey},
			"HostName=hub.example.com;SharedAccessKeyName=iothubowner;SharedAccessKey=" + nodeKey},
		"device with policy and gateway, any order and case, spaces, trailing ;": {
			" gatewayhostname=127.0.0.1 ; SharedAccessKey=" + nodeKey + ";DEVICEID=dev1;SharedAccessKeyName=device;HostName=localhost:8883;",
			ConnectionString{HostName: "localhost:8883", DeviceID: "dev1", SharedAccessKeyName: "device", SharedAccessKey: nodeKey, GatewayHostName: "127.0.0.1"},
			"HostName=localhost:8883;DeviceId=dev1;SharedAccessKeyName=device;SharedAccessKey=" + nodeKey + ";GatewayHostName=127.0.0.1"},
		"unpadded key": {"HostName=h;DeviceId=d;SharedAccessKey=YWJj",
			ConnectionString{HostName: "h", DeviceID: "d", SharedAccessKey: "YWJj"},
			"HostName=h;DeviceId=d;SharedAccessKey=YWJj"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseConnectionString(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v", got)
			}
			if got.String() != c.str {
				t.Fatalf("String() = %q", got.String())
			}
		})
	}
}

func TestParseConnectionStringErrors(t *testing.T) {
	k := ";SharedAccessKey=" + nodeKey
	cases := map[string]struct{ in, wantInErr string }{
		"empty":           {"", "no HostName"},
		"no host":         {"DeviceId=d" + k, "no HostName"},
		"no key":          {"HostName=h;DeviceId=d", "no SharedAccessKey"},
		"no id or policy": {"HostName=h" + k, "neither DeviceId nor SharedAccessKeyName"},
		"not key=value":   {"HostName=h;DeviceId" + k, "not Key=Value"},
		"unknown key":     {"HostName=h;DeviceId=d;ModuleId=m" + k, `unknown key "ModuleId"`},
		"x509":            {"HostName=h;DeviceId=d;x509=true", `unknown key "x509"`},
		"repeated":        {"HostName=h;HostName=g;DeviceId=d" + k, "repeats HostName"},
		"empty value":     {"HostName=;DeviceId=d" + k, "empty HostName"},
		"bad key":         {"HostName=h;DeviceId=d;SharedAccessKey=***", "not valid base64"},
		"host with space": {"HostName=a b;DeviceId=d" + k, "not a host name"},
		"host with slash": {"HostName=mqtts://h;DeviceId=d" + k, "not a host name"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConnectionString(c.in)
			if err == nil || !strings.Contains(err.Error(), c.wantInErr) {
				t.Fatalf("err = %v, want it to mention %q", err, c.wantInErr)
			}
		})
	}
}

func TestConnectionStringToken(t *testing.T) {
	cases := map[string]struct {
		cs       string
		resource string
		policy   string
	}{
		"device":        {"HostName=localhost;DeviceId=dev1;SharedAccessKey=" + nodeKey, "localhost/devices/dev1", ""},
		"device policy": {"HostName=localhost;DeviceId=dev1;SharedAccessKeyName=device;SharedAccessKey=" + nodeKey, "localhost/devices/dev1", "device"},
		"service":       {"HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=" + nodeKey, "localhost", "iothubowner"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cs, err := ParseConnectionString(c.cs)
			if err != nil {
				t.Fatal(err)
			}
			s, err := cs.NewToken(time.Unix(1795773545, 0))
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range nodeVectors {
				if v.resource == c.resource && v.policy == c.policy && s != v.token {
					t.Fatalf("token %q, Node gives %q", s, v.token)
				}
			}
			tok, err := ParseToken(s)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Resource != c.resource || tok.Policy != c.policy {
				t.Fatalf("token %+v", tok)
			}
		})
	}
}
