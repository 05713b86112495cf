// Package twin is the device-twin document of Azure IoT Hub: its JSON shape, merge
// patches with versions, etags and $metadata, Azure's validation limits, the bodies the
// device and service protocols need, and the desired-versus-reported diff.
//
// Property trees are plain JSON values: map[string]any, []any, string, float64, bool and
// nil. Whole numbers are limited to ±2^52 so that float64 keeps them exact.
//
// The package is pure: no I/O, no clock of its own (every write takes `now`), no
// goroutines. A *Doc is not safe for concurrent use; callers that share one clone it.
package twin

import (
	"fmt"
	"time"
)

// Section names one of the three writable parts of a twin.
type Section uint8

// The sections of a twin.
const (
	Tags Section = iota
	Desired
	Reported
)

// String returns "tags", "desired" or "reported".
func (s Section) String() string {
	switch s {
	case Tags:
		return "tags"
	case Desired:
		return "desired"
	case Reported:
		return "reported"
	}
	return fmt.Sprintf("section(%d)", uint8(s))
}

// ParseSection is the inverse of Section.String.
func ParseSection(s string) (Section, bool) {
	switch s {
	case "tags":
		return Tags, true
	case "desired":
		return Desired, true
	case "reported":
		return Reported, true
	}
	return 0, false
}

// pathPrefix is how paths inside the section are written in error messages and diffs.
func (s Section) pathPrefix() string {
	switch s {
	case Desired:
		return "properties.desired"
	case Reported:
		return "properties.reported"
	}
	return "tags"
}

// X509Thumbprint holds the certificate thumbprints of an x509 identity; empty means null.
type X509Thumbprint struct {
	PrimaryThumbprint, SecondaryThumbprint string
}

// Doc is one device twin. Its JSON form (MarshalJSON) is Azure IoT Hub's.
//
// Change Tags and the property Values only through Patch, Replace and ApplyChange: they
// validate, keep $metadata and versions, and keep the cached section sizes and leaf
// counts that make Patch and Summarize cheap. The identity fields (status, connection
// state, activity, counts) are plain data the hub sets directly.
type Doc struct {
	DeviceID   string
	Etag       string // opaque; changes whenever Version changes
	DeviceEtag string // etag of the identity record, maintained by the registry
	Version    int64  // twin version, only grows

	Status           string // "enabled" | "disabled"
	StatusReason     string
	StatusUpdateTime time.Time

	ConnectionState           string // "Connected" | "Disconnected"
	LastActivityTime          time.Time
	CloudToDeviceMessageCount int
	AuthenticationType        string // "sas"
	X509Thumbprint            X509Thumbprint

	Tags              map[string]any // no $metadata / $version
	Desired, Reported Props

	// tagsSize caches the Azure-counted size of Tags plus one (0: not known yet), kept
	// by every write through this package so that a patch need not re-count the twin.
	tagsSize int32
}

// Props is the desired or the reported section.
type Props struct {
	Values  map[string]any
	Meta    *Meta // mirrors Values: $lastUpdated (+ $lastUpdatedVersion on desired)
	Version int64 // $version, starts at 1

	size   int32 // cached Azure-counted size of Values plus one; 0: not known yet
	leaves int32 // cached number of leaves of Values plus one; 0: not known yet
}

// New returns the twin of a newly created identity: twin version 1, both property
// sections at $version 1 with root $lastUpdated never set, status enabled, disconnected.
// now seeds the etag generation, so a device deleted and created again does not reuse
// the etags of its previous life.
func New(deviceID string, now time.Time) *Doc {
	d := &Doc{
		DeviceID:           deviceID,
		Version:            1,
		Status:             "enabled",
		ConnectionState:    "Disconnected",
		AuthenticationType: "sas",
		Tags:               map[string]any{},
		Desired:            Props{Values: map[string]any{}, Meta: &Meta{}, Version: 1, size: 1, leaves: 1},
		Reported:           Props{Values: map[string]any{}, Meta: &Meta{}, Version: 1, size: 1, leaves: 1},
		tagsSize:           1,
	}
	d.Etag = makeEtag(generation(deviceID, now), d.Version)
	return d
}

// generation derives 16 bits that tell apart successive lives of one device id.
func generation(deviceID string, now time.Time) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(deviceID); i++ {
		h ^= uint64(deviceID[i])
		h *= 1099511628211
	}
	h ^= uint64(now.UnixNano())
	h *= 1099511628211
	return (h >> 32) & 0xffff
}

// bumpVersion increments the twin version and renews the etag.
func (d *Doc) bumpVersion() {
	d.Version++
	d.Etag = makeEtag(etagGeneration(d.Etag), d.Version)
}

// props returns the property section s, or nil for tags.
func (d *Doc) props(s Section) *Props {
	switch s {
	case Desired:
		return &d.Desired
	case Reported:
		return &d.Reported
	}
	return nil
}

// sizeSlot returns where the size of section s is cached.
func (d *Doc) sizeSlot(s Section) *int32 {
	if s == Tags {
		return &d.tagsSize
	}
	return &d.props(s).size
}

// sectionSize returns the Azure-counted size of section s, counting it if the cache
// does not know it. Code that changes Values or Tags directly (not through Patch or
// Replace) leaves the cache stale; such code should build a new Doc instead.
func (d *Doc) sectionSize(s Section) int {
	slot := d.sizeSlot(s)
	if *slot == 0 {
		*slot = int32(sizeOf(d.section(s), false)) + 1
	}
	return int(*slot - 1)
}

// leafCount returns the number of leaves of the section (as Diff counts them), from the
// cache when it is known; it never writes the cache (readers may share p).
func (p *Props) leafCount() int {
	if p.leaves > 0 {
		return int(p.leaves - 1)
	}
	return sectionLeaves(p.Values)
}

// Clone returns a deep copy of d.
func (d *Doc) Clone() *Doc {
	if d == nil {
		return nil
	}
	c := *d
	c.Tags = cloneMap(d.Tags)
	c.Desired = d.Desired.clone()
	c.Reported = d.Reported.clone()
	return &c
}

func (p Props) clone() Props {
	return Props{Values: cloneMap(p.Values), Meta: p.Meta.Clone(), Version: p.Version, size: p.size, leaves: p.leaves}
}

// cloneMap deep-copies a JSON object (nil stays nil).
func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

// cloneValue deep-copies a JSON value; scalars are immutable and shared.
func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneMap(v)
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = cloneValue(e)
		}
		return c
	}
	return v
}

// Lookup follows path through nested objects of v and returns the value found there.
func Lookup(v map[string]any, path ...string) (any, bool) {
	var cur any = v
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[k]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// Error is a rejected operation: an HTTP-style Status (400, 409, 412), an Azure-style
// numeric Code (400004 …), the offending Path (e.g. "properties.reported.a.b", may be
// empty) and a Message that is complete on its own: it names the path, says what was
// wrong and what to do.
type Error struct {
	Status  int
	Code    int
	Path    string
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Error codes returned by this package.
const (
	// CodeInvalidArgument: a key, value, depth or size rule was broken (Azure's
	// ArgumentInvalid, the code the hub answers for reserved keys in a patch).
	CodeInvalidArgument = 400004
	// CodeMalformed: the body is not JSON, or not a JSON object where one is required
	// (Azure's IotHubFormatError).
	CodeMalformed = 400006
	// CodeStaleChange: ApplyChange got a change not newer than the twin; drop it.
	CodeStaleChange = 412001
	// CodeVersionGap: ApplyChange got a change that skips versions; re-read the twin.
	CodeVersionGap = 409001
)

func errInvalid(path, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return &Error{Status: 400, Code: CodeInvalidArgument, Path: path, Message: msg}
}

func errMalformed(path, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return &Error{Status: 400, Code: CodeMalformed, Path: path, Message: msg}
}
