package hub

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// End-to-end tests of TLS devices through the hub's listener and mochi (tlsconn.go).

// sdkTLS is a client TLS config trusting the hub's CA, with an X25519 key share only (as
// the Azure Node SDK on OpenSSL 3.0 sends).
func sdkTLS(t *testing.T, h *Hub) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(h.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "localhost", CurvePreferences: []tls.CurveID{tls.X25519}}
}

// TestTLSDeviceEndToEnd: a device on the hub's TLS listener reports a 20 KB patch (two
// records), idles (its reader parked on the socket, crypto/tls's buffers dropped), gets a
// desired notification written meanwhile, and reads its twin back.
func TestTLSDeviceEndToEnd(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	rc, err := dialRawTLS(h.TLSAddr().String(), sdkTLS(t, h), "dev1", "localhost/dev1/?api-version=2021-04-12",
		deviceToken(t, "dev1", x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	for _, f := range []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#"} {
		if err := rc.subscribe(f); err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte("y"), 3900) // five of them: 20 KB (a string is at most 4 KB)
	rc.publish("$iothub/twin/PATCH/properties/reported/?$rid=1",
		fmt.Appendf(nil, `{"a":%q,"b":%q,"c":%q,"d":%q,"e":%q}`, big, big, big, big, big))
	if err := rc.flush(); err != nil {
		t.Fatal(err)
	}
	if topic, _, err := rc.readPublish(); err != nil || !strings.HasPrefix(topic, "$iothub/twin/res/204/?$rid=1") {
		t.Fatalf("reported patch answered %q, %v", topic, err)
	}
	if _, err := h.PatchTwin(t.Context(), "dev1", TwinPatch{Desired: map[string]any{"interval": 7.0}, HasDesired: true}, "*"); err != nil {
		t.Fatal(err)
	}
	topic, body, err := rc.readPublish()
	if err != nil || !strings.HasPrefix(topic, "$iothub/twin/PATCH/properties/desired/") || !bytes.Contains(body, []byte(`"interval":7`)) {
		t.Fatalf("desired notification %q %s, %v", topic, body, err)
	}
	rc.publish("$iothub/twin/GET/?$rid=2", nil)
	if err := rc.flush(); err != nil {
		t.Fatal(err)
	}
	topic, body, err = rc.readPublish()
	if err != nil || !strings.HasPrefix(topic, "$iothub/twin/res/200/?$rid=2") || bytes.Count(body, big) != 5 {
		t.Fatalf("twin GET answered %q (%d bytes), %v", topic, len(body), err)
	}
}

// TestTLSKeepaliveExpiry: a TLS device that stays silent past 1.5 × its keepalive is
// disconnected (mochi's read deadline reaches the socket wait under crypto/tls).
func TestTLSKeepaliveExpiry(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: waitTimeout}, "tcp", h.TLSAddr().String(), sdkTLS(t, h))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := &rawClient{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}
	body := appendStr(nil, "MQTT")
	body = append(body, 4, 0xC2, 0, 1) // clean session, keepalive 1 s
	body = appendStr(body, "dev1")
	body = appendStr(body, "localhost/dev1/?api-version=2021-04-12")
	body = appendStr(body, deviceToken(t, "dev1", x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour)))
	rc.write(0x10, body)
	if err := rc.flush(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	if typ, b, err := rc.read(); err != nil || typ != 2 || len(b) != 2 || b[1] != 0 {
		t.Fatalf("CONNACK %d %x, %v", typ, b, err)
	}
	// Silent now: the hub must close the connection (EOF), well before waitTimeout.
	if typ, _, err := rc.read(); err == nil {
		t.Fatalf("read packet type %d from a silent connection, want it closed", typ)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the hub kept a silent TLS connection open past its keepalive")
	}
}

// TestTLSDevicesUnderTraffic: 16 TLS devices each send 40 reported patches of random
// sizes (up to 3 strings of 3.9 KB: several records, records cut across reads), four in
// flight, while desired notifications are written to them; every patch is answered and
// every device gets every notification. A reader that parks while crypto/tls still holds
// a record would leave a device waiting here until the test times out.
func TestTLSDevicesUnderTraffic(t *testing.T) {
	const devices, patches, window, notes = 16, 40, 4, 5
	h := startHub(t, t.TempDir())
	tc := sdkTLS(t, h)
	var wg sync.WaitGroup
	errs := make(chan error, devices)
	clients := make([]*rawClient, devices)
	for i := range devices {
		id := fmt.Sprintf("dev%d", i)
		x := createDevice(t, h, id)
		rc, err := dialRawTLS(h.TLSAddr().String(), tc, id, "localhost/"+id+"/?api-version=2021-04-12",
			deviceToken(t, id, x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.close()
		_ = rc.c.SetDeadline(time.Now().Add(4 * waitTimeout))
		for _, f := range []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#"} {
			if err := rc.subscribe(f); err != nil {
				t.Fatal(err)
			}
		}
		clients[i] = rc
	}
	for i, rc := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			send := func(n int) {
				s := strings.Repeat("z", 1+rng.IntN(3900))
				rc.publish(fmt.Sprintf("$iothub/twin/PATCH/properties/reported/?$rid=%d", n),
					fmt.Appendf(nil, `{"n":%d,"s1":%q,"s2":%q,"s3":%q}`, n, s, s[:rng.IntN(len(s))], s[:rng.IntN(len(s))]))
			}
			sent, acked, noted := 0, 0, 0
			for ; sent < window; sent++ {
				send(sent)
			}
			if err := rc.flush(); err != nil {
				errs <- err
				return
			}
			for acked < patches || noted < notes {
				topic, _, err := rc.readPublish()
				if err != nil {
					errs <- fmt.Errorf("device %d after %d answers and %d notifications: %w", i, acked, noted, err)
					return
				}
				switch {
				case strings.HasPrefix(topic, "$iothub/twin/res/204/"):
					acked++
					if sent < patches {
						send(sent)
						sent++
						if err := rc.flush(); err != nil {
							errs <- err
							return
						}
					}
				case strings.HasPrefix(topic, "$iothub/twin/PATCH/properties/desired/"):
					noted++
				default:
					errs <- fmt.Errorf("device %d: unexpected %q", i, topic)
					return
				}
			}
		})
	}
	for k := range notes {
		for i := range devices {
			if _, err := h.PatchTwin(t.Context(), fmt.Sprintf("dev%d", i), TwinPatch{Desired: map[string]any{"k": float64(k)}, HasDesired: true}, "*"); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
