package hub

import (
	"bytes"
	"strings"
	"sync"
	"syscall"

	"github.com/mochi-mqtt/server/v2/packets"
)

// maxOutbox bounds the twin messages waiting to be written to one device. Answers are
// bounded by maxDeviceInflight already; only desired notifications to a device that does
// not read can reach this, and then the device is disconnected (see sendDevice).
const maxOutbox = 256

// outbox writes a device's twin answers and desired notifications straight to its
// connection, in order, on a goroutine that runs only while there is something to write.
// Unlike a publish through mochi's per-client queue (maxWritesPending, dropped when full),
// nothing is lost while the connection lives, and the owners and completion runners that
// send never wait for a slow device.
type outbox struct {
	mu      sync.Mutex
	q       []outMsg
	running bool

	// Admission of the device's requests (budget.go), also under mu: requests admitted
	// and not yet answered, requests the current round may still take, and the shard's
	// budget slots the device holds.
	pending, grant, slots int
}

type outMsg struct {
	topic   string // unscoped, e.g. "$iothub/twin/res/200/?$rid=1"
	payload []byte // raw: bytes already encoded, to be written as they are
	answers int    // in-flight tokens released once written (an answer: 1)
	raw     bool
}

// sendDevice queues a twin answer (answer: it releases one of c's in-flight tokens once
// written) or a desired notification for device connection c. It is delivered only if c
// holds the matching twin subscription, as a publish would be. It never blocks: a device
// with maxOutbox messages unwritten is disconnected instead (errBehind). A desired
// notification to an idle connection is written by the caller when the socket takes it
// at once (flushDevice); everything else goes to a writer goroutine.
func (h *Hub) sendDevice(c *conn, topic string, payload []byte, answer bool) {
	if !h.queueDevice(c, topic, payload, answer) {
		return
	}
	if answer {
		go h.drainOutbox(c)
		return
	}
	h.flushDevice(c)
}

// queueDevice queues a twin message for c as sendDevice does. It returns true when the
// caller must get the queue written, with flushDevice or drainOutbox (nobody else is
// writing it).
func (h *Hub) queueDevice(c *conn, topic string, payload []byte, answer bool) bool {
	if !c.subscribedTo(topic) {
		if answer {
			<-c.inflight
		}
		return false
	}
	o := &c.out
	o.mu.Lock()
	if len(o.q) >= maxOutbox {
		o.mu.Unlock()
		if answer {
			<-c.inflight
		}
		h.log.Warn("device does not read its twin messages; disconnecting it", "client", c.ID, "unwritten", maxOutbox)
		c.cl.Stop(errBehind)
		return false
	}
	m := outMsg{topic: topic, payload: payload}
	if answer {
		m.answers = 1
	}
	o.q = append(o.q, m)
	start := !o.running
	o.running = true
	o.mu.Unlock()
	return start
}

// flushDevice writes c's queued messages from the calling goroutine if the connection
// takes them without waiting (a plain TCP connection whose lock is free and whose socket
// has room); what is left goes to a writer goroutine. The caller must own the queue
// (queueDevice returned true). A desired notification then skips the hand-off to a new
// writer goroutine, which under load waits behind every runnable connection reader.
// (Answers keep the writer goroutine: a completion runner that wrote a batch's answers
// itself was measured slower to finish, and back-end completions wait for it.)
func (h *Hub) flushDevice(c *conn) {
	o := &c.out
	sc, plain := c.cl.Net.Conn.(syscall.Conn)
	if !plain {
		go h.drainOutbox(c)
		return
	}
	o.mu.Lock()
	batch := o.q
	o.q = nil
	o.mu.Unlock()
	buf := h.getWriteBuf()
	defer h.putWriteBuf(buf)
	ends := make([]int, 0, 8)
	for _, m := range batch {
		h.encodeDevice(c, buf, m)
		ends = append(ends, buf.Len())
	}
	n, locked := writeNow(c, sc, buf.Bytes())
	var rest outMsg
	for i, m := range batch {
		if ends[i] <= n {
			for range m.answers {
				<-c.inflight
			}
			continue
		}
		rest.answers += m.answers
	}
	if n == buf.Len() {
		o.mu.Lock()
		if len(o.q) == 0 {
			o.running = false
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		go h.drainOutbox(c)
		return
	}
	rest.raw, rest.payload = true, bytes.Clone(buf.Bytes()[n:])
	if locked {
		// A packet is cut: the writer finishes it before anyone else may write.
		go h.finishPartial(c, rest)
		return
	}
	o.mu.Lock()
	o.q = append([]outMsg{rest}, o.q...)
	o.mu.Unlock()
	go h.drainOutbox(c)
}

// finishPartial writes the rest of a packet that writeNow cut, with the client's lock
// that writeNow kept, then writes the queue as drainOutbox does.
func (h *Hub) finishPartial(c *conn, rest outMsg) {
	_, err := c.cl.Net.Conn.Write(rest.payload)
	c.cl.Unlock()
	if err != nil {
		h.log.Debug("twin messages not delivered", "client", c.ID, "bytes", len(rest.payload), "err", err)
	}
	for range rest.answers {
		<-c.inflight
	}
	h.drainOutbox(c)
}

// writeNow writes b to c's connection as far as the socket takes it without waiting,
// under the client's lock if it is free (mochi holds it while it writes); it returns the
// bytes written, and locked when it wrote only part of b: it then keeps the lock, for the
// caller to finish the cut packet before anyone else writes.
func writeNow(c *conn, sc syscall.Conn, b []byte) (n int, locked bool) {
	cl := c.cl
	if len(b) == 0 || cl.Closed() {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil || !cl.TryLock() {
		return 0, false
	}
	_ = rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			k, err := syscall.Write(int(fd), b[n:])
			if err == syscall.EINTR {
				continue
			}
			if err != nil || k <= 0 {
				break
			}
			n += k
		}
		return true // never wait for the socket
	})
	if n > 0 && n < len(b) {
		return n, true
	}
	cl.Unlock()
	return n, false
}

func (h *Hub) getWriteBuf() *bytes.Buffer {
	if buf, _ := h.writeBufs.Get().(*bytes.Buffer); buf != nil {
		return buf
	}
	return new(bytes.Buffer)
}

func (h *Hub) putWriteBuf(buf *bytes.Buffer) {
	if buf.Cap() <= 2*maxWriteBytes {
		buf.Reset()
		h.writeBufs.Put(buf)
	}
}

// maxWriteBytes is how much drainOutbox encodes before it writes: the messages queued for
// a device go out in one write(2) (a device with 4 requests in flight typically has its 4
// answers queued together), not one per message.
const maxWriteBytes = 64 << 10

// drainOutbox writes c's queued messages until the queue is empty. A write waits for the
// socket (at most until the connection's keepalive deadline); a closed connection fails
// at once.
func (h *Hub) drainOutbox(c *conn) {
	o := &c.out
	buf := h.getWriteBuf()
	defer h.putWriteBuf(buf)
	var batch []outMsg
	for {
		o.mu.Lock()
		if len(o.q) == 0 {
			o.running = false
			o.mu.Unlock()
			return
		}
		batch, o.q = o.q, batch[:0]
		o.mu.Unlock()
		released := 0
		for i, m := range batch {
			h.encodeDevice(c, buf, m)
			if buf.Len() >= maxWriteBytes || i == len(batch)-1 {
				h.writeDevice(c, buf)
				// The answers written so far release their in-flight tokens.
				for _, w := range batch[released : i+1] {
					for range w.answers {
						<-c.inflight
					}
				}
				released = i + 1
			}
		}
		clear(batch)
	}
}

// encodeDevice appends m as a QoS 0 PUBLISH to buf, in the client's protocol version, as
// mochi's WritePacket would (the topic is already unscoped). A message over the client's
// maximum packet size (MQTT 5) is dropped, as mochi drops it.
func (h *Hub) encodeDevice(c *conn, buf *bytes.Buffer, m outMsg) {
	if m.raw {
		buf.Write(m.payload)
		return
	}
	cl := c.cl
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: m.topic,
		Payload: m.payload, ProtocolVersion: cl.Properties.ProtocolVersion}
	pk.Mods.MaxSize = cl.Properties.Props.MaximumPacketSize
	start := buf.Len()
	if err := pk.PublishEncode(buf); err != nil {
		buf.Truncate(start)
		h.log.Debug("twin message not encoded", "client", c.ID, "topic", m.topic, "err", err)
		return
	}
	if pk.Mods.MaxSize > 0 && uint32(buf.Len()-start) > pk.Mods.MaxSize {
		buf.Truncate(start)
		h.log.Debug("twin message over the client's maximum packet size; not delivered", "client", c.ID, "topic", m.topic)
	}
}

// writeDevice writes buf to c's connection in one write, under the client's lock (which
// mochi's own writes take), and empties buf.
func (h *Hub) writeDevice(c *conn, buf *bytes.Buffer) {
	defer buf.Reset()
	cl := c.cl
	if buf.Len() == 0 || cl.Closed() || cl.Net.Conn == nil {
		return
	}
	cl.Lock()
	_, err := cl.Net.Conn.Write(buf.Bytes())
	cl.Unlock()
	if err != nil {
		h.log.Debug("twin messages not delivered", "client", c.ID, "bytes", buf.Len(), "err", err)
	}
}

// subscribedTo reports whether device connection c holds a subscription that matches a
// twin answer or desired notification topic (the filters scopeDeviceFilter grants).
func (c *conn) subscribedTo(topic string) bool {
	var f string
	switch {
	case strings.HasPrefix(topic, resLong):
		f = c.prefix + "r/#"
	case strings.HasPrefix(topic, desiredLong):
		f = c.prefix + "d/#"
	default:
		return false
	}
	subs := c.cl.State.Subscriptions
	if _, ok := subs.Get(f); ok {
		return true
	}
	_, ok := subs.Get(c.prefix + "#")
	return ok
}
