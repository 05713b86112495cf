package hub

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// hubVersion is the hub's software version, reported by hub.info.
const hubVersion = "0.1.0"

// Event kinds' indexes in serviceSide.seq and their names on the wire.
const (
	seqTwin = iota
	seqConnection
	seqIdentity
)

// syncInterval is how often the stream positions are published.
const syncInterval = time.Second

// publishEvent republishes one hub event to service clients. It runs on the hub's event
// goroutine and never blocks: mochi drops a publish for a client whose queue is full, and
// the client sees the gap in seq.
func (h *Hub) publishEvent(e Event) {
	s := &h.svc
	var topic, kind string
	var body []byte
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Kind {
	case EventTwin:
		if e.Twin == nil {
			return
		}
		s.seq[seqTwin]++
		body = make([]byte, 0, 256)
		body = append(body, `{"seq":`...)
		body = strconv.AppendInt(body, s.seq[seqTwin], 10)
		body = append(body, ',')
		mark := len(body)
		body = e.Twin.AppendJSON(body)
		body = append(body[:mark], body[mark+1:]...) // drop the change's '{': its members follow "seq"
		kind = "twin"
		topic = svcEventsPrefix + kind + "/" + topicLevel(e.Twin.DeviceID)
	case EventConnection:
		if e.Conn == nil {
			return
		}
		s.seq[seqConnection]++
		state := "Disconnected"
		if e.Conn.Connected {
			state = "Connected"
		}
		body, _ = json.Marshal(struct {
			Seq            int64     `json:"seq"`
			DeviceID       string    `json:"deviceId"`
			State          string    `json:"state"`
			SequenceNumber uint64    `json:"sequenceNumber"`
			Time           time.Time `json:"time"`
		}{s.seq[seqConnection], e.Conn.DeviceID, state, e.Conn.Seq, e.Conn.Time.UTC()})
		kind = "connection"
		topic = svcEventsPrefix + kind + "/" + topicLevel(e.Conn.DeviceID)
	case EventIdentity:
		if e.Identity == nil {
			return
		}
		s.seq[seqIdentity]++
		body, _ = json.Marshal(struct {
			Seq      int64     `json:"seq"`
			DeviceID string    `json:"deviceId"`
			Op       string    `json:"op"`
			Etag     string    `json:"etag,omitempty"`
			Status   string    `json:"status,omitempty"`
			Time     time.Time `json:"time"`
		}{s.seq[seqIdentity], e.Identity.DeviceID, e.Identity.Op, e.Identity.Identity.Etag,
			e.Identity.Identity.Status, e.Identity.Time.UTC()})
		kind = "identity"
		topic = svcEventsPrefix + kind + "/" + topicLevel(e.Identity.DeviceID)
	default:
		return
	}
	if s.perDevice.Load() {
		h.publish(topic, body)
	}
	h.batchLocked(kind, body)
}

// Batching: the same events go out a second time, many per publish, on
// $twinops/events/batch: {"events":[{"kind":"twin",<event members>},...]}. A fleet cache
// subscribes to that alone, so that a burst of events costs a few publishes (mochi keeps
// only a few pending writes per client and drops the rest). A batch goes out when it
// reaches batchBytes or batchEvents, or batchDelay after its first event; an event that
// comes after batchDelay of quiet goes out at once.
const (
	batchBytes  = 64 << 10
	batchEvents = 1000
	batchDelay  = 2 * time.Millisecond
)

// batchLocked adds one event body ({...}) of kind to the batch. Called with s.mu held.
func (h *Hub) batchLocked(kind string, body []byte) {
	s := &h.svc
	if s.batchN == 0 {
		s.batch = append(make([]byte, 0, 4096), `{"events":[`...)
	} else {
		s.batch = append(s.batch, ',')
	}
	s.batch = append(s.batch, `{"kind":"`...)
	s.batch = append(s.batch, kind...)
	s.batch = append(s.batch, `",`...)
	s.batch = append(s.batch, body[1:]...)
	s.batchN++
	switch {
	case len(s.batch) >= batchBytes || s.batchN >= batchEvents:
		h.flushBatchLocked()
	case !s.batchArmed && time.Since(s.batchLast) >= batchDelay:
		h.flushBatchLocked() // quiet stream: no wait for the first event of a burst
	case !s.batchArmed:
		s.batchArmed = true
		time.AfterFunc(batchDelay, func() {
			select {
			case <-h.quit:
				return
			default:
			}
			s.mu.Lock()
			s.batchArmed = false
			h.flushBatchLocked()
			s.mu.Unlock()
		})
	}
}

// flushBatchLocked publishes the batch (mochi keeps the payload: a new buffer follows).
func (h *Hub) flushBatchLocked() {
	s := &h.svc
	if s.batchN == 0 {
		return
	}
	h.publish(svcEventsPrefix+"batch", append(s.batch, "]}"...))
	s.batch, s.batchN = nil, 0
	s.batchLast = time.Now()
}

// syncLoop publishes the stream positions every second until the hub closes, so that a
// client that lost the last events of a burst notices.
func (h *Hub) syncLoop() {
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	for {
		select {
		case <-h.quit:
			h.svc.cancel()
			return
		case <-t.C:
			h.publishSync()
		}
	}
}

func (h *Hub) publishSync() {
	s := &h.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	body, _ := json.Marshal(struct {
		Epoch string           `json:"epoch"`
		Seq   map[string]int64 `json:"seq"`
		Time  time.Time        `json:"time"`
	}{s.epoch, map[string]int64{"twin": s.seq[seqTwin], "connection": s.seq[seqConnection],
		"identity": s.seq[seqIdentity]}, h.now().UTC()})
	h.publish(svcEventsPrefix+"sync", body)
	h.batchLocked("sync", body)
	h.flushBatchLocked()
}

// topicLevel makes a device id usable as a topic level: '%', '+' and '#' are
// percent-encoded (device ids may contain them; a topic name may not hold wildcards).
func topicLevel(id string) string {
	if !strings.ContainsAny(id, "%+#") {
		return id
	}
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		switch c := id[i]; c {
		case '%':
			b.WriteString("%25")
		case '+':
			b.WriteString("%2B")
		case '#':
			b.WriteString("%23")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
