package sas

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// nodeKey is base64("0123456789abcdef0123456789abcdef"); the vectors below were produced
// with Node 20 by the real SDK code (azure-iot-common 1.13.3):
// SharedAccessSignature.create(encodeUriComponentStrict(resource), policy, key, se).toString(),
// which is what azure-iot-device's SAK authentication provider does.
const nodeKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

var nodeVectors = map[string]struct {
	resource, policy string
	se               int64
	token            string
}{
	"device": {"localhost/devices/dev1", "", 1795773545,
		"SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=8TmVDGKfu1ZN6%2BoHHycISRxwXuMzYJ9k0eCZjOf1NwI%3D&se=1795773545"},
	"device with port": {"localhost:8884/devices/dev1", "", 1795773545,
		"SharedAccessSignature sr=localhost%3A8884%2Fdevices%2Fdev1&sig=pFOPhkfeqUksK5AORenOnN3DG7rGeLbmPVWkEL99RtI%3D&se=1795773545"},
	"service policy": {"localhost", "iothubowner", 1795773545,
		"SharedAccessSignature sr=localhost&sig=6D%2BBhWJQhxaGpcJ2ECUKhxWoBe4VtZ95T%2BURr6GV%2B70%3D&skn=iothubowner&se=1795773545"},
	"device policy": {"localhost/devices/dev1", "device", 1795773545,
		"SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=8TmVDGKfu1ZN6%2BoHHycISRxwXuMzYJ9k0eCZjOf1NwI%3D&skn=device&se=1795773545"},
	"punctuation": {"Hub.Example.NET/devices/a!b'c(d)e*f~g_h.i-j k@l$m,n;o=p+q?r", "", 1700000000,
		"SharedAccessSignature sr=Hub.Example.NET%2Fdevices%2Fa%21b%27c%28d%29e%2af~g_h.i-j%20k%40l%24m%2Cn%3Bo%3Dp%2Bq%3Fr&sig=5CyQjoAD3oguuXuSfno%2Btwsfq6ETz%2FGpstW80BLARDI%3D&se=1700000000"},
	"utf8": {"host/devices/ü€", "", 2000000000,
		"SharedAccessSignature sr=host%2Fdevices%2F%C3%BC%E2%82%AC&sig=dMSEi9Gdg9Vg%2BmsE0FnB%2FulRu3xKhaJNqm39vGJ6i1Y%3D&se=2000000000"},
}

func TestNewTokenMatchesNode(t *testing.T) {
	for name, v := range nodeVectors {
		t.Run(name, func(t *testing.T) {
			got, err := NewToken(v.resource, nodeKey, v.policy, time.Unix(v.se, 0))
			if err != nil {
				t.Fatal(err)
			}
			if got != v.token {
				t.Fatalf("token\n got %s\nwant %s", got, v.token)
			}
			tok, err := ParseToken(got)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Resource != v.resource || tok.Policy != v.policy || tok.Expiry.Unix() != v.se {
				t.Fatalf("parsed %+v", tok)
			}
			if err := tok.Verify(nodeKey, time.Unix(v.se-1, 0)); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !tok.Matches(v.resource) {
				t.Fatalf("does not match its own resource")
			}
		})
	}
}

func TestParseNodeLabToken(t *testing.T) {
	// Captured from the Node SDK in the facts sheet's lab (key unknown: shape only).
	const lab = "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=wevwsqAZ7iaRCT5WeqB8Jty%2FbcY0TyToDHJU6BRb0F0%3D&se=1795773545"
	tok, err := ParseToken(lab)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Resource != "localhost/devices/dev1" || tok.RawResource != "localhost%2Fdevices%2Fdev1" ||
		tok.Signature != "wevwsqAZ7iaRCT5WeqB8Jty/bcY0TyToDHJU6BRb0F0=" || tok.Policy != "" ||
		tok.Expiry.Unix() != 1795773545 {
		t.Fatalf("parsed %+v", tok)
	}
	if err := tok.Verify(nodeKey, time.Unix(0, 0)); !errors.Is(err, ErrSignature) {
		t.Fatalf("verify with a wrong key: %v", err)
	}
}

func TestVerify(t *testing.T) {
	base := nodeVectors["device"]
	now := time.Unix(base.se-10, 0)
	otherKey := "YW5vdGhlciBrZXkgb2YgMzIgYnl0ZXMgLi4uLi4uLi4="
	cases := map[string]struct {
		token string
		key   string
		now   time.Time
		want  error // nil, ErrSignature, ErrExpired
	}{
		"valid":                {base.token, nodeKey, now, nil},
		"fields reordered":     {"SharedAccessSignature se=1795773545&sig=8TmVDGKfu1ZN6%2BoHHycISRxwXuMzYJ9k0eCZjOf1NwI%3D&sr=localhost%2Fdevices%2Fdev1", nodeKey, now, nil},
		"expired at se":        {base.token, nodeKey, time.Unix(base.se, 0), ErrExpired},
		"expired after se":     {base.token, nodeKey, time.Unix(base.se+3600, 0), ErrExpired},
		"wrong key":            {base.token, otherKey, now, ErrSignature},
		"se tampered":          {strings.Replace(base.token, "se=1795773545", "se=1795773546", 1), nodeKey, now, ErrSignature},
		"sr tampered":          {strings.Replace(base.token, "dev1", "dev2", 1), nodeKey, now, ErrSignature},
		"sr re-encoded lower":  {strings.ReplaceAll(base.token, "%2F", "%2f"), nodeKey, now, ErrSignature},
		"sr sent unencoded":    {strings.Replace(base.token, "localhost%2Fdevices%2Fdev1", "localhost/devices/dev1", 1), nodeKey, now, ErrSignature},
		"skn added is ignored": {strings.Replace(base.token, "&se=", "&skn=device&se=", 1), nodeKey, now, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tok, err := ParseToken(c.token)
			if err != nil {
				t.Fatal(err)
			}
			err = tok.Verify(c.key, c.now)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestVerifyRawLowercaseEncoding(t *testing.T) {
	// A token whose signer used lowercase hex (as the docs show) must verify over the raw
	// sr it sent, not over our re-encoding.
	sr := "localhost%2fdevices%2fdev1"
	sig := Encode(b64(sign(mustKey(t), sr, "1795773545")))
	tok, err := ParseToken("SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=1795773545")
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Verify(nodeKey, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if tok.Resource != "localhost/devices/dev1" {
		t.Fatalf("resource %q", tok.Resource)
	}
}

func TestParseTokenErrors(t *testing.T) {
	sig := "sig=8TmVDGKfu1ZN6%2BoHHycISRxwXuMzYJ9k0eCZjOf1NwI%3D"
	cases := map[string]struct{ token, wantInErr string }{
		"empty":          {"", "does not start"},
		"no prefix":      {"sr=a&" + sig + "&se=1", "does not start"},
		"prefix only":    {"SharedAccessSignature", "no fields"},
		"no space":       {"SharedAccessSignaturesr=a&" + sig + "&se=1", "no fields"},
		"missing sr":     {"SharedAccessSignature " + sig + "&se=1", "no sr"},
		"missing sig":    {"SharedAccessSignature sr=a&se=1", "no sig"},
		"missing se":     {"SharedAccessSignature sr=a&" + sig, "no se"},
		"unknown field":  {"SharedAccessSignature sr=a&" + sig + "&se=1&x=2", "unknown field"},
		"repeated":       {"SharedAccessSignature sr=a&sr=b&" + sig + "&se=1", "repeats"},
		"empty sr":       {"SharedAccessSignature sr=&" + sig + "&se=1", "sr is empty"},
		"se not number":  {"SharedAccessSignature sr=a&" + sig + "&se=1x", "not a number"},
		"se negative":    {"SharedAccessSignature sr=a&" + sig + "&se=-1", "not a number"},
		"se zero":        {"SharedAccessSignature sr=a&" + sig + "&se=0", "out of range"},
		"se huge":        {"SharedAccessSignature sr=a&" + sig + "&se=99999999999999999999", "out of range"},
		"bad escape":     {"SharedAccessSignature sr=a%2&" + sig + "&se=1", "percent-escape"},
		"sig not base64": {"SharedAccessSignature sr=a&sig=%%%&se=1", "percent-escape"},
		"sig short":      {"SharedAccessSignature sr=a&sig=YWJj&se=1", "HMAC-SHA256"},
		"trailing amp":   {"SharedAccessSignature sr=a&" + sig + "&se=1&", "unknown field"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseToken(c.token)
			if err == nil || !strings.Contains(err.Error(), c.wantInErr) {
				t.Fatalf("err = %v, want it to mention %q", err, c.wantInErr)
			}
		})
	}
}

func TestResourceMatching(t *testing.T) {
	cases := map[string]struct {
		tokenResource, resource string
		matches, covers         bool
	}{
		"same":                 {"localhost/devices/dev1", "localhost/devices/dev1", true, true},
		"host case":            {"LocalHost/devices/dev1", "localhost/devices/dev1", true, true},
		"device case differs":  {"localhost/devices/Dev1", "localhost/devices/dev1", false, false},
		"trailing slash":       {"localhost/devices/dev1/", "localhost/devices/dev1", true, true},
		"parent":               {"localhost/devices", "localhost/devices/dev1", false, true},
		"host only":            {"localhost", "localhost/devices/dev1", false, true},
		"partial segment":      {"localhost/devices/dev", "localhost/devices/dev1", false, false},
		"other host":           {"otherhost/devices/dev1", "localhost/devices/dev1", false, false},
		"child does not cover": {"localhost/devices/dev1/modules/m", "localhost/devices/dev1", false, false},
		"port":                 {"localhost:8884/devices/dev1", "localhost/devices/dev1", false, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tok := Token{Resource: c.tokenResource}
			if got := tok.Matches(c.resource); got != c.matches {
				t.Errorf("Matches = %v", got)
			}
			if got := tok.Covers(c.resource); got != c.covers {
				t.Errorf("Covers = %v", got)
			}
		})
	}
}

func TestNewTokenErrors(t *testing.T) {
	cases := map[string]struct {
		resource, key string
		expiry        time.Time
	}{
		"empty resource": {"", nodeKey, time.Unix(100, 0)},
		"bad key":        {"h", "not base64!", time.Unix(100, 0)},
		"empty key":      {"h", "", time.Unix(100, 0)},
		"expiry 1970":    {"h", nodeKey, time.Unix(0, 0)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if tok, err := NewToken(c.resource, c.key, "", c.expiry); err == nil {
				t.Fatalf("got token %q, want error", tok)
			}
		})
	}
}

func TestDeviceResource(t *testing.T) {
	if got := DeviceResource("hub.example.com", "dev-1"); got != "hub.example.com/devices/dev-1" {
		t.Fatal(got)
	}
}
