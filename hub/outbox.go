package hub

import (
	"strings"
	"sync"

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
}

type outMsg struct {
	topic   string // unscoped, e.g. "$iothub/twin/res/200/?$rid=1"
	payload []byte
	answer  bool // releases an in-flight token once written
}

// sendDevice queues a twin answer (answer: it releases one of c's in-flight tokens once
// written) or a desired notification for device connection c. It is delivered only if c
// holds the matching twin subscription, as a publish would be. It never blocks: a device
// with maxOutbox messages unwritten is disconnected instead (errBehind).
func (h *Hub) sendDevice(c *conn, topic string, payload []byte, answer bool) {
	if !c.subscribedTo(topic) {
		if answer {
			<-c.inflight
		}
		return
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
		return
	}
	o.q = append(o.q, outMsg{topic: topic, payload: payload, answer: answer})
	start := !o.running
	o.running = true
	o.mu.Unlock()
	if start {
		go h.drainOutbox(c)
	}
}

// drainOutbox writes c's queued messages until the queue is empty. A write waits for the
// socket (at most until the connection's keepalive deadline); a closed connection fails
// at once.
func (h *Hub) drainOutbox(c *conn) {
	o := &c.out
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
		for i, m := range batch {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: m.topic, Payload: m.payload}
			if err := c.cl.WritePacket(pk); err != nil {
				h.log.Debug("twin message not delivered", "client", c.ID, "topic", m.topic, "err", err)
			}
			if m.answer {
				<-c.inflight
			}
			batch[i] = outMsg{}
		}
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
