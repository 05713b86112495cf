package twin

import (
	"fmt"
	"strconv"
	"time"
)

// Change is one successful write to a twin, as the hub publishes it (service events,
// twin history): the twin version after the change, the section, the operation and its
// input, and the time the hub applied it. Replaying it with ApplyChange on the twin as it
// was before gives exactly the twin the hub has after it.
type Change struct {
	DeviceID string
	Version  int64 // twin version after the change
	Section  Section
	Op       string         // "patch" | "replace"
	Patch    map[string]any // the merge patch, or the whole new section for "replace"
	Time     time.Time
}

// Operations of a Change.
const (
	OpPatch   = "patch"
	OpReplace = "replace"
)

// MarshalJSON writes {"deviceId","version","section","op","patch","time"}.
func (c Change) MarshalJSON() ([]byte, error) {
	return c.AppendJSON(make([]byte, 0, 256)), nil
}

// AppendJSON appends what MarshalJSON returns to dst.
func (c Change) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"deviceId":`...)
	dst = appendString(dst, c.DeviceID)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, c.Version, 10)
	dst = append(dst, `,"section":`...)
	dst = appendString(dst, c.Section.String())
	dst = append(dst, `,"op":`...)
	dst = appendString(dst, c.Op)
	dst = append(dst, `,"patch":`...)
	if c.Patch == nil {
		dst = append(dst, "{}"...)
	} else {
		dst = AppendValue(dst, c.Patch)
	}
	dst = append(dst, `,"time":`...)
	dst = appendTime(dst, c.Time)
	return append(dst, '}')
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Change) UnmarshalJSON(b []byte) error {
	m, derr := decodeObject(b)
	if derr != nil {
		return derr
	}
	var n Change
	var ok bool
	n.DeviceID, _ = m["deviceId"].(string)
	n.Version = int64(num(m["version"]))
	sec, _ := m["section"].(string)
	if n.Section, ok = ParseSection(sec); !ok {
		return fmt.Errorf("twin change JSON: section %q is not tags, desired or reported", sec)
	}
	n.Op, _ = m["op"].(string)
	if n.Op != OpPatch && n.Op != OpReplace {
		return fmt.Errorf("twin change JSON: op %q is not patch or replace", n.Op)
	}
	if n.Patch, ok = m["patch"].(map[string]any); !ok {
		return fmt.Errorf("twin change JSON: patch must be an object")
	}
	ts, _ := m["time"].(string)
	if n.Time, ok = parseTime(ts); !ok {
		return fmt.Errorf("twin change JSON: time %q is not an ISO-8601 time", ts)
	}
	*c = n
	return nil
}

// ApplyChange replays a change the hub made, giving the same twin the hub has: same
// values, metadata times, section versions, twin version and etag. The change must be
// the next one: c.Version == d.Version+1. An older or equal version gets CodeStaleChange
// (drop it, it is already applied); a later one gets CodeVersionGap (a change was missed;
// re-read the twin). On error d is unchanged.
func (d *Doc) ApplyChange(c Change) *Error {
	if c.DeviceID != d.DeviceID {
		return &Error{Status: 400, Code: CodeInvalidArgument,
			Message: fmt.Sprintf("change is for device %q, not %q", c.DeviceID, d.DeviceID)}
	}
	if c.Version <= d.Version {
		return &Error{Status: 412, Code: CodeStaleChange,
			Message: fmt.Sprintf("change version %d is not newer than twin version %d; drop it", c.Version, d.Version)}
	}
	if c.Version != d.Version+1 {
		return &Error{Status: 409, Code: CodeVersionGap,
			Message: fmt.Sprintf("change version %d skips versions after %d; re-read the twin", c.Version, d.Version)}
	}
	switch c.Op {
	case OpPatch:
		return d.Patch(c.Section, c.Patch, c.Time)
	case OpReplace:
		return d.Replace(c.Section, c.Patch, c.Time)
	}
	return &Error{Status: 400, Code: CodeInvalidArgument,
		Message: fmt.Sprintf("change op %q is not patch or replace", c.Op)}
}
