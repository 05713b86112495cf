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

// leadingSeq reads N from a body that starts with {"seq":N, (or {"kind":"...","seq":N,
// in a batch) and has no etag member.
func leadingSeq(b []byte) (int64, bool) {
	const prefix = `"seq":`
	if len(b) < 2 || b[0] != '{' || bytes.Contains(b, []byte(`"etag"`)) {
		return 0, false
	}
	i := 1
	if k := eventKind(b); k != "" {
		i = len(`{"kind":"`) + len(k) + len(`",`)
	}
	if len(b) < i+len(prefix)+2 || string(b[i:i+len(prefix)]) != prefix {
		return 0, false
	}
	i += len(prefix)
	start := i
	var n int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i < start+18; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	if i == start || i >= len(b) || b[i] != ',' {
		return 0, false
	}
	return n, true
}

// eventKind reads K from an event that starts with {"kind":"K", ("" if it does not).
func eventKind(b []byte) string {
	const prefix = `{"kind":"`
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return ""
	}
	end := bytes.IndexByte(b[len(prefix):], '"')
	if end < 0 || len(b) <= len(prefix)+end+1 || b[len(prefix)+end+1] != ',' {
		return ""
	}
	return string(b[len(prefix) : len(prefix)+end])
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

// splitPage cuts a query answer {"items":[...],"continuation":"...","itemType":"..."} into
// its items without decoding them, in one pass. Members may come in any order; strings
// are skipped with their escapes. It fails on anything that is not well-formed enough to
// split, and the caller then uses encoding/json.
func splitPage(b []byte) (items [][]byte, cont string, ok bool) {
	return splitObject(b, "items")
}

// splitArrayMember returns the elements of the array member name of the object b.
func splitArrayMember(b []byte, name string) ([][]byte, bool) {
	items, _, ok := splitObject(b, name)
	return items, ok
}

// splitObject splits the array member name of the object b and reads its string member
// "continuation".
func splitObject(b []byte, name string) (items [][]byte, cont string, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, "", false
	}
	i++
	for {
		i = skipSpace(b, i)
		if i < len(b) && b[i] == '}' {
			return items, cont, true
		}
		key, j, good := scanString(b, i)
		if !good {
			return nil, "", false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, "", false
		}
		i = skipSpace(b, i+1)
		start := i
		if i = skipValue(b, i); i < 0 {
			return nil, "", false
		}
		switch string(key) {
		case name:
			if items, good = splitArray(b[start:i]); !good {
				return nil, "", false
			}
		case "continuation":
			var s string
			if json.Unmarshal(b[start:i], &s) != nil {
				return nil, "", false
			}
			cont = s
		}
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
}

// splitArray returns the elements of a JSON array as sub-slices.
func splitArray(b []byte) ([][]byte, bool) {
	if len(b) < 2 || b[0] != '[' {
		return nil, false
	}
	var out [][]byte
	i := skipSpace(b, 1)
	for i < len(b) && b[i] != ']' {
		start := i
		if i = skipValue(b, i); i < 0 {
			return nil, false
		}
		out = append(out, b[start:i])
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return out, i < len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// scanString returns the raw content of the string at b[i] and the index after it.
func scanString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return nil, 0, false
		}
		j += q
		k := j // an odd run of backslashes before the quote escapes it
		for k > i+1 && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return b[i+1 : j], j + 1, true
		}
		j++
	}
	return nil, 0, false
}

// skipValue returns the index just after the JSON value at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		_, j, ok := scanString(b, i)
		if !ok {
			return -1
		}
		return j
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				_, k, ok := scanString(b, j)
				if !ok {
					return -1
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
