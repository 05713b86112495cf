package hub

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCompQueueNeverBlocks checks that pushing completions never waits for the runner
// (the store's committer pushes them) and that they run in order.
func TestCompQueueNeverBlocks(t *testing.T) {
	c := compQueue{wake: make(chan struct{}, 1)}
	const n = 10000
	var got []int
	pushed := make(chan struct{})
	go func() {
		for i := range n {
			c.push(func() { got = append(got, i) })
		}
		close(pushed)
	}()
	select {
	case <-pushed: // no runner yet: a bounded queue would block here
	case <-time.After(waitTimeout):
		t.Fatal("push blocked without a runner")
	}
	c.close()
	done := make(chan struct{})
	go func() { c.run(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after close")
	}
	if len(got) != n {
		t.Fatalf("ran %d completions, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("completion %d ran as %d: out of order", i, v)
		}
	}
}

// TestConnSeqAcrossReservations draws more connection numbers than one reserved block
// (the next block is reserved asynchronously, never under the bus lock with an fsync) and
// checks that a restarted hub continues above every number handed out.
func TestConnSeqAcrossReservations(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	b := h.events
	var last uint64
	b.mu.Lock()
	for range seqBlock + seqBlock/4 {
		s := b.seq()
		if s <= last {
			b.mu.Unlock()
			t.Fatalf("seq %d after %d: not increasing", s, last)
		}
		last = s
	}
	b.mu.Unlock()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if p := h.failed.Load(); p != nil {
		t.Fatalf("store failed: %v", *p)
	}
	h2 := startHub(t, dir)
	h2.events.mu.Lock()
	first := h2.events.seq()
	h2.events.mu.Unlock()
	if first <= last {
		t.Fatalf("after restart seq %d, but %d was handed out before", first, last)
	}
}

// TestStoreFailureIsFatal checks that after a failed commit the hub refuses twin
// operations with 503 instead of serving changes that are not on disk.
func TestStoreFailureIsFatal(t *testing.T) {
	h := startHub(t, t.TempDir())
	createDevice(t, h, "dev1")
	ctx := context.Background()
	if _, err := h.PatchTwin(ctx, "dev1", TwinPatch{Tags: map[string]any{"a": 1.0}, HasTags: true}, ""); err != nil {
		t.Fatalf("PatchTwin before the failure: %v", err)
	}
	_ = h.st.st.Close() // every later commit fails

	_, err := h.PatchTwin(ctx, "dev1", TwinPatch{Tags: map[string]any{"a": 2.0}, HasTags: true}, "")
	if status, _, msg := ErrorStatus(err); err == nil || status != 500 {
		t.Fatalf("PatchTwin whose commit fails: status %d (%q), want 500", status, msg)
	}
	cases := map[string]func() error{
		"PatchTwin": func() error {
			_, err := h.PatchTwin(ctx, "dev1", TwinPatch{Tags: map[string]any{"a": 3.0}, HasTags: true}, "")
			return err
		},
		"GetTwin": func() error {
			_, err := h.GetTwin(ctx, "dev1")
			return err
		},
		"CreateDevice": func() error {
			_, err := h.CreateDevice(ctx, Identity{DeviceID: "dev2"})
			return err
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			err := call()
			var he *Error
			if !errors.As(err, &he) || he.Status != 503 {
				t.Fatalf("%s after a failed commit: %v; want a 503 error", name, err)
			}
		})
	}
}

// TestStaleDisconnectIgnored checks that a disconnect of a connection record that a newer
// connection has replaced does not mark the device disconnected (quick reconnect: the old
// connection's disconnect reaches the owner after the new connection's connect).
func TestStaleDisconnectIgnored(t *testing.T) {
	h := startHub(t, t.TempDir())
	createDevice(t, h, "dev1")
	old := &conn{ID: "dev1", Kind: kindDevice, DeviceID: "dev1"}
	cur := &conn{ID: "dev1", Kind: kindDevice, DeviceID: "dev1"}
	settle := func() {
		t.Helper()
		done := make(chan struct{})
		if !h.submit("dev1", func(*txn) { close(done) }) {
			t.Fatal("submit refused")
		}
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Fatal("owner did not run the operation")
		}
	}
	state := func() string {
		t.Helper()
		d, err := h.GetTwin(context.Background(), "dev1")
		if err != nil {
			t.Fatal(err)
		}
		return d.ConnectionState
	}
	h.conns.Store("dev1", cur)
	defer h.conns.Delete("dev1")
	h.setConnected(cur, true)
	h.setConnected(old, false) // late: old was already replaced by cur
	settle()
	if s := state(); s != "Connected" {
		t.Fatalf("after a stale disconnect the twin says %s, want Connected", s)
	}
	h.setConnected(old, true) // a connect of a record that is not current
	h.conns.Delete("dev1")
	h.setConnected(cur, false)
	settle()
	if s := state(); s != "Disconnected" {
		t.Fatalf("after the current connection's disconnect the twin says %s, want Disconnected", s)
	}
}

// TestDroppedDesiredDisconnects checks that a device whose write queue overflows (it does
// not read) is disconnected instead of silently losing desired notifications.
func TestDroppedDesiredDisconnects(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	rc, err := dialRaw(h.PlainAddr().String(), "dev1", "localhost/dev1/?api-version=2021-04-12",
		deviceToken(t, "dev1", x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	if err := rc.subscribe("$iothub/twin/PATCH/properties/desired/#"); err != nil {
		t.Fatal(err)
	}
	gone := make(chan struct{})
	var once sync.Once
	cancel := h.Watch(func(e Event) {
		if e.Kind == EventConnection && e.Conn.DeviceID == "dev1" && !e.Conn.Connected {
			once.Do(func() { close(gone) })
		}
	})
	defer cancel()
	big := strings.Repeat("x", 4000)
	// The client reads nothing: the socket buffers fill, then mochi's queue (64), then
	// a notification is dropped.
	for i := 0; ; i++ {
		select {
		case <-gone:
			return
		default:
		}
		if i == 2000 {
			t.Fatal("device still connected after 2000 unread 24 KB desired notifications")
		}
		if _, err := h.PatchTwin(context.Background(), "dev1", TwinPatch{Desired: map[string]any{"a": big, "b": big, "c": big, "d": big, "e": big, "f": big, "n": float64(i)}, HasDesired: true}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnsubscribedAnswersReleaseInflight checks that requests sent before subscribing to
// twin answers get none (as on IoT Hub) and do not use up the device's in-flight limit.
func TestUnsubscribedAnswersReleaseInflight(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	rc, err := dialRaw(h.PlainAddr().String(), "dev1", "localhost/dev1/?api-version=2021-04-12",
		deviceToken(t, "dev1", x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	patched := make(chan struct{})
	var once sync.Once
	cancel := h.Watch(func(e Event) {
		if e.Kind == EventTwin && e.Twin.DeviceID == "dev1" {
			once.Do(func() { close(patched) })
		}
	})
	defer cancel()
	for i := range 3 * maxDeviceInflight {
		rc.publish("$iothub/twin/GET/?$rid=u"+strconv.Itoa(i), nil)
	}
	// Read only once the unanswered GETs have given back their in-flight tokens; its
	// event comes after every earlier answer was decided.
	rc.publish("$iothub/twin/PATCH/properties/reported/?$rid=last", []byte(`{"x":1}`))
	if err := rc.flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-patched:
	case <-time.After(waitTimeout):
		t.Fatal("the patch after the unanswered requests was not applied: in-flight tokens not released")
	}
	// The event comes at the patch's commit, its answer a moment later: if the
	// subscription is in by then, that answer (rid=last) is delivered, before or after
	// the SUBACK. The unanswered GETs' answers (rid=u…) never are.
	rc.write(0x82, append(appendStr([]byte{0, 1}, "$iothub/twin/res/#"), 0))
	rc.publish("$iothub/twin/GET/?$rid=probe", nil)
	if err := rc.flush(); err != nil {
		t.Fatal(err)
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	subacked := false
	for {
		typ, b, err := rc.read()
		if err != nil {
			t.Fatalf("no SUBACK and answer to the probe: %v", err)
		}
		if typ == 9 {
			subacked = true
			continue
		}
		if typ != 3 || len(b) < 2 || len(b) < 2+(int(b[0])<<8|int(b[1])) {
			continue
		}
		topic := string(b[2 : 2+(int(b[0])<<8|int(b[1]))])
		switch {
		case topic == "$iothub/twin/res/200/?$rid=probe" && subacked:
			return
		case strings.HasPrefix(topic, "$iothub/twin/res/204/?$rid=last"):
			continue
		}
		t.Fatalf("answer on %s (SUBACK seen: %v); want only the probe's (requests before the subscription get none)", topic, subacked)
	}
}
