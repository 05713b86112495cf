package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// scopeHook stands in for the hub's hooks: it allows everything except filters starting
// with "denied/" (for subscribing), and rewrites every filter to "scoped/{client}/{filter}" in OnSubscribe
// and OnUnsubscribe, as the hub does for $iothub topics.
type scopeHook struct{ mqtt.HookBase }

func (h *scopeHook) ID() string { return "test-scope" }
func (h *scopeHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSubscribe, mqtt.OnUnsubscribe}, []byte{b})
}
func (h *scopeHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (h *scopeHook) OnACLCheck(_ *mqtt.Client, topic string, write bool) bool {
	return write || !strings.Contains(topic, "/denied/")
}
func (h *scopeHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	return scope(cl, pk)
}
func (h *scopeHook) OnUnsubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	return scope(cl, pk)
}
func scope(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	fs := make(packets.Subscriptions, len(pk.Filters))
	for i, f := range pk.Filters {
		f.Filter = "scoped/" + cl.ID + "/" + f.Filter
		fs[i] = f
	}
	pk.Filters = fs
	return pk
}

// broker is a mochi server on 127.0.0.1:0 with the scope hook and a session hook on st.
type broker struct {
	srv  *mqtt.Server
	addr string
}

func startBroker(t *testing.T, st *Store, lazy bool) *broker {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(scopeHook), nil); err != nil {
		t.Fatal(err)
	}
	hook := NewSessionHook(st, nil)
	if lazy {
		hook = NewLazySessionHook(st, srv, nil)
	}
	if err := srv.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	ln := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(ln); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	return &broker{srv: srv, addr: ln.Address()}
}

// client connects a paho client; msgs receives every message it gets.
func (b *broker) client(t *testing.T, id string, clean bool, msgs chan<- paho.Message) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + b.addr).SetClientID(id).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4).SetOrderMatters(false)
	if msgs != nil {
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { msgs <- m })
	}
	c := paho.NewClient(o)
	wait(t, c.Connect())
	return c
}

// wait waits for a paho token with a timeout and fails on its error.
func wait(t *testing.T, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("paho operation timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
}

func storedKeys(t *testing.T, st *Store) []string {
	t.Helper()
	var keys []string
	if err := st.Scan([]byte(SessionPrefix), func(k, _ []byte) error {
		keys = append(keys, strings.ReplaceAll(string(k), "\x00", "|"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestSessionSurvivesRestart: subscribe with CleanSession=false, stop the broker and the
// store, start new ones on the same directory, reconnect without subscribing, publish:
// the message arrives. With eager (mochi's Stored*) and lazy (on reconnect) restore.
func TestSessionSurvivesRestart(t *testing.T) {
	for _, mode := range []string{"eager", "lazy"} {
		t.Run(mode, func(t *testing.T) { testSessionSurvivesRestart(t, mode == "lazy") })
	}
}

func testSessionSurvivesRestart(t *testing.T, lazy bool) {
	dir := t.TempDir()
	st := openT(t, dir)
	b := startBroker(t, st, lazy)
	dev := b.client(t, "dev1", false, nil)
	wait(t, dev.Subscribe("twin/res/#", 1, nil))
	wait(t, dev.Subscribe("denied/x", 0, nil)) // refused by the ACL: SUBACK 0x80, not stored
	dev.Disconnect(100)
	if err := b.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(storedKeysAfterReopen(t, dir)); got != "[s/dev1| s/dev1|scoped/dev1/twin/res/#]" {
		t.Fatalf("stored after the first run: %s", got)
	}

	st = openT(t, dir)
	defer st.Close()
	b = startBroker(t, st, lazy)
	defer b.srv.Close()
	if n := len(b.srv.Clients.GetAll()); lazy && n != 0 || !lazy && n != 1 {
		t.Fatalf("%d sessions in memory after start (lazy=%v)", n, lazy)
	}
	msgs := make(chan paho.Message, 10)
	o := paho.NewClientOptions().AddBroker("tcp://" + b.addr).SetClientID("dev1").
		SetCleanSession(false).SetAutoReconnect(false).SetProtocolVersion(4).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { msgs <- m })
	dev = paho.NewClient(o)
	tok := dev.Connect()
	wait(t, tok)
	defer dev.Disconnect(100)
	if !tok.(*paho.ConnectToken).SessionPresent() {
		t.Error("CONNACK sessionPresent = 0 after the restart")
	}
	pub := b.client(t, "svc", true, nil)
	defer pub.Disconnect(100)
	wait(t, pub.Publish("scoped/dev1/twin/res/200/?$rid=1", 1, false, "hello"))
	wait(t, pub.Publish("scoped/dev1/denied/x", 1, false, "must not arrive"))
	select {
	case m := <-msgs:
		if m.Topic() != "scoped/dev1/twin/res/200/?$rid=1" || string(m.Payload()) != "hello" {
			t.Fatalf("got %s %q", m.Topic(), m.Payload())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message for the restored subscription within 10s")
	}
	wait(t, pub.Publish("scoped/dev1/twin/res/204/?$rid=2", 0, false, "second"))
	select { // ordered after "denied": if that had been delivered it would come first
	case m := <-msgs:
		if string(m.Payload()) != "second" {
			t.Fatalf("got %s %q", m.Topic(), m.Payload())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no second message within 10s")
	}
}

// storedKeysAfterReopen lists the session keys in a closed store directory.
func storedKeysAfterReopen(t *testing.T, dir string) []string {
	t.Helper()
	st := openT(t, dir)
	defer st.Close()
	return storedKeys(t, st)
}

func TestSessionLifecycle(t *testing.T) {
	for _, mode := range []string{"eager", "lazy"} {
		t.Run(mode, func(t *testing.T) { testSessionLifecycle(t, mode == "lazy") })
	}
}

func testSessionLifecycle(t *testing.T, lazy bool) {
	st := openT(t, t.TempDir())
	defer st.Close()
	b := startBroker(t, st, lazy)
	defer b.srv.Close()
	ctx := context.Background()
	steps := []struct {
		name string
		do   func(t *testing.T)
		want string // stored keys after the step (async writes flushed by a sync write)
	}{
		{"persistent subscribe", func(t *testing.T) {
			c := b.client(t, "p", false, nil)
			wait(t, c.SubscribeMultiple(map[string]byte{"a": 0, "b/+": 1}, nil))
			c.Disconnect(100)
		}, "[s/p| s/p|scoped/p/a s/p|scoped/p/b/+]"},
		{"unsubscribe", func(t *testing.T) {
			c := b.client(t, "p", false, nil)
			wait(t, c.Unsubscribe("a"))
			c.Disconnect(100)
		}, "[s/p| s/p|scoped/p/b/+]"},
		{"clean session subscribes are not stored", func(t *testing.T) {
			c := b.client(t, "c", true, nil)
			wait(t, c.Subscribe("x", 0, nil))
			c.Disconnect(100)
		}, "[s/p| s/p|scoped/p/b/+]"},
		{"clean connect forgets the session", func(t *testing.T) {
			c := b.client(t, "p", true, nil)
			c.Disconnect(100)
		}, "[]"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			// Disconnect hooks run on the broker's goroutines: wait for the keys to settle.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if err := st.Apply(ctx, Record{Key: []byte("flush"), Value: nil}); err != nil {
					t.Fatal(err)
				}
				got := fmt.Sprint(storedKeys(t, st))
				if got == s.want {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("stored %s, want %s", got, s.want)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestForget(t *testing.T) {
	st := openT(t, t.TempDir())
	defer st.Close()
	h := NewSessionHook(st, nil)
	ctx := context.Background()
	err := st.Apply(ctx,
		Record{Key: []byte("s/d1\x00"), Value: []byte(`{"id":"d1"}`)},
		Record{Key: []byte("s/d1\x00f"), Value: []byte(`{"client":"d1","filter":"f"}`)},
		Record{Key: []byte("s/d10\x00"), Value: []byte(`{"id":"d10"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Forget(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(storedKeys(t, st)); got != "[s/d10|]" {
		t.Fatalf("after Forget(d1): %s", got)
	}
	clients, err := h.StoredClients()
	if err != nil || len(clients) != 1 || clients[0].ID != "d10" {
		t.Fatalf("StoredClients = %+v, %v", clients, err)
	}
}

func TestStoredSkipsUnreadable(t *testing.T) {
	st := openT(t, t.TempDir())
	defer st.Close()
	h := NewSessionHook(st, nil)
	err := st.Apply(context.Background(),
		Record{Key: []byte("s/ok\x00"), Value: []byte(`{"id":"ok"}`)},
		Record{Key: []byte("s/bad\x00"), Value: []byte(`{not json`)},
		Record{Key: []byte("s/other\x00"), Value: []byte(`{"id":"someone-else"}`)},
		Record{Key: []byte("s/ok\x00t/#"), Value: []byte(`{"client":"ok","filter":"t/#","qos":1}`)},
		Record{Key: []byte("s/ok\x00u"), Value: []byte(`{"client":"ok","filter":"mismatch"}`)},
		Record{Key: []byte("s/nokey"), Value: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	clients, err := h.StoredClients()
	if err != nil || len(clients) != 1 || clients[0].ID != "ok" {
		t.Fatalf("StoredClients = %+v, %v", clients, err)
	}
	subs, err := h.StoredSubscriptions()
	if err != nil || len(subs) != 1 || subs[0].Filter != "t/#" || subs[0].Qos != 1 {
		t.Fatalf("StoredSubscriptions = %+v, %v", subs, err)
	}
}
