package hub

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/twinops/twinops/hub/store"
)

// dialSession connects device x over the plain listener with the given CleanSession flag
// and returns the connection and CONNACK's sessionPresent.
func dialSession(t testing.TB, h *Hub, x Identity, clean bool) (*rawClient, bool, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", h.PlainAddr().String(), waitTimeout)
	if err != nil {
		return nil, false, err
	}
	rc := &rawClient{c: c, r: bufio.NewReaderSize(c, 512), w: bufio.NewWriterSize(c, 512)}
	flags := byte(0xC0) // username, password
	if clean {
		flags |= 0x02
	}
	id := x.DeviceID
	body := append(appendStr(nil, "MQTT"), 4, flags, 0, 180)
	body = appendStr(body, id)
	body = appendStr(body, "localhost/"+id+"/?api-version=2021-04-12")
	body = appendStr(body, deviceToken(t, id, x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour)))
	rc.write(0x10, body)
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	err = rc.flush()
	var typ byte
	var b []byte
	if err == nil {
		typ, b, err = rc.read()
	}
	if err == nil && (typ != 2 || len(b) != 2 || b[1] != 0) {
		err = fmt.Errorf("CONNACK %x %x", typ, b)
	}
	if err != nil {
		c.Close()
		return nil, false, err
	}
	_ = c.SetReadDeadline(time.Time{})
	return rc, b[0]&1 == 1, nil
}

// getTwin sends a twin GET with rid and waits for its answer's topic.
func (rc *rawClient) getTwin(rid string) (string, error) {
	rc.publish("$iothub/twin/GET/?$rid="+rid, nil)
	if err := rc.flush(); err != nil {
		return "", err
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	defer rc.c.SetReadDeadline(time.Time{})
	topic, _, err := rc.readPublish()
	return topic, err
}

// storedSessionKeys lists the keys of client id's stored session.
func storedSessionKeys(t testing.TB, h *Hub, id string) []string {
	t.Helper()
	var keys []string
	err := h.st.st.Scan([]byte(store.SessionPrefix+id+"\x00"), func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// subscribeTwin gives a fresh persistent session the two twin subscriptions.
func subscribeTwin(t testing.TB, h *Hub, x Identity) {
	t.Helper()
	rc, _, err := dialSession(t, h, x, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	for _, f := range []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#"} {
		if err := rc.subscribe(f); err != nil {
			t.Fatalf("subscribe %s: %v", f, err)
		}
	}
}

// TestLazyRestoreAfterRestart: after a restart, a device reconnecting with CleanSession=0
// and sending no SUBSCRIBE (the Node SDK) gets sessionPresent=1 and its twin
// subscriptions back; one reconnecting with CleanSession=1 gets neither, and its stored
// session is gone even if it reconnects with CleanSession=0 right after.
func TestLazyRestoreAfterRestart(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	x := createDevice(t, h, "keep")
	y := createDevice(t, h, "drop")
	subscribeTwin(t, h, x)
	subscribeTwin(t, h, y)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := startHub(t, dir)
	if _, ok := h2.srv.Clients.Get("keep"); ok {
		t.Error("a stored session was loaded at start; lazy restore loads none")
	}
	rc, present, err := dialSession(t, h2, x, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	if !present {
		t.Error("CONNACK sessionPresent=0 after a restart; want 1 for a stored session")
	}
	if topic, err := rc.getTwin("r1"); err != nil || topic != "$iothub/twin/res/200/?$rid=r1" {
		t.Fatalf("GET after restart: %q, %v", topic, err)
	}
	if _, err := h2.PatchTwin(context.Background(), "keep", TwinPatch{Desired: map[string]any{"k": 1}, HasDesired: true}, "*"); err != nil {
		t.Fatal(err)
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	if topic, body, err := rc.readPublish(); err != nil || !strings.HasPrefix(topic, "$iothub/twin/PATCH/properties/desired/") || string(body) != `{"k":1,"$version":2}` {
		t.Fatalf("desired after restart: %q %s %v", topic, body, err)
	}

	// A clean session ends the stored one, and a persistent reconnect right after (before
	// the deletion is necessarily on disk) must not bring it back.
	c, present, err := dialSession(t, h2, y, true)
	if err != nil {
		t.Fatal(err)
	}
	if present {
		t.Error("clean session: sessionPresent=1")
	}
	c.close()
	c, present, err = dialSession(t, h2, y, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if present {
		t.Error("persistent reconnect after a clean session: sessionPresent=1; the stored session should be gone")
	}
	if subs := h2.srv.Clients.GetAll()["drop"].State.Subscriptions.Len(); subs != 0 {
		t.Errorf("persistent reconnect after a clean session got %d subscriptions back", subs)
	}
}

// TestDeletedDeviceSessionForgotten: deleting a device whose session is only in the store
// (not yet restored) deletes the stored session, so a new device with the same id starts
// afresh.
func TestDeletedDeviceSessionForgotten(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	x := createDevice(t, h, "dev1")
	subscribeTwin(t, h, x)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := startHub(t, dir)
	if keys := storedSessionKeys(t, h2, "dev1"); len(keys) != 3 {
		t.Fatalf("stored session before the delete: %q; want the client and 2 subscriptions", keys)
	}
	if err := h2.DeleteDevice(context.Background(), "dev1", "*"); err != nil {
		t.Fatal(err)
	}
	if keys := storedSessionKeys(t, h2, "dev1"); len(keys) != 0 {
		t.Fatalf("stored session after the delete: %q", keys)
	}
	x2 := createDevice(t, h2, "dev1")
	rc, present, err := dialSession(t, h2, x2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	if present {
		t.Error("a new device with a deleted device's id got its session (sessionPresent=1)")
	}
}

// TestConcurrentReconnectsAndClose: many devices reconnect with CleanSession=0 at once
// and over and over (lazy restores, session take-overs, clean connects) while the hub
// restarts; Close must return each time. This is the shape of the hang seen with lazy
// restore (mochi's Clients lock held by Close's GetByListener, mochi #488); on failure
// the goroutine dump shows who waits on what.
func TestConcurrentReconnectsAndClose(t *testing.T) {
	const devices, rounds = 24, 4
	dir := t.TempDir()
	h := startHub(t, dir)
	ids := make([]Identity, devices)
	for i := range ids {
		ids[i] = createDevice(t, h, fmt.Sprintf("d%d", i))
		subscribeTwin(t, h, ids[i])
	}
	for round := range rounds {
		if round > 0 {
			h = startHub(t, dir)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var restored atomic.Int32 // devices that saw sessionPresent=1
		enough := make(chan struct{})
		for i, x := range ids {
			wg.Go(func() {
				seen := false
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					clean := (i+n)%7 == 6 // mostly persistent reconnects, some clean ones
					rc, present, err := dialSession(t, h, x, clean)
					if err != nil {
						continue // refused or cut by the closing hub
					}
					if present && !seen {
						seen = true
						if restored.Add(1) == devices/2 {
							close(enough)
						}
					}
					rc.close()
				}
			})
		}
		// Let half the devices get their session back (restores and take-overs), then
		// close while all of them keep reconnecting.
		select {
		case <-enough:
		case <-time.After(3 * waitTimeout):
			close(stop)
			wg.Wait()
			t.Fatalf("round %d: only %d devices got their session back", round, restored.Load())
		}
		closed := make(chan error, 1)
		go func() { closed <- h.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("round %d: Close: %v", round, err)
			}
		case <-time.After(3 * waitTimeout):
			// Not t.Fatal: the cleanup's Close would wait for this one forever. A panic
			// ends the test binary at once, with every goroutine's stack.
			panic(fmt.Sprintf("round %d: hub.Close did not return within %v: deadlock", round, 3*waitTimeout))
		}
		close(stop)
		wg.Wait()
	}
}

// TestCloseListenerClientsDuringChurn: the hub's listener close path must not deadlock
// while clients are added and removed concurrently. mochi's own closeListenerClients
// (Clients.GetByListener, which read-locks twice) deadlocks here within a few thousand
// calls (mochi #488).
func TestCloseListenerClientsDuringChurn(t *testing.T) {
	h := &Hub{srv: mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})} // only its Clients are used
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("churn-%d", i%64)
			h.srv.Clients.Add(h.srv.NewClient(nil, "elsewhere", id, false))
			h.srv.Clients.Delete(id)
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20_000 {
			h.closeListenerClients("plain")
		}
	}()
	select {
	case <-done:
	case <-time.After(3 * waitTimeout):
		close(stop) // the churn goroutine is stuck too: no Wait
		t.Fatal("closeListenerClients blocked: the Clients lock deadlocked")
	}
	close(stop)
	wg.Wait()
}
