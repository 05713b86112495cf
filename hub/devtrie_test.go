package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"
)

// indexed reports whether mochi's topic index holds a subscriber for device id's twin
// answer and desired topics.
func indexed(h *Hub, id string) bool {
	p := scopePrefix(kindDevice, id)
	for _, topic := range []string{p + "r/200/?$rid=1", p + "d/?$version=2"} {
		if len(h.srv.Topics.Subscribers(topic).Subscriptions) > 0 {
			return true
		}
	}
	return false
}

// TestDeviceSubscriptionsNotIndexed: a device's twin subscriptions stay out of mochi's
// topic index (subscribe, session take-over, lazy restore after a restart), and the device
// still gets its answers and desired notifications.
func TestDeviceSubscriptionsNotIndexed(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	x := createDevice(t, h, "dev1")
	check := func(h *Hub, stage string, rc *rawClient) {
		t.Helper()
		// mochi reads the GET only after OnSessionEstablished has run.
		if topic, err := rc.getTwin(stage); err != nil || topic != "$iothub/twin/res/200/?$rid="+stage {
			t.Fatalf("%s: GET answer %q, %v", stage, topic, err)
		}
		if indexed(h, "dev1") {
			t.Errorf("%s: the device's subscriptions are in mochi's topic index", stage)
		}
	}
	rc, _, err := dialSession(t, h, x, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#"} {
		if err := rc.subscribe(f); err != nil {
			t.Fatal(err)
		}
	}
	check(h, "subscribed", rc)
	rc2, present, err := dialSession(t, h, x, false) // takes the session over
	if err != nil || !present {
		t.Fatalf("take-over: present %v, %v", present, err)
	}
	defer rc2.close()
	check(h, "taken-over", rc2)
	rc.close()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := startHub(t, dir)
	rc3, present, err := dialSession(t, h2, x, false)
	if err != nil || !present {
		t.Fatalf("restore: present %v, %v", present, err)
	}
	defer rc3.close()
	check(h2, "restored", rc3)
	if _, err := h2.PatchTwin(context.Background(), "dev1", TwinPatch{Desired: map[string]any{"k": 1}, HasDesired: true}, "*"); err != nil {
		t.Fatal(err)
	}
	_ = rc3.c.SetReadDeadline(time.Now().Add(waitTimeout))
	if topic, _, err := rc3.readPublish(); err != nil || !strings.HasPrefix(topic, "$iothub/twin/PATCH/properties/desired/") {
		t.Fatalf("desired notification: %q, %v", topic, err)
	}
}

// TestTLSListenerForgetsClosedConnections: the TLS listener's record of accepted
// connections empties as they end (it once kept every TLS connection's entry).
func TestTLSListenerForgetsClosedConnections(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	pem, err := os.ReadFile(h.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	for range 3 {
		rc, err := dialRawTLS(h.TLSAddr().String(), tc, "dev1", "localhost/dev1/?api-version=2021-04-12",
			deviceToken(t, "dev1", x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		rc.close()
	}
	v, ok := h.srv.Listeners.Get("tls")
	if !ok {
		t.Fatal("no tls listener")
	}
	l := v.(*listener)
	if err := h.Close(); err != nil { // waits until every connection has left mochi
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) != 0 {
		t.Errorf("%d closed connections still recorded", len(l.conns))
	}
}
