package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDeviceGetAndPatch(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	d := mustDial(t, h, x)
	if got := d.subscribe("$iothub/twin/res/#", 0); got != 0 {
		t.Fatalf("SUBACK %#x, want 0", got)
	}

	m := d.request("$iothub/twin/GET/?$rid=1", "1", " ")
	if m.topic != "$iothub/twin/res/200/?$rid=1" {
		t.Fatalf("GET answer topic %q", m.topic)
	}
	if m.payload != `{"desired":{"$version":1},"reported":{"$version":1}}` {
		t.Fatalf("GET body %s", m.payload)
	}

	m = d.request("$iothub/twin/PATCH/properties/reported/?$rid=abc-2", "abc-2", `{"fw":{"version":"1.2"},"battery":80}`)
	if m.topic != "$iothub/twin/res/204/?$rid=abc-2&$version=2" || m.payload != "" {
		t.Fatalf("PATCH answer %q %q", m.topic, m.payload)
	}
	tw, err := h.GetTwin(context.Background(), "dev1")
	if err != nil {
		t.Fatal(err)
	}
	if tw.Reported.Version != 2 || tw.Reported.Values["battery"] != 80.0 {
		t.Fatalf("stored reported %+v", tw.Reported)
	}
	if tw.ConnectionState != "Connected" {
		t.Fatalf("connection state %q", tw.ConnectionState)
	}

	// $version precondition: matching succeeds, stale gets 412.
	m = d.request("$iothub/twin/PATCH/properties/reported/?$rid=3&$version=2", "3", `{"battery":79}`)
	if m.topic != "$iothub/twin/res/204/?$rid=3&$version=3" {
		t.Fatalf("PATCH with current $version: %q %s", m.topic, m.payload)
	}
	m = d.request("$iothub/twin/PATCH/properties/reported/?$rid=4&$version=2", "4", `{"battery":1}`)
	if m.topic != "$iothub/twin/res/412/?$rid=4" {
		t.Fatalf("PATCH with stale $version: %q", m.topic)
	}
	checkErrorBody(t, m.payload, CodePreconditionFailed)

	m = d.request("$iothub/twin/GET/?$rid=5", "5", "")
	var got struct {
		Reported map[string]any `json:"reported"`
	}
	if err := json.Unmarshal([]byte(m.payload), &got); err != nil {
		t.Fatal(err)
	}
	if got.Reported["battery"] != 79.0 || got.Reported["$version"] != 3.0 {
		t.Fatalf("GET after patches: %s", m.payload)
	}
}

func checkErrorBody(t *testing.T, body string, code int) {
	t.Helper()
	var e struct {
		ErrorCode    *int    `json:"errorCode"`
		Message      *string `json:"message"`
		TrackingID   *string `json:"trackingId"`
		TimestampUtc *string `json:"timestampUtc"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.ErrorCode == nil || e.Message == nil || *e.Message == "" || e.TrackingID == nil || e.TimestampUtc == nil {
		t.Fatalf("error body %s lacks errorCode/message/trackingId/timestampUtc", body)
	}
	if code != 0 && *e.ErrorCode != code {
		t.Fatalf("errorCode %d, want %d (%s)", *e.ErrorCode, code, *e.Message)
	}
}

func TestDeviceErrors(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	d := mustDial(t, h, x)
	d.subscribe("$iothub/twin/res/#", 1)
	before, _ := h.GetTwin(context.Background(), "dev1")

	big := `{"blob":"` + strings.Repeat("x", 4000) + `"`
	for i := range 10 {
		big += `,"k` + string(rune('a'+i)) + `":"` + strings.Repeat("y", 4000) + `"`
	}
	big += "}"
	cases := map[string]struct {
		topic, body string
		status      string
		code        int
	}{
		"malformed JSON":    {"$iothub/twin/PATCH/properties/reported/?$rid=r", `{"a":`, "400", 400006},
		"not an object":     {"$iothub/twin/PATCH/properties/reported/?$rid=r", `[1,2]`, "400", 400006},
		"reserved key":      {"$iothub/twin/PATCH/properties/reported/?$rid=r", `{"$version":3}`, "400", 400004},
		"key with dot":      {"$iothub/twin/PATCH/properties/reported/?$rid=r", `{"a.b":1}`, "400", 400004},
		"over 32 KB":        {"$iothub/twin/PATCH/properties/reported/?$rid=r", big, "400", 0},
		"unknown operation": {"$iothub/twin/DELETE/?$rid=r", ``, "400", CodeUnknownOperation},
		"desired by device": {"$iothub/twin/PATCH/properties/desired/?$rid=r", `{"a":1}`, "400", CodeUnknownOperation},
		"not a twin topic":  {"$iothub/jobs/GET/?$rid=r", ``, "400", CodeUnknownOperation},
		"bad $version":      {"$iothub/twin/PATCH/properties/reported/?$rid=r&$version=x", `{"a":1}`, "400", 400004},
	}
	i := 0
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			i++
			rid := "r" + string(rune('a'+i))
			topic := strings.Replace(c.topic, "$rid=r", "$rid="+rid, 1)
			m := d.request(topic, rid, c.body)
			if !strings.HasPrefix(m.topic, "$iothub/twin/res/"+c.status+"/?$rid="+rid) {
				t.Fatalf("answer %q, want status %s", m.topic, c.status)
			}
			checkErrorBody(t, m.payload, c.code)
		})
	}
	after, _ := h.GetTwin(context.Background(), "dev1")
	if after.Version != before.Version || after.Reported.Version != before.Reported.Version || len(after.Reported.Values) != 0 {
		t.Fatalf("refused requests changed the twin: %+v", after.Reported)
	}
}

func TestDeviceOverTLS(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	d, err := dialDevice(t, h, "dev1", x.Authentication.SymmetricKey.PrimaryKey, dialOpts{tls: true})
	if err != nil {
		t.Fatalf("TLS connect: %v", err)
	}
	d.subscribe("$iothub/twin/res/#", 0)
	if m := d.request("$iothub/twin/GET/?$rid=t", "t", ""); m.topic != "$iothub/twin/res/200/?$rid=t" {
		t.Fatalf("GET over TLS: %s", m.topic)
	}
	info, err := ReadInfo(h.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if info.TLSAddr != h.TLSAddr().String() || info.PlainAddr != h.PlainAddr().String() || info.CAFile != h.CAFile() {
		t.Fatalf("hub.json %+v does not match the hub", info)
	}
}

func TestPlainListenerMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:1883", ":1883", "192.0.2.1:1883", "example.com:1883"} {
		_, err := New(Config{DataDir: t.TempDir(), PlainAddr: addr})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("plain listener %q: %v, want a loopback error", addr, err)
		}
	}
}

func TestSuppliedCertificate(t *testing.T) {
	other := startHub(t, t.TempDir()) // its server certificate, signed by its own CA
	other.Close()
	dir := t.TempDir()
	h, err := New(Config{DataDir: dir, TLSAddr: "127.0.0.1:0", Logger: testLogger(),
		TLSCertFile: filepath.Join(other.DataDir(), "pki", "server.pem"), TLSKeyFile: filepath.Join(other.DataDir(), "pki", "server-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	if h.CAFile() != "" {
		t.Fatalf("CA file %q for a supplied certificate", h.CAFile())
	}
	pem, _ := os.ReadFile(filepath.Join(other.DataDir(), "pki", "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := tls.Dial("tcp", h.TLSAddr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS with the supplied certificate: %v", err)
	}
	c.Close()
	if _, err := New(Config{DataDir: t.TempDir(), TLSAddr: "127.0.0.1:0", TLSCertFile: "/nonexistent.pem", TLSKeyFile: "/nonexistent-key.pem"}); err == nil {
		t.Fatal("missing certificate files accepted")
	}
}

func TestPipelinedRequestsAllAnswered(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	tok := deviceToken(t, "dev1", x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour))
	rc, err := dialRaw(h.PlainAddr().String(), "dev1", "localhost/dev1/?api-version=2021-04-12", tok)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	if err := rc.subscribe("$iothub/twin/res/#"); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	go func() { // write everything at once, without reading
		for i := range n {
			if i%2 == 0 {
				rc.publish("$iothub/twin/GET/?$rid="+strconv.Itoa(i), nil)
			} else {
				rc.publish("$iothub/twin/PATCH/properties/reported/?$rid="+strconv.Itoa(i), []byte(`{"i":1}`))
			}
		}
		rc.flush()
	}()
	seen := map[string]bool{}
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	for len(seen) < n {
		topic, _, err := rc.readPublish()
		if err != nil {
			t.Fatalf("after %d answers: %v", len(seen), err)
		}
		_, rid, _ := strings.Cut(topic, "$rid=")
		rid, _, _ = strings.Cut(rid, "&")
		seen[rid] = true
	}
}
