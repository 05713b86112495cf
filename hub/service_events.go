package hub

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
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
// the client sees the gap in seq. While no service client holds an event subscription
// (eventFeed) the event is only numbered: nobody would receive its encoding.
func (h *Hub) publishEvent(e Event) {
	s, f := &h.svc, &h.feed
	s.mu.Lock()
	defer s.mu.Unlock()
	var i int
	switch {
	case e.Kind == EventTwin && e.Twin != nil:
		i = seqTwin
	case e.Kind == EventConnection && e.Conn != nil:
		i = seqConnection
	case e.Kind == EventIdentity && e.Identity != nil:
		i = seqIdentity
	default:
		return
	}
	s.seq[i]++
	// Read under mu after numbering: a client that subscribed (marking the feed before its
	// SUBACK) and then asked hub.info (positions read under mu) gets every event after them.
	if !f.wanted() {
		return
	}
	kind, id, body := encodeEvent(f.body[:0], e, s.seq[i])
	f.body = body
	if s.perDevice.Load() {
		h.publish(svcEventsPrefix+kind+"/"+topicLevel(id), bytes.Clone(body))
	}
	h.batchLocked(kind, body)
}

// encodeEvent appends the event's body (numbered seq) to dst; it returns the kind's
// name, the device id and the body.
func encodeEvent(dst []byte, e Event, seq int64) (kind, id string, body []byte) {
	switch e.Kind {
	case EventTwin:
		dst = append(dst, `{"seq":`...)
		dst = strconv.AppendInt(dst, seq, 10)
		dst = append(dst, ',')
		mark := len(dst)
		dst = e.Twin.AppendJSON(dst)
		dst = append(dst[:mark], dst[mark+1:]...) // drop the change's '{': its members follow "seq"
		return "twin", e.Twin.DeviceID, dst
	case EventConnection:
		state := "Disconnected"
		if e.Conn.Connected {
			state = "Connected"
		}
		b, _ := json.Marshal(struct {
			Seq            int64     `json:"seq"`
			DeviceID       string    `json:"deviceId"`
			State          string    `json:"state"`
			SequenceNumber uint64    `json:"sequenceNumber"`
			Time           time.Time `json:"time"`
		}{seq, e.Conn.DeviceID, state, e.Conn.Seq, e.Conn.Time.UTC()})
		return "connection", e.Conn.DeviceID, append(dst, b...)
	default:
		b, _ := json.Marshal(struct {
			Seq      int64     `json:"seq"`
			DeviceID string    `json:"deviceId"`
			Op       string    `json:"op"`
			Etag     string    `json:"etag,omitempty"`
			Status   string    `json:"status,omitempty"`
			Time     time.Time `json:"time"`
		}{seq, e.Identity.DeviceID, e.Identity.Op, e.Identity.Identity.Etag,
			e.Identity.Identity.Status, e.Identity.Time.UTC()})
		return "identity", e.Identity.DeviceID, append(dst, b...)
	}
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
		s.batch = append(make([]byte, 0, max(h.feed.batchCap, minBatchCap)), `{"events":[`...)
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
	s.batch = append(s.batch, "]}"...)
	h.feed.sized(len(s.batch))
	h.publish(svcEventsPrefix+"batch", s.batch)
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
			h.feed.refresh(h)
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

// eventFeed says whether encoding events is worth it, and keeps the event goroutine's
// reusable buffers. Its zero value is ready: nobody subscribed.
//
// state's bit 0 is set while some service client may hold an event subscription (any
// $twinops/events/ filter but sync); the rest of it counts the times it was set. mark
// sets it after a subscription is in mochi's index and before its SUBACK; refresh (once a
// second) clears it when no connected service client holds such a filter and nobody marked
// meanwhile (the count is unchanged), so a subscription that races with the scan is never
// missed.
type eventFeed struct {
	state    atomic.Uint64
	body     []byte // one event's encoding, reused (guarded by svc.mu)
	batchCap int    // capacity of the next batch buffer (guarded by svc.mu)
}

// minBatchCap is the smallest batch buffer; the largest is batchBytes plus room for the
// event that crosses it.
const minBatchCap = 4 << 10

func (f *eventFeed) wanted() bool { return f.state.Load()&1 != 0 }

// mark records that an event subscription may exist from now on.
func (f *eventFeed) mark() {
	f.state.Add(2)
	f.state.Or(1)
}

// refresh clears the mark when no connected service client holds an event filter.
func (f *eventFeed) refresh(h *Hub) {
	st := f.state.Load()
	if st&1 == 0 || h.eventSubscribed() {
		return
	}
	f.state.CompareAndSwap(st, st&^1)
}

// sized sizes the next batch buffer from the batch of n bytes just sent: the largest
// recent batch (decaying by 1/8 a batch) plus room, so that a busy stream allocates each
// batch once instead of doubling its way up to batchBytes, and a quiet one soon goes back
// to small buffers. (mochi keeps the payload it is given: buffers cannot be reused.)
func (f *eventFeed) sized(n int) {
	f.batchCap = min(max(n+n/8, f.batchCap-f.batchCap/8, minBatchCap), batchBytes+minBatchCap)
}

// eventSubscribed reports whether a connected service client holds an event filter.
func (h *Hub) eventSubscribed() bool {
	found := false
	h.conns.Range(func(_, v any) bool {
		c := v.(*conn)
		if c.Kind != kindService || c.cl == nil {
			return true
		}
		for f := range c.cl.State.Subscriptions.GetAll() {
			if isEventFilter(f) {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

// isEventFilter reports whether filter can match event topics other than sync.
func isEventFilter(filter string) bool {
	return strings.HasPrefix(filter, svcEventsPrefix) && filter != svcEventsPrefix+"sync"
}
