package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// startBroker runs a plain mochi broker on 127.0.0.1:0 for the relay tests.
func startBroker(t *testing.T) string {
	t.Helper()
	addr, stop, err := StartMochi()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

func TestConnPublishSubscribe(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 10)
	acks := make(chan uint16, 10)
	c, err := Dial(ctx, ConnectOptions{Addr: addr, ClientID: "a", CleanSession: true,
		OnPublish: func(topic string, payload []byte) { got <- topic + " " + string(payload) },
		OnPuback:  func(id uint16) { acks <- id }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if q, err := c.Subscribe(ctx, "x/#", 1); err != nil || q != 1 {
		t.Fatalf("subscribe: granted %d, %v", q, err)
	}
	big := strings.Repeat("p", 300) // remaining length needs two bytes
	id, err := c.Publish("x/y", 1, []byte(big))
	if err != nil {
		t.Fatal(err)
	}
	for want := 2; want > 0; {
		select {
		case s := <-got:
			if s != "x/y "+big {
				t.Fatalf("received %q", s)
			}
			want--
		case a := <-acks:
			if a != id {
				t.Fatalf("puback for %d, published %d", a, id)
			}
			want--
		case <-ctx.Done():
			t.Fatal("no relayed message or PUBACK within 10 s")
		}
	}
}

func TestDialRefused(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// MQTT 3.1.1 requires a client id when CleanSession is 0; the broker refuses it.
	_, err := Dial(ctx, ConnectOptions{Addr: addr, ClientID: "", CleanSession: false})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Dial with empty client id and CleanSession 0 = %v, want a refused CONNACK", err)
	}
}

func TestRelayScenario(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var progress bytes.Buffer
	r, err := Run(ctx, &BrokerTarget{Addr: addr}, Options{Scenario: "relay", Devices: 4, Inflight: 4,
		Payload: 256, Duration: 30 * time.Second, Count: 2000, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops < 2000 || r.Errors != 0 {
		t.Fatalf("relay: %d ops, %d errors (%s); want >= 2000 ops and no errors", r.Ops, r.Errors, r.FirstError)
	}
	p := r.Latency["relay"]
	if p.Count < r.Ops || p.P50 <= 0 || p.P99 < p.P50 || p.Max < p.P99 {
		t.Fatalf("relay latency figures inconsistent: %+v with %d ops", p, r.Ops)
	}
	var text, js bytes.Buffer
	r.WriteText(&text)
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "relay") || !strings.Contains(js.String(), `"opsPerSec"`) {
		t.Fatalf("report missing figures:\n%s\n%s", text.String(), js.String())
	}
}

func TestRelayRate(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// 2 devices at 20/s for 2 s cannot exceed 2*(40+1) operations however fast the broker is.
	r, err := Run(ctx, &BrokerTarget{Addr: addr}, Options{Scenario: "relay", Devices: 2, Rate: 20,
		Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops > 82 {
		t.Fatalf("rate 20/s per device for 2 s gave %d ops, want at most 82", r.Ops)
	}
	if r.Ops == 0 {
		t.Fatal("no operations at all")
	}
}

func TestUnknownScenario(t *testing.T) {
	_, err := Run(context.Background(), &BrokerTarget{Addr: "127.0.0.1:1"}, Options{Scenario: "storm"})
	if err == nil || !strings.Contains(err.Error(), "use relay") {
		t.Fatalf("Run(storm) = %v, want an error listing the scenarios", err)
	}
}

func TestDeviceCredentials(t *testing.T) {
	id, user, pass, err := DeviceCredentials("HostName=localhost:8883;DeviceId=d1;SharedAccessKey=AAAA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if id != "d1" || user != "localhost:8883/d1/?api-version=2021-04-12" ||
		!strings.HasPrefix(pass, "SharedAccessSignature sr=localhost%3A8883%2Fdevices%2Fd1&sig=") {
		t.Fatalf("got %q %q %q", id, user, pass)
	}
	for name, cs := range map[string]string{
		"no key":     "HostName=h;DeviceId=d",
		"bad base64": "HostName=h;DeviceId=d;SharedAccessKey=!!",
	} {
		if _, _, _, err := DeviceCredentials(cs, time.Hour); err == nil {
			t.Errorf("%s: DeviceCredentials(%q) accepted", name, cs)
		}
	}
}

func TestPacerStopsWhenBehind(t *testing.T) {
	p := newPacer(1000, 0)
	p.next = time.Now().Add(-time.Hour) // far behind schedule: every wait is due at once
	stop := make(chan struct{})
	if !p.wait(stop) {
		t.Fatal("wait refused before stop")
	}
	close(stop)
	if p.wait(stop) {
		t.Fatal("a pacer behind schedule kept going after stop")
	}
	if newPacer(0, 0).wait(stop) {
		t.Fatal("an unpaced pacer kept going after stop")
	}
}
