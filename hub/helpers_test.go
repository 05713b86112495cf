package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/twinops/twinops/sas"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in these tests; nothing normally takes more than a
// fraction of it.
const waitTimeout = 10 * time.Second

// testLogger logs warnings and errors to stderr (set HUB_TEST_LOG=debug for everything).
func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("HUB_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startHub starts a hub in dir with a plain loopback listener and a TLS listener, and
// stops it at cleanup (Close twice is harmless, so tests may close it earlier).
func startHub(t testing.TB, dir string) *Hub {
	t.Helper()
	return startHubWith(t, Config{DataDir: dir})
}

// startHubWith is startHub with cfg's other settings (DataDir must be set).
func startHubWith(t testing.TB, cfg Config) *Hub {
	t.Helper()
	cfg.Hostname, cfg.PlainAddr, cfg.TLSAddr, cfg.Logger = "localhost", "127.0.0.1:0", "127.0.0.1:0", testLogger()
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := h.Start(); err != nil {
		h.Close()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func createDevice(t testing.TB, h *Hub, id string) Identity {
	t.Helper()
	x, err := h.CreateDevice(context.Background(), Identity{DeviceID: id})
	if err != nil {
		t.Fatalf("CreateDevice %q: %v", id, err)
	}
	return x
}

// msg is a publish received by a test client.
type msg struct {
	topic   string
	payload string
}

// device is a paho MQTT client speaking the Azure device protocol by hand.
type device struct {
	t    testing.TB
	c    paho.Client
	msgs chan msg
	lost chan error
}

type dialOpts struct {
	clientID string // default: the device id
	username string // default: localhost/{id}/?api-version=2021-04-12
	password string // default: a token signed with key, valid for an hour
	clean    bool
	tls      bool // dial the TLS listener, trusting the hub's CA
}

func deviceToken(t testing.TB, id, key string, expiry time.Time) string {
	t.Helper()
	tok, err := sas.NewToken(sas.DeviceResource("localhost", id), key, "", expiry)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dialDevice connects device id; it returns the client or the connect error.
func dialDevice(t testing.TB, h *Hub, id, key string, o dialOpts) (*device, error) {
	t.Helper()
	if o.clientID == "" {
		o.clientID = id
	}
	if o.username == "" {
		o.username = "localhost/" + id + "/?api-version=2021-04-12"
	}
	if o.password == "" {
		o.password = deviceToken(t, id, key, time.Now().Add(time.Hour))
	}
	d := &device{t: t, msgs: make(chan msg, 1000), lost: make(chan error, 1)}
	opts := paho.NewClientOptions()
	if o.tls {
		pem, err := os.ReadFile(h.CAFile())
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		opts.AddBroker("ssl://localhost:" + strconv.Itoa(h.TLSAddr().(*net.TCPAddr).Port))
		opts.SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost"})
	} else {
		opts.AddBroker("tcp://" + h.PlainAddr().String())
	}
	opts.
		SetClientID(o.clientID).SetUsername(o.username).SetPassword(o.password).
		SetCleanSession(o.clean).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4).SetOrderMatters(false).SetConnectTimeout(waitTimeout).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			d.msgs <- msg{topic: m.Topic(), payload: string(m.Payload())}
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case d.lost <- err:
			default:
			}
		})
	d.c = paho.NewClient(opts)
	tok := d.c.Connect()
	if !tok.WaitTimeout(waitTimeout) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(d.close)
	return d, nil
}

func mustDial(t testing.TB, h *Hub, x Identity) *device {
	t.Helper()
	d, err := dialDevice(t, h, x.DeviceID, x.Authentication.SymmetricKey.PrimaryKey, dialOpts{})
	if err != nil {
		t.Fatalf("connect %s: %v", x.DeviceID, err)
	}
	return d
}

func (d *device) close() {
	if d.c.IsConnected() {
		d.c.Disconnect(50)
	}
}

// subscribe subscribes filter at qos and returns the granted code.
func (d *device) subscribe(filter string, qos byte) byte {
	d.t.Helper()
	tok := d.c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		d.t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func (d *device) publish(topic string, qos byte, body string) {
	d.t.Helper()
	tok := d.c.Publish(topic, qos, false, body)
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		d.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// next waits for the next message.
func (d *device) next() msg {
	d.t.Helper()
	select {
	case m := <-d.msgs:
		return m
	case <-time.After(waitTimeout):
		d.t.Fatalf("no message within %v", waitTimeout)
		return msg{}
	}
}

// nextWith waits for a message whose topic has prefix, skipping others.
func (d *device) nextWith(prefix string) msg {
	d.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case m := <-d.msgs:
			if strings.HasPrefix(m.topic, prefix) {
				return m
			}
		case <-deadline:
			d.t.Fatalf("no message on %s* within %v", prefix, waitTimeout)
			return msg{}
		}
	}
}

// request publishes a twin request and waits for the answer with the same rid.
func (d *device) request(topic, rid, body string) msg {
	d.t.Helper()
	d.publish(topic, 0, body)
	for {
		m := d.nextWith("$iothub/twin/res/")
		if strings.Contains(m.topic, "?$rid="+rid) {
			return m
		}
	}
}

// expectNothing fails if a message arrives before the probe's answer: it sends a GET
// with rid probe and requires that answer to be the next message.
func (d *device) expectOnlyProbe(probe string) {
	d.t.Helper()
	d.publish("$iothub/twin/GET/?$rid="+probe, 0, "")
	m := d.next()
	if !strings.Contains(m.topic, "$rid="+probe) {
		d.t.Fatalf("unexpected message before the probe answer: %s %s", m.topic, m.payload)
	}
}
