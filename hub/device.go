package hub

import (
	"strconv"
	"strings"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/twinops/twinops/twin"
)

// Device twin topics (Azure IoT Hub MQTT 3.1.1).
const (
	topicTwinPrefix     = "$iothub/twin/"
	topicGet            = "$iothub/twin/GET/"
	topicPatchReported  = "$iothub/twin/PATCH/properties/reported/"
	topicTwinRes        = "$iothub/twin/res/"
	topicDesiredPatch   = "$iothub/twin/PATCH/properties/desired/?$version="
	topicMethodsRes     = "$iothub/methods/res/"
	topicTelemetryInfix = "/messages/events/"
)

// deviceRequest is a parsed device twin request topic.
type deviceRequest struct {
	op         string // "GET", "PATCH", or "" (unknown)
	rid        string // raw, echoed byte for byte
	version    int64  // $version precondition of a PATCH, when hasVersion
	hasVersion bool
	badVersion string // a $version that is not an integer
}

// parseDeviceTopic parses `$iothub/twin/{GET|PATCH/properties/reported}/?$rid=..[&$version=..]`
// (the '/' before '?' is optional).
func parseDeviceTopic(topic string) deviceRequest {
	path, query, _ := strings.Cut(topic, "?")
	var r deviceRequest
	for f := range strings.SplitSeq(query, "&") {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "$rid":
			r.rid = v
		case "$version":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				r.badVersion = v
				continue
			}
			r.version, r.hasVersion = n, true
		}
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	switch path {
	case topicGet:
		r.op = "GET"
	case topicPatchReported:
		r.op = "PATCH"
	}
	return r
}

// handleDevice serves one publish from a device. It runs on the device's connection
// goroutine; work on the twin goes to the twin's owner.
func (h *Hub) handleDevice(c *conn, pk packets.Packet) {
	topic := pk.TopicName
	switch {
	case strings.HasPrefix(topic, topicMethodsRes):
		h.log.Debug("direct method response ignored: the hub sends no direct methods", "device", c.DeviceID, "topic", topic)
	case strings.HasPrefix(topic, "devices/") && strings.Contains(topic, topicTelemetryInfix):
		h.log.Debug("telemetry discarded: the hub keeps no device-to-cloud messages", "device", c.DeviceID)
	case strings.HasPrefix(topic, "$iothub/"):
		r := parseDeviceTopic(topic)
		if r.rid == "" {
			h.log.Info("device request without $rid ignored: nowhere to answer", "device", c.DeviceID, "topic", topic)
			return
		}
		c.inflight <- struct{}{} // released by answerDevice; waits while maxDeviceInflight are unanswered
		h.admit(c)               // waits while the shard's budget is spent (budget.go); answerDevice releases it
		if !strings.HasPrefix(topic, topicTwinPrefix) {
			h.deviceError(c, r.rid, &Error{Status: 400, Code: CodeUnknownOperation,
				Message: "unknown operation in topic " + strconv.Quote(topic) + "; the hub serves device twins only ($iothub/twin/...)"})
			return
		}
		h.handleTwinRequest(c, r, topic, pk.Payload)
	default:
		h.log.Info("unknown device topic ignored", "device", c.DeviceID, "topic", topic)
	}
}

// handleTwinRequest serves a `$iothub/twin/...` request; every path ends in exactly one
// answer.
func (h *Hub) handleTwinRequest(c *conn, r deviceRequest, topic string, body []byte) {
	switch {
	case r.op == "":
		h.deviceError(c, r.rid, &Error{Status: 400, Code: CodeUnknownOperation,
			Message: "unknown twin operation in topic " + strconv.Quote(topic) + "; use $iothub/twin/GET/?$rid=... or $iothub/twin/PATCH/properties/reported/?$rid=..."})
	case r.badVersion != "":
		h.deviceError(c, r.rid, errInvalid("$version %q in the topic is not an integer", r.badVersion))
	case r.op == "GET":
		h.deviceGet(c, r)
	default:
		patch, terr := twin.ParsePatch(twin.Reported, body)
		if terr != nil {
			h.deviceError(c, r.rid, terr)
			return
		}
		h.devicePatch(c, r, patch)
	}
}

// deviceGet answers `$iothub/twin/res/200/?$rid=X` with the desired and reported sections.
func (h *Hub) deviceGet(c *conn, r deviceRequest) {
	ok := h.submit(c.DeviceID, func(tx *txn) {
		d := tx.s.docs[c.DeviceID]
		if d == nil {
			tx.afterApply(func() { h.deviceError(c, r.rid, errNotFound(c.DeviceID)) })
			return
		}
		h.touch(tx, d)
		body := d.AppendDeviceGet(nil)
		tx.afterApply(func() { h.answerDevice(c, topicTwinRes+"200/?$rid="+r.rid, body) })
	})
	if !ok {
		h.deviceError(c, r.rid, h.refusal())
	}
}

// devicePatch applies a reported patch and answers 204 with the new reported $version
// once it is durable.
func (h *Hub) devicePatch(c *conn, r deviceRequest, patch map[string]any) {
	ok := h.submit(c.DeviceID, func(tx *txn) {
		id := c.DeviceID
		d := tx.s.docs[id]
		if d == nil {
			tx.afterApply(func() { h.deviceError(c, r.rid, errNotFound(id)) })
			return
		}
		h.touch(tx, d)
		if r.hasVersion && r.version != d.Reported.Version {
			err := errPrecondition("reported $version is %d, not %d; get the twin and retry", d.Reported.Version, r.version)
			tx.afterApply(func() { h.deviceError(c, r.rid, err) })
			return
		}
		now := h.now()
		if terr := d.Patch(twin.Reported, patch, now); terr != nil {
			tx.afterApply(func() { h.deviceError(c, r.rid, terr) })
			return
		}
		tx.markDirty(id)
		ch := &twin.Change{DeviceID: id, Version: d.Version, Section: twin.Reported, Op: "patch", Patch: patch, Time: now}
		topic := topicTwinRes + "204/?$rid=" + r.rid + "&$version=" + strconv.FormatInt(d.Reported.Version, 10)
		tx.onCommit(func(err error) {
			if err == nil {
				h.events.twin(ch)
			}
		})
		tx.afterCommit(func(err error) {
			if err != nil {
				h.deviceError(c, r.rid, errInternal("the change could not be stored (%v); it may be lost", err))
				return
			}
			h.answerDevice(c, topic, nil)
		})
	})
	if !ok {
		h.deviceError(c, r.rid, h.refusal())
	}
}

// deviceError answers a twin request with an error status and the Azure error body.
func (h *Hub) deviceError(c *conn, rid string, err error) {
	status, code, msg := ErrorStatus(err)
	if status < 100 || status > 999 {
		status = 500
	}
	h.log.Debug("twin request refused", "device", c.DeviceID, "status", status, "err", msg)
	body := appendErrorBody(nil, code, msg, h.trackingID(), h.now())
	h.answerDevice(c, topicTwinRes+strconv.Itoa(status)+"/?$rid="+rid, body)
}

// answerDevice gives back the request's admission (budget.go) and writes its answer (never
// dropped while the connection lives), which then releases its in-flight token.
func (h *Hub) answerDevice(c *conn, topic string, body []byte) {
	h.answered(c)
	h.sendDevice(c, topic, body, true)
}

// trackingID returns a unique id for an error answer.
func (h *Hub) trackingID() string {
	return h.trackPrefix + "-" + strconv.FormatUint(h.tracking.Add(1), 10)
}

// notifyDesired pushes a desired change to device id (delivered only if it is connected
// and subscribed to the desired topic), in order with its twin answers.
func (h *Hub) notifyDesired(id string, patch map[string]any, version int64) {
	v, ok := h.conns.Load(id)
	if !ok || v.(*conn).Kind != kindDevice {
		return
	}
	body := twin.AppendDesiredNotification(nil, patch, version)
	h.sendDevice(v.(*conn), topicDesiredPatch+strconv.FormatInt(version, 10), body, false)
}
