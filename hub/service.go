package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The service protocol (docs/PROTOCOL.md): consoles and back ends publish requests on
// $twinops/req/{op}/?$rid={rid} and get answers on $twinops/res/{status}/?$rid={rid},
// scoped to their own connection; the hub publishes events on $twinops/events/....

const (
	svcReqPrefix    = "$twinops/req/"
	svcResPrefix    = "$twinops/res/"
	svcEventsPrefix = "$twinops/events/"
	// maxServiceInFlight bounds the service requests being served at once over all
	// clients; a client that sends more waits (its own reads stall, nobody else's).
	maxServiceInFlight = 256
	// serviceTimeout bounds one request.
	serviceTimeout = 30 * time.Second
)

// serviceSide is the hub's service-protocol state. Its zero value is ready: init starts
// the event fan-out on first use.
type serviceSide struct {
	once  sync.Once
	sem   chan struct{}
	epoch string

	mu     sync.Mutex // orders numbering and publishing of events and sync messages
	seq    [3]int64   // last seq per kind: twin, connection, identity
	cancel func()

	cursors cursorCache

	// the batched event stream ($twinops/events/batch), guarded by mu
	batch      []byte
	batchN     int
	batchArmed bool
	batchLast  time.Time // when the last batch went out

	// perDevice turns true (for good) once a client is allowed a subscription that can
	// match per-device event topics; until then only batches are published. It is set
	// during the SUBSCRIBE's ACL check, before the SUBACK, so nothing after is missed.
	perDevice atomic.Bool
}

// service returns the service side, starting it on first use: it watches the hub's events
// and republishes them, and publishes the stream positions every second.
func (h *Hub) service() *serviceSide {
	s := &h.svc
	s.once.Do(func() {
		s.sem = make(chan struct{}, maxServiceInFlight)
		var b [6]byte
		_, _ = rand.Read(b[:])
		s.epoch = hex.EncodeToString(b[:])
		s.cancel = h.Watch(h.publishEvent)
		go h.syncLoop()
	})
	return s
}

// svcOp is one operation of the service protocol: the right it needs (any service right
// when anyRight) and what it does. run returns the 2xx status and body, or an error.
type svcOp struct {
	need     Rights
	anyRight bool
	run      func(h *Hub, ctx context.Context, body []byte) (int, []byte, error)
}

const serviceRights = RegistryRead | RegistryWrite | ServiceConnect

// serviceOp returns the operation named op.
func serviceOp(op string) (svcOp, bool) {
	switch op {
	case "hub.info":
		return svcOp{anyRight: true}, true // run needs the conn: see serve
	case "twin.get":
		return svcOp{need: ServiceConnect, run: (*Hub).svcTwinGet}, true
	case "twin.patch":
		return svcOp{need: ServiceConnect, run: (*Hub).svcTwinPatch}, true
	case "twin.replace":
		return svcOp{need: ServiceConnect, run: (*Hub).svcTwinReplace}, true
	case "query":
		return svcOp{need: ServiceConnect, run: (*Hub).svcQuery}, true
	case "device.get":
		return svcOp{need: RegistryRead, run: (*Hub).svcDeviceGet}, true
	case "device.list":
		return svcOp{need: RegistryRead, run: (*Hub).svcDeviceList}, true
	case "device.connectionString":
		return svcOp{need: RegistryRead, run: (*Hub).svcDeviceConnectionString}, true
	case "device.create":
		return svcOp{need: RegistryWrite, run: (*Hub).svcDeviceCreate}, true
	case "device.update":
		return svcOp{need: RegistryWrite, run: (*Hub).svcDeviceUpdate}, true
	case "device.delete":
		return svcOp{need: RegistryWrite, run: (*Hub).svcDeviceDelete}, true
	case "device.regenerateKey":
		return svcOp{need: RegistryWrite, run: (*Hub).svcDeviceRegenerateKey}, true
	}
	return svcOp{}, false
}

// handleService serves a publish on $twinops/... from an authenticated service client.
// It runs on the client's connection goroutine: it checks the request and hands it to a
// goroutine, waiting only when maxServiceInFlight requests are already being served.
func (h *Hub) handleService(c *conn, pk packets.Packet) {
	s := h.service()
	op, rid, ok := parseServiceTopic(pk.TopicName)
	if !ok {
		h.log.Info("service publish ignored: not $twinops/req/{op}/?$rid={rid} with a usable $rid",
			"client", c.ID, "topic", pk.TopicName)
		return
	}
	body := append([]byte(nil), pk.Payload...)
	select {
	case s.sem <- struct{}{}:
	case <-h.quit:
		h.serviceError(c, rid, errShuttingDown)
		return
	}
	go func() {
		status, resp, err := h.serve(c, op, body)
		<-s.sem // the work is done; writing the answer may wait on the client
		if err != nil {
			h.serviceError(c, rid, err)
			return
		}
		h.answer(c, svcResPrefix+strconv.Itoa(status)+"/?$rid="+rid, resp)
	}()
}

// answer writes an answer straight to the requesting connection. Unlike a publish through
// mochi's queue (64 pending writes per client, dropped when full), it is never lost while
// the connection lives: it waits for the socket instead. It also skips the topic-tree
// scan, since the one recipient is known.
func (h *Hub) answer(c *conn, topic string, payload []byte) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: payload}
	if err := c.cl.WritePacket(pk); err != nil {
		h.log.Debug("service answer not delivered", "client", c.ID, "topic", topic, "err", err)
	}
}

// serve checks the connection's token and rights and runs the operation.
func (h *Hub) serve(c *conn, name string, body []byte) (int, []byte, error) {
	if !c.Expires.IsZero() && !h.now().Before(c.Expires) {
		return 0, nil, &Error{Status: 401, Code: CodeUnauthorized,
			Message: "the connection's SAS token has expired; reconnect with a new token"}
	}
	op, ok := serviceOp(name)
	if !ok {
		return 0, nil, &Error{Status: 400, Code: CodeUnknownOperation,
			Message: "unknown operation " + strconv.Quote(name) + "; the operations are listed in docs/PROTOCOL.md (twin.get, twin.patch, query, device.create, ...)"}
	}
	if op.anyRight && c.Rights&serviceRights == 0 || !op.anyRight && !c.Rights.Has(op.need) {
		need := op.need.String()
		if op.anyRight {
			need = "RegistryRead, RegistryWrite or ServiceConnect"
		}
		return 0, nil, &Error{Status: 403, Code: CodeForbidden,
			Message: "policy " + strconv.Quote(c.Policy) + " lacks " + need + ", which " + name +
				" needs; connect with a policy that has it (iothubowner has every right)"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), serviceTimeout)
	defer cancel() // the Go API also gives up when the hub closes
	if name == "hub.info" {
		return h.svcHubInfo(c)
	}
	return op.run(h, ctx, body)
}

// serviceError answers a service request with an error status and the error body.
func (h *Hub) serviceError(c *conn, rid string, err error) {
	status, code, msg := ErrorStatus(err)
	if status < 100 || status > 999 {
		status = 500
	}
	h.log.Debug("service request refused", "client", c.ID, "status", status, "err", msg)
	body := appendErrorBody(nil, code, msg, h.trackingID(), h.now())
	h.answer(c, svcResPrefix+strconv.Itoa(status)+"/?$rid="+rid, body)
}

// parseServiceTopic parses $twinops/req/{op}/?$rid={rid}. The rid must be 1 to 64
// characters that are valid in a topic name level.
func parseServiceTopic(topic string) (op, rid string, ok bool) {
	rest, found := strings.CutPrefix(topic, svcReqPrefix)
	if !found {
		return "", "", false
	}
	op, query, found := strings.Cut(rest, "/?")
	if !found {
		return "", "", false
	}
	for part := range strings.SplitSeq(query, "&") {
		if v, isRID := strings.CutPrefix(part, "$rid="); isRID {
			rid = v
		}
	}
	if rid == "" || len(rid) > 64 || strings.ContainsAny(rid, "/+#\x00") {
		return "", "", false
	}
	return op, rid, true
}

// serviceFilterAllowed reports whether service client c may subscribe to filter, or
// receive a publish on that topic: its own responses (any service right), twin and
// connection events (ServiceConnect), identity events (RegistryRead or ServiceConnect),
// sync (any service right). A filter that spans kinds needs what each kind needs.
// Called on mochi's goroutines for every subscription and every event delivery: cheap.
func (h *Hub) serviceFilterAllowed(c *conn, filter string) bool {
	if c.Rights&serviceRights == 0 {
		return false
	}
	if strings.HasPrefix(filter, svcResPrefix) {
		return true
	}
	rest, ok := strings.CutPrefix(filter, svcEventsPrefix)
	if !ok {
		return false
	}
	h.service() // events flow once someone may want them
	kind, _, _ := strings.Cut(rest, "/")
	switch kind {
	case "sync":
		return true
	case "batch":
		return c.Rights.Has(ServiceConnect)
	case "identity":
		ok = c.Rights&(RegistryRead|ServiceConnect) != 0
	default: // twin, connection, + and #
		ok = c.Rights.Has(ServiceConnect)
	}
	if ok && !h.svc.perDevice.Load() {
		h.svc.perDevice.Store(true)
	}
	return ok
}
