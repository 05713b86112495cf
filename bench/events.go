package bench

import (
	"encoding/json"
	"errors"
	"fmt"
)

// topicEventsBatch is the hub's batched event stream (docs/PROTOCOL.md, "The batched
// stream"): {"events":[{"kind":"twin","seq":N,...},...]}, every event of every kind, in
// order, many per publish. The load tool reads it rather than the per-device topics: a
// burst costs the hub a few publishes to the load tool instead of one per event, so the
// hub's per-client queue (which drops publishes when full) rarely overflows.
const topicEventsBatch = "$twinops/events/batch"

// streamEvent is the part of one element of a batch the load tool reads.
type streamEvent struct {
	Kind     string          `json:"kind"`
	Seq      json.RawMessage `json:"seq"` // a number; an object {"twin":N,...} in a sync event
	DeviceID string          `json:"deviceId"`
	Section  string          `json:"section"`
	Patch    json.RawMessage `json:"patch"`
}

// reportedChange is a patch of a device's reported properties read from the stream.
type reportedChange struct {
	id    string
	patch map[string]any
}

// eventTracker counts events missing from the stream: gaps in seq, per kind. A sync event
// carries each kind's last seq at that point of the stream, so events dropped at the end
// of a burst are counted too, at the next sync (the hub sends one a second).
type eventTracker struct {
	last map[string]int64 // last seq seen per kind; absent until the first event of a kind
	lost map[string]int64 // events missed per kind
}

func newEventTracker() *eventTracker {
	return &eventTracker{last: map[string]int64{}, lost: map[string]int64{}}
}

// see records that the stream is at seq for kind. The first position seen for a kind is
// its baseline; a seq that goes backwards (the hub restarted) becomes the new baseline.
func (t *eventTracker) see(kind string, seq int64) {
	t.advance(kind, seq, 1)
}

// sync records a sync event: kind's stream is at seq, and the event with seq itself was
// already sent (so it is missing if not seen).
func (t *eventTracker) sync(kind string, seq int64) {
	t.advance(kind, seq, 0)
}

// advance moves kind's position to seq, counting seq-last-seen events as missed (seen is
// 1 if the event at seq arrived). Negative positions are not the hub's and are ignored.
func (t *eventTracker) advance(kind string, seq, seen int64) {
	last, ok := t.last[kind]
	switch {
	case seq < 0:
	case !ok || seq < last:
		t.last[kind] = seq
	case seq > last:
		t.lost[kind] += seq - last - seen
		t.last[kind] = seq
	}
}

// total is the number of events missed, all kinds together.
func (t *eventTracker) total() int64 {
	var n int64
	for _, v := range t.lost {
		n += v
	}
	return n
}

// parseBatch reads a batch publish, updates t and returns the reported-property changes
// it holds, in order. An element it cannot read is an error; the elements before it are
// still accounted for.
func parseBatch(payload []byte, t *eventTracker) ([]reportedChange, error) {
	var b struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(payload, &b); err != nil {
		return nil, fmt.Errorf("event batch: %w", err)
	}
	if b.Events == nil {
		return nil, errors.New(`event batch: no "events" array`)
	}
	var out []reportedChange
	for i, raw := range b.Events {
		var e streamEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return out, fmt.Errorf("event %d of batch: %w", i, err)
		}
		if e.Kind == "sync" {
			var pos map[string]int64
			if err := json.Unmarshal(e.Seq, &pos); err != nil {
				return out, fmt.Errorf("sync event %d of batch: %w", i, err)
			}
			for _, k := range []string{"twin", "connection", "identity"} {
				if n, ok := pos[k]; ok {
					t.sync(k, n)
				}
			}
			continue
		}
		var seq int64
		if err := json.Unmarshal(e.Seq, &seq); err != nil || e.Kind == "" {
			return out, fmt.Errorf("event %d of batch: no kind or no numeric seq", i)
		}
		t.see(e.Kind, seq)
		if e.Kind != "twin" || e.Section != "reported" {
			continue
		}
		c := reportedChange{id: e.DeviceID}
		if err := json.Unmarshal(e.Patch, &c.patch); err != nil {
			return out, fmt.Errorf("twin event %d of batch: patch: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}
