package query

import (
	"strings"

	"github.com/twinops/twinops/twin"
)

// evalFn evaluates a compiled expression against one twin.
type evalFn func(d *twin.Doc) value

// topField returns the canonical spelling of a top-level twin attribute, matched
// case-insensitively as IoT Hub does (DeviceId, LASTACTIVITYTIME, ...).
func topField(name string) (string, bool) {
	for _, f := range [...]string{
		"deviceId", "moduleId", "etag", "deviceEtag", "version", "status", "statusReason",
		"statusUpdateTime", "connectionState", "lastActivityTime", "cloudToDeviceMessageCount",
		"authenticationType", "x509Thumbprint", "modelId", "capabilities", "tags", "properties",
	} {
		if strings.EqualFold(name, f) {
			return f, true
		}
	}
	return "", false
}

// isTimeField reports whether path p is a time attribute (identity time or $lastUpdated).
func isTimeField(p *pathExpr) bool {
	switch p.segs[0].name {
	case "statusUpdateTime", "lastActivityTime":
		return len(p.segs) == 1
	case "properties":
		last := p.segs[len(p.segs)-1]
		return len(p.segs) >= 4 && p.segs[2].name == "$metadata" && last.name == "$lastUpdated" && !last.isIdx
	}
	return false
}

// checkPath validates the fixed part of a path: properties must be followed by desired or
// reported. It makes those two names canonical (they match case-insensitively).
func checkPath(src string, p *pathExpr) error {
	if p.segs[0].name != "properties" || len(p.segs) == 1 {
		return nil
	}
	s := &p.segs[1]
	switch {
	case !s.isIdx && strings.EqualFold(s.name, "desired"):
		s.name = "desired"
	case !s.isIdx && strings.EqualFold(s.name, "reported"):
		s.name = "reported"
	default:
		return errAt(src, p.off, "unknown property %s: after properties comes desired or reported", p.String())
	}
	return nil
}

// compilePath turns a checked path into an evaluator. Paths into tags and property
// values walk the twin's maps with pre-split segments and allocate nothing; whole
// sections, properties and $metadata objects are built on demand (projections only).
func compilePath(p *pathExpr) evalFn {
	rest := p.segs[1:]
	switch p.segs[0].name {
	case "deviceId":
		return scalarField(rest, func(d *twin.Doc) value { return strv(d.DeviceID) })
	case "etag":
		return scalarField(rest, func(d *twin.Doc) value { return strv(d.Etag) })
	case "deviceEtag":
		return scalarField(rest, func(d *twin.Doc) value { return strv(d.DeviceEtag) })
	case "version":
		return scalarField(rest, func(d *twin.Doc) value { return numv(float64(d.Version)) })
	case "status":
		return scalarField(rest, func(d *twin.Doc) value { return strv(d.Status) })
	case "statusReason": // unset is null, as in the twin's JSON
		return scalarField(rest, func(d *twin.Doc) value {
			if d.StatusReason == "" {
				return vnull
			}
			return strv(d.StatusReason)
		})
	case "statusUpdateTime":
		return scalarField(rest, func(d *twin.Doc) value { return timev(d.StatusUpdateTime) })
	case "connectionState":
		return scalarField(rest, func(d *twin.Doc) value { return strv(d.ConnectionState) })
	case "lastActivityTime":
		return scalarField(rest, func(d *twin.Doc) value { return timev(d.LastActivityTime) })
	case "cloudToDeviceMessageCount":
		return scalarField(rest, func(d *twin.Doc) value { return numv(float64(d.CloudToDeviceMessageCount)) })
	case "authenticationType":
		return scalarField(rest, func(d *twin.Doc) value { return strv(d.AuthenticationType) })
	case "x509Thumbprint":
		return func(d *twin.Doc) value { return lookupAny(thumbprint(d), rest) }
	case "modelId": // the twin's JSON always has "modelId":""
		return scalarField(rest, func(*twin.Doc) value { return strv("") })
	case "capabilities": // and "capabilities":{"iotEdge":false}
		c := lookupAny(map[string]any{"iotEdge": false}, rest) // rows copy objects
		return func(*twin.Doc) value { return c }
	case "tags":
		return func(d *twin.Doc) value { return lookup(d.Tags, rest) }
	case "properties":
		return compileProperties(rest)
	}
	return func(*twin.Doc) value { return undef } // moduleId: device twins have none
}

// scalarField evaluates a primitive attribute; nothing lies below a primitive.
func scalarField(rest []seg, f evalFn) evalFn {
	if len(rest) > 0 {
		return func(*twin.Doc) value { return undef }
	}
	return f
}

func thumbprint(d *twin.Doc) map[string]any {
	orNull := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return map[string]any{
		"primaryThumbprint":   orNull(d.X509Thumbprint.PrimaryThumbprint),
		"secondaryThumbprint": orNull(d.X509Thumbprint.SecondaryThumbprint),
	}
}

// compileProperties compiles a path below "properties".
func compileProperties(rest []seg) evalFn {
	if len(rest) == 0 {
		return func(d *twin.Doc) value {
			return value{k: kObj, r: map[string]any{
				"desired":  sectionJSON(&d.Desired, true),
				"reported": sectionJSON(&d.Reported, false),
			}}
		}
	}
	desired := rest[0].name == "desired"
	sec := func(d *twin.Doc) *twin.Props {
		if desired {
			return &d.Desired
		}
		return &d.Reported
	}
	below := rest[1:]
	switch {
	case len(below) == 0:
		return func(d *twin.Doc) value { return value{k: kObj, r: sectionJSON(sec(d), desired)} }
	case below[0].name == "$version" && !below[0].isIdx:
		return scalarField(below[1:], func(d *twin.Doc) value { return numv(float64(sec(d).Version)) })
	case below[0].name == "$metadata" && !below[0].isIdx:
		return compileMeta(below[1:], sec, desired)
	}
	if desired {
		return func(d *twin.Doc) value { return lookup(d.Desired.Values, below) }
	}
	return func(d *twin.Doc) value { return lookup(d.Reported.Values, below) }
}

// lookup walks m along segs. It allocates nothing.
func lookup(m map[string]any, segs []seg) value {
	if m == nil {
		if len(segs) == 0 {
			return value{k: kObj, r: map[string]any{}}
		}
		return undef
	}
	return lookupAny(m, segs)
}

func lookupAny(cur any, segs []seg) value {
	for _, s := range segs {
		if s.isIdx {
			a, ok := cur.([]any)
			if !ok || s.index >= len(a) {
				return undef
			}
			cur = a[s.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return undef
		}
		if cur, ok = m[s.name]; !ok {
			return undef
		}
	}
	return fromAny(cur)
}

// compileMeta compiles a path below properties.<section>.$metadata: member names walk
// the metadata tree; $lastUpdated and $lastUpdatedVersion read a node's fields.
func compileMeta(segs []seg, sec func(*twin.Doc) *twin.Props, desired bool) evalFn {
	return func(d *twin.Doc) value {
		m := sec(d).Meta
		for i, s := range segs {
			if m == nil || s.isIdx {
				return undef
			}
			switch s.name {
			case "$lastUpdated":
				if i+1 < len(segs) {
					return undef
				}
				return timev(m.LastUpdated())
			case "$lastUpdatedVersion":
				if !desired || i+1 < len(segs) {
					return undef
				}
				return numv(float64(m.LastUpdatedVersion()))
			}
			m = m.Child(s.name)
		}
		if m == nil {
			return undef
		}
		return value{k: kObj, r: metaJSON(m, desired)}
	}
}

// sectionJSON renders a property section as IoT Hub returns it in a query projection:
// the values with $metadata and $version.
func sectionJSON(p *twin.Props, desired bool) map[string]any {
	out := make(map[string]any, len(p.Values)+2)
	for k, v := range p.Values {
		out[k] = v
	}
	if p.Meta != nil {
		out["$metadata"] = metaJSON(p.Meta, desired)
	}
	out["$version"] = float64(p.Version)
	return out
}

// metaJSON renders a metadata node as JSON: $lastUpdated (+ $lastUpdatedVersion) and children.
func metaJSON(m *twin.Meta, desired bool) map[string]any {
	out := make(map[string]any, m.Len()+2)
	for k, c := range m.Children() {
		out[k] = metaJSON(c, desired)
	}
	out["$lastUpdated"] = formatTime(m.LastUpdated())
	if desired && m.LastUpdatedVersion() > 0 {
		out["$lastUpdatedVersion"] = float64(m.LastUpdatedVersion())
	}
	return out
}
