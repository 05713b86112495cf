package hub

import (
	"errors"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hook is the hub's mochi hook: authentication, ACL, per-client topic scoping and the
// routing of device and service requests. Every method runs on the calling client's
// goroutine (or the inline publisher's) and hands requests to the twin owners; the only
// waits are a device's own back-pressure: its unanswered requests (maxDeviceInflight) and
// its shard's budget of admitted requests (budget.go).
type hook struct {
	mqtt.HookBase
	h *Hub
}

// ID names the hook.
func (k *hook) ID() string { return "twinops" }

// Provides lists the hook methods implemented here.
func (k *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished, mqtt.OnDisconnect,
		mqtt.OnPacketRead, mqtt.OnPacketEncode, mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnUnsubscribe,
		mqtt.OnPublish, mqtt.OnPublishDropped:
		return true
	}
	return false
}

// errQoS2 closes a connection that publishes with QoS 2, as IoT Hub does.
// It wraps packets.ErrRejectPacket, the only error mochi's OnPacketRead acts on.
var errQoS2 = fmt.Errorf("%w: QoS 2 publish refused: the hub supports QoS 0 and 1 (as IoT Hub); connection closed", packets.ErrRejectPacket)

// errTokenExpired and errDisabled are the stop causes of connections the hub ends.
var (
	errTokenExpired = errors.New("SAS token expired; reconnect with a new token")
	errDisabled     = errors.New("device disabled or deleted")
	errBehind       = errors.New("device does not read its twin messages fast enough: its write queue is full and a twin answer or desired notification was lost; reconnect and get the twin")
)

// OnConnectAuthenticate authenticates the CONNECT and records the connection. A refusal
// makes mochi answer CONNACK 5 (not authorized) and close.
func (k *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	h := k.h
	c, err := h.authenticate(cl, pk)
	if err != nil {
		h.log.Info("connection refused", "client", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote, "reason", err)
		return false
	}
	c.cl = cl
	// The timer is set before c is published: other goroutines stop it.
	c.timer = time.AfterFunc(c.Expires.Sub(h.now()), func() {
		h.log.Info("token expired; disconnecting", "client", c.ID)
		cl.Stop(errTokenExpired)
	})
	if old, ok := h.conns.Swap(c.ID, c); ok {
		old.(*conn).stopTimer()
	}
	return true
}

func (c *conn) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

// connOf returns the live record of cl, or nil (unknown, or replaced by a newer
// connection with the same client id).
func (h *Hub) connOf(cl *mqtt.Client) *conn {
	v, ok := h.conns.Load(cl.ID)
	if !ok {
		return nil
	}
	c := v.(*conn)
	if c.cl != cl {
		return nil
	}
	return c
}

// OnSessionEstablished takes a resumed session's device filters out of mochi's topic
// index (devtrie.go) and marks a device connected. A service client may have got event
// subscriptions back with its session: events are encoded again (until the next check).
func (k *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	k.unindexSession(cl)
	c := k.h.connOf(cl)
	switch {
	case c == nil:
	case c.Kind == kindDevice:
		k.h.setConnected(c, true)
	case c.Kind == kindService:
		k.h.feed.mark()
	}
}

// OnSubscribed takes granted device filters out of mochi's topic index (devtrie.go) and
// turns the service event feed on when a service client was granted an event filter.
// mochi calls it after adding the filters to its index and before the SUBACK.
func (k *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	k.unindexGranted(cl, pk, codes)
	c := k.h.connOf(cl)
	if c == nil || c.Kind != kindService {
		return
	}
	for i, sub := range pk.Filters {
		if i < len(codes) && codes[i] < 0x80 && isEventFilter(sub.Filter) {
			k.h.feed.mark()
			return
		}
	}
}

// OnDisconnect forgets the connection and marks a device disconnected, unless a newer
// connection with the same id has already replaced it (session take-over).
func (k *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	h := k.h
	c := h.connOf(cl)
	if c == nil {
		return
	}
	if !h.conns.CompareAndDelete(cl.ID, c) {
		return
	}
	c.stopTimer()
	h.log.Debug("client disconnected", "client", cl.ID, "err", err)
	if c.Kind == kindDevice {
		h.setConnected(c, false)
	}
}

// OnPublishDropped ends the connection of a device that lost a twin answer or a desired
// notification because its write queue was full. The SDKs wait forever for a lost answer
// and never learn of a lost desired change; a closed connection at least makes the loss
// visible, and SDKs that get the twin after reconnecting catch up.
func (k *hook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	c := k.h.connOf(cl)
	if c == nil || c.Kind != kindDevice || cl.Closed() || !strings.HasPrefix(pk.TopicName, c.prefix) {
		return // already stopped: log once
	}
	k.h.log.Warn("twin message to a device dropped (write queue full); disconnecting it", "client", cl.ID, "topic", stripScope(pk.TopicName))
	cl.Stop(errBehind)
}

// OnPacketRead closes connections that publish with QoS 2.
func (k *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos == 2 {
		k.h.log.Info("QoS 2 publish; closing connection", "client", cl.ID, "topic", pk.TopicName)
		return pk, errQoS2
	}
	return pk, nil
}

// OnPacketEncode strips the scoping prefix from topics delivered to a client.
func (k *hook) OnPacketEncode(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Publish {
		pk.TopicName = stripScope(pk.TopicName)
	}
	return pk
}

// OnSubscribe binds the client's filters to the client: a device's `$iothub/twin/...`
// filters and a service client's `$twinops/res/...` filters are rewritten under the
// client's scope prefix. Other filters are left as they are and refused (SUBACK 0x80) by
// OnACLCheck unless allowed there. QoS 2 is granted as 1.
func (k *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	c := k.h.connOf(cl)
	if c == nil {
		return pk
	}
	filters := make(packets.Subscriptions, len(pk.Filters))
	for i, sub := range pk.Filters {
		sub.Filter = k.h.scopeFilter(c, sub.Filter)
		sub.Qos = min(sub.Qos, 1)
		filters[i] = sub
	}
	pk.Filters = filters
	return pk
}

// OnUnsubscribe rewrites filters as OnSubscribe did, so that they are found.
func (k *hook) OnUnsubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	c := k.h.connOf(cl)
	if c == nil {
		return pk
	}
	filters := make(packets.Subscriptions, len(pk.Filters))
	for i, sub := range pk.Filters {
		sub.Filter = k.h.scopeFilter(c, sub.Filter)
		filters[i] = sub
	}
	pk.Filters = filters
	return pk
}

// scopeFilter returns the internal filter for a client's filter; a filter it does not
// take is returned unchanged, and OnACLCheck refuses it.
func (h *Hub) scopeFilter(c *conn, f string) string {
	switch c.Kind {
	case kindDevice:
		if s := scopeDeviceFilter(c.prefix, f); s != "" {
			return s
		}
	case kindService:
		if strings.HasPrefix(f, "$twinops/res/") && h.serviceFilterAllowed(c, f) {
			return c.prefix + f
		}
	}
	return f
}

// OnACLCheck allows a device to publish `$iothub/...` and its own telemetry topic, a
// service client `$twinops/...`; it allows delivery and subscriptions only on the client's
// own scoped topics, and for service clients the event topics their policy allows.
func (k *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	c := k.h.connOf(cl)
	if c == nil {
		return false
	}
	if write {
		switch c.Kind {
		case kindDevice:
			return strings.HasPrefix(topic, "$iothub/") || strings.HasPrefix(topic, "devices/"+c.DeviceID+"/messages/events/")
		case kindService:
			return strings.HasPrefix(topic, "$twinops/")
		}
		return false
	}
	if strings.HasPrefix(topic, c.prefix) {
		return true
	}
	return c.Kind == kindService && strings.HasPrefix(topic, "$twinops/events/") && k.h.serviceFilterAllowed(c, topic)
}

// OnPublish handles every publish from a client: device twin requests, service requests;
// nothing a client publishes is routed to other clients.
func (k *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	h := k.h
	c := h.connOf(cl)
	if c == nil {
		return pk, packets.ErrRejectPacket
	}
	switch c.Kind {
	case kindDevice:
		h.handleDevice(c, pk)
	case kindService:
		h.handleService(c, pk)
	}
	return pk, packets.CodeSuccessIgnore
}

// publish injects a publish from the hub itself; delivery is governed by subscriptions
// and OnACLCheck.
func (h *Hub) publish(topic string, payload []byte) {
	if err := h.srv.Publish(topic, payload, false, 0); err != nil {
		h.log.Debug("publish failed", "topic", topic, "err", err)
	}
}

// disconnectDevice ends the connection of device id, if any.
func (h *Hub) disconnectDevice(id string, cause error) {
	if v, ok := h.conns.Load(id); ok {
		c := v.(*conn)
		h.log.Info("disconnecting device", "device", id, "reason", cause)
		c.cl.Stop(cause)
	}
}

// dropSession forgets the persistent session of client id (device deleted).
func (h *Hub) dropSession(id string) {
	if cl, ok := h.srv.Clients.Get(id); ok {
		h.srv.UnsubscribeClient(cl)
		h.srv.Clients.Delete(id)
	}
	h.forgetStoredSession(id)
}
