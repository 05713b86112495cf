package twinclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twinops/twinops/twin"
)

// twinEvent is the body of $twinops/events/twin/{id}: a twin.Change plus the stream
// position and the etag after the change.
type twinEvent struct {
	seq    int64
	etag   string
	change twin.Change
}

// parseTwinEvent decodes {"seq":N,<twin.Change members>} (and "etag" if a hub sends
// one). The hub writes "seq" first: it is read without a second JSON pass.
func parseTwinEvent(b []byte) (twinEvent, error) {
	var ev twinEvent
	seq, ok := leadingSeq(b)
	if ok {
		ev.seq = seq
	} else {
		var hdr struct {
			Seq  int64  `json:"seq"`
			Etag string `json:"etag"`
		}
		if err := json.Unmarshal(b, &hdr); err != nil {
			return twinEvent{}, fmt.Errorf("twin event: %w", err)
		}
		ev.seq, ev.etag = hdr.Seq, hdr.Etag
	}
	if err := ev.change.UnmarshalJSON(b); err != nil {
		return twinEvent{}, err
	}
	return ev, nil
}

// leadingSeq reads N from a body that starts with {"seq":N, and no etag member.
func leadingSeq(b []byte) (int64, bool) {
	const prefix = `{"seq":`
	if len(b) < len(prefix)+2 || string(b[:len(prefix)]) != prefix || bytes.Contains(b, []byte(`"etag"`)) {
		return 0, false
	}
	var n int64
	i := len(prefix)
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i < len(prefix)+18; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	if i == len(prefix) || i >= len(b) || b[i] != ',' {
		return 0, false
	}
	return n, true
}

// connEvent is the body of $twinops/events/connection/{id}.
type connEvent struct {
	Seq            int64     `json:"seq"`
	DeviceID       string    `json:"deviceId"`
	State          string    `json:"state"`
	SequenceNumber int64     `json:"sequenceNumber"`
	Time           time.Time `json:"time"`
}

// identityEvent is the body of $twinops/events/identity/{id}.
type identityEvent struct {
	Seq      int64     `json:"seq"`
	DeviceID string    `json:"deviceId"`
	Op       string    `json:"op"`
	Etag     string    `json:"etag"`
	Status   string    `json:"status"`
	Time     time.Time `json:"time"`
}

// syncEvent is the body of $twinops/events/sync.
type syncEvent struct {
	Epoch string           `json:"epoch"`
	Seq   map[string]int64 `json:"seq"`
	Time  time.Time        `json:"time"`
}
