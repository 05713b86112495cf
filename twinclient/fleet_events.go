package twinclient

import (
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

// parseTwinEvent decodes {"seq":N,"etag":"...",<twin.Change members>}.
func parseTwinEvent(b []byte) (twinEvent, error) {
	var hdr struct {
		Seq  int64  `json:"seq"`
		Etag string `json:"etag"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		return twinEvent{}, fmt.Errorf("twin event: %w", err)
	}
	var c twin.Change
	if err := c.UnmarshalJSON(b); err != nil {
		return twinEvent{}, err
	}
	return twinEvent{seq: hdr.Seq, etag: hdr.Etag, change: c}, nil
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
