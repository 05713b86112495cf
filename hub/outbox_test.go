package hub

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestOutboxBatchedWritesKeepOrder queues more twin messages than one write carries
// (maxWriteBytes) to a device at once, mixing answers and desired notifications: every
// message arrives once, intact and in order, and every answer's in-flight token is
// released.
func TestOutboxBatchedWritesKeepOrder(t *testing.T) {
	h := startHub(t, t.TempDir())
	rc, c := dialTwinDevice(t, h, "dev1")
	const n = 200 // 200 x ~1 KB: more than maxWriteBytes, fewer than maxOutbox
	if n*1000 <= maxWriteBytes {
		t.Fatalf("the test must queue more than maxWriteBytes (%d)", maxWriteBytes)
	}
	type sent struct{ topic, body string }
	want := make([]sent, n)
	for i := range want {
		want[i].body = `{"i":` + strconv.Itoa(i) + `,"pad":"` + string(bytes.Repeat([]byte{'x'}, 1000)) + `"}`
		want[i].topic = topicTwinRes + "200/?$rid=" + strconv.Itoa(i)
		if i%3 == 0 {
			want[i].topic = topicDesiredPatch + strconv.Itoa(i)
		}
	}
	got := make(chan error, 1)
	go func() { // read while the hub writes: answers wait for in-flight tokens
		_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
		for i, w := range want {
			topic, body, err := rc.readPublish()
			if err != nil {
				got <- fmt.Errorf("message %d: %v", i, err)
				return
			}
			if topic != w.topic || string(body) != w.body {
				got <- fmt.Errorf("message %d: got %q (%d bytes), want %q (%d bytes)", i, topic, len(body), w.topic, len(w.body))
				return
			}
		}
		got <- nil
	}()
	answers := 0
	for _, w := range want {
		answer := w.topic[:len(topicTwinRes)] == topicTwinRes
		if answer {
			c.inflight <- struct{}{} // as handleDevice takes it
			answers++
		}
		h.sendDevice(c, w.topic, []byte(w.body), answer)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the device did not receive every message in time")
	}
	deadline := time.Now().Add(waitTimeout)
	for len(c.inflight) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d in-flight tokens never released", len(c.inflight), answers)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDesiredNotificationWrittenBySender: a desired notification to an idle plain-TCP
// connection is written by the sender itself (no writer goroutine is left running) and
// arrives intact.
func TestDesiredNotificationWrittenBySender(t *testing.T) {
	h := startHub(t, t.TempDir())
	rc, c := dialTwinDevice(t, h, "dev2")
	c.cl.Lock() // wait until mochi has finished writing the SUBACK (it holds the lock meanwhile)
	c.cl.Unlock()
	body := `{"fan":2,"$version":7}`
	h.sendDevice(c, topicDesiredPatch+"7", []byte(body), false)
	c.out.mu.Lock()
	running, queued := c.out.running, len(c.out.q)
	c.out.mu.Unlock()
	if running || queued != 0 {
		t.Fatalf("after sendDevice the outbox is running=%v with %d queued: the notification was not written by the sender", running, queued)
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	topic, got, err := rc.readPublish()
	if err != nil {
		t.Fatal(err)
	}
	if topic != topicDesiredPatch+"7" || string(got) != body {
		t.Fatalf("got %q %q, want %q %q", topic, got, topicDesiredPatch+"7", body)
	}
}

// dialTwinDevice creates device id, connects it subscribed to the twin topics and returns
// the client and the hub's record of the connection.
func dialTwinDevice(t *testing.T, h *Hub, id string) (*rawClient, *conn) {
	t.Helper()
	rc := dialRawDevice(t, h, createDevice(t, h, id))
	t.Cleanup(rc.close)
	v, ok := h.conns.Load(id)
	if !ok {
		t.Fatalf("%s has no connection record", id)
	}
	return rc, v.(*conn)
}

// TestFlushDevicePartialWrites: answers flushed by a completion runner to a connection
// whose socket takes only part of them (small send buffer, device not reading yet) all
// arrive, intact and in order, and every in-flight token is released.
func TestFlushDevicePartialWrites(t *testing.T) {
	h := startHub(t, t.TempDir())
	rc, c := dialTwinDevice(t, h, "dev3")
	tc, ok := c.cl.Net.Conn.(*net.TCPConn)
	if !ok {
		t.Fatalf("plain connection is a %T", c.cl.Net.Conn)
	}
	if err := tc.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if err := rc.c.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	const n, size = 3, 32 << 10 // far more than the sockets take at once
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = `{"i":` + strconv.Itoa(i) + `,"pad":"` + string(bytes.Repeat([]byte{'y'}, size)) + `"}`
	}
	flushed := make(chan struct{})
	go func() { // as a completion runner: queue, then flush; never waits for the socket
		defer close(flushed)
		for i, b := range bodies {
			c.inflight <- struct{}{}
			if h.queueDevice(c, topicTwinRes+"200/?$rid="+strconv.Itoa(i), []byte(b), true) {
				h.flushDevice(c)
			}
		}
	}()
	select {
	case <-flushed: // every flush returned while the device read nothing
	case <-time.After(waitTimeout):
		t.Fatal("flushDevice waited for the socket")
	}
	c.out.mu.Lock()
	running := c.out.running
	c.out.mu.Unlock()
	if !running {
		t.Fatal("everything was written at once: the test did not reach a partial write")
	}
	_ = tc.SetWriteBuffer(1 << 20) // tiny windows make loopback TCP crawl: read at full speed
	_ = rc.c.(*net.TCPConn).SetReadBuffer(1 << 20)
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	for i, want := range bodies {
		topic, body, err := rc.readPublish()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if topic != topicTwinRes+"200/?$rid="+strconv.Itoa(i) || string(body) != want {
			t.Fatalf("message %d: got %q (%d bytes)", i, topic, len(body))
		}
	}
	deadline := time.Now().Add(waitTimeout)
	for len(c.inflight) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d in-flight tokens never released", len(c.inflight))
		}
		time.Sleep(time.Millisecond)
	}
}
