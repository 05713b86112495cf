package twin

import (
	"fmt"
	"strings"
	"time"
)

// UnmarshalJSON reads the form MarshalJSON writes (and Azure's REST twin JSON). Unknown
// members are ignored; the property values are not checked against the patch rules. On
// error d is unchanged.
func (d *Doc) UnmarshalJSON(b []byte) error {
	dec := newDecoder(b, "", false)
	dec.copyStrings, dec.measure = true, true
	var nd Doc
	bad := dec.readDoc(&nd)
	if dec.err != nil {
		return dec.err
	}
	if bad != nil {
		return bad
	}
	*d = nd
	return nil
}

// members reads an object at d.pos, calling fn for each member with d.pos at its value;
// fn must consume the value. It returns false if the value is not an object. With
// keepNames the names are decoded to be kept (see key); otherwise they are only compared
// and may point into the input.
func (d *decoder) members(keepNames bool, fn func(k string)) bool {
	d.ws()
	if d.pos >= len(d.data) || d.data[d.pos] != '{' {
		return false
	}
	d.pos++
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return true
	}
	for d.err == nil {
		d.ws()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			d.fail("expected a member name in double quotes")
			return true
		}
		var k string
		if keepNames {
			k = d.key()
		} else {
			copyStrings := d.copyStrings
			d.copyStrings = false
			k = d.str()
			d.copyStrings = copyStrings
		}
		d.ws()
		if d.err != nil || d.pos >= len(d.data) || d.data[d.pos] != ':' {
			d.fail("expected ':' after the member name")
			return true
		}
		d.pos++
		d.ws()
		fn(k)
		d.ws()
		if d.err != nil || d.pos >= len(d.data) {
			d.fail("unexpected end of input; expected ',' or '}'")
			return true
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return true
		default:
			d.fail("expected ',' or '}'")
		}
	}
	return true
}

// docReader collects the first semantic error (a member of the wrong type) while the
// decoder reads a twin.
type docReader struct {
	*decoder
	metas    metaAlloc
	bad      error
	lastTime string
	lastT    time.Time
}

func (r *docReader) setBad(format string, args ...any) {
	if r.bad == nil {
		r.bad = fmt.Errorf("twin JSON: "+format, args...)
	}
}

// text reads a string or null member.
func (r *docReader) text(name string) string {
	switch v := r.value().(type) {
	case string:
		return v
	case nil:
		return ""
	}
	r.setBad("%s must be a string", name)
	return ""
}

// number reads a number member named name+field.
func (r *docReader) number(name, field string) float64 {
	v := r.value()
	f, ok := v.(float64)
	if !ok && v != nil {
		r.setBad("%s%s must be a number", name, field)
	}
	return f
}

// time reads a time member named name+field; runs of equal strings (metadata) are
// parsed once.
func (r *docReader) time(name, field string) time.Time {
	r.copyStrings = false // parsed, not kept
	v := r.value()
	r.copyStrings = true
	s, ok := v.(string)
	if !ok && v != nil {
		r.setBad("%s%s must be a string", name, field)
	}
	if s == r.lastTime && s != "" {
		return r.lastT
	}
	t, ok := parseTime(s)
	if !ok {
		r.setBad("%s%s: %q is not an ISO-8601 time", name, field, s)
	}
	r.lastTime, r.lastT = s, t
	return t
}

// readDoc reads a whole twin into nd and returns the first semantic error.
func (d *decoder) readDoc(nd *Doc) error {
	r := &docReader{decoder: d}
	nd.Tags, nd.tagsSize = map[string]any{}, 1
	nd.Desired = Props{Values: map[string]any{}, Meta: &Meta{}, Version: 1, size: 1, leaves: 1}
	nd.Reported = Props{Values: map[string]any{}, Meta: &Meta{}, Version: 1, size: 1, leaves: 1}
	ok := d.members(false, func(k string) {
		switch k {
		case "deviceId":
			nd.DeviceID = r.text(k)
		case "etag":
			nd.Etag = r.text(k)
		case "deviceEtag":
			nd.DeviceEtag = r.text(k)
		case "version":
			nd.Version = int64(r.number(k, ""))
		case "status":
			nd.Status = r.text(k)
		case "statusReason":
			nd.StatusReason = r.text(k)
		case "statusUpdateTime":
			nd.StatusUpdateTime = r.time(k, "")
		case "connectionState":
			nd.ConnectionState = r.text(k)
		case "lastActivityTime":
			nd.LastActivityTime = r.time(k, "")
		case "cloudToDeviceMessageCount":
			nd.CloudToDeviceMessageCount = int(r.number(k, ""))
		case "authenticationType":
			nd.AuthenticationType = r.text(k)
		case "x509Thumbprint":
			r.thumbprint(&nd.X509Thumbprint)
		case "tags":
			if m, ok := d.value().(map[string]any); ok {
				nd.Tags, nd.tagsSize = m, int32(d.vs.size)+1
			} else {
				r.setBad("tags must be an object")
			}
		case "properties":
			r.properties(nd)
		default:
			d.value()
		}
	})
	if !ok {
		d.fail("a twin must be a JSON object")
	}
	if d.err == nil {
		d.ws()
		if d.pos < len(d.data) {
			d.fail("unexpected text after the JSON object")
		}
	}
	return r.bad
}

func (r *docReader) thumbprint(x *X509Thumbprint) {
	ok := r.members(false, func(k string) {
		switch k {
		case "primaryThumbprint":
			x.PrimaryThumbprint = r.text("x509Thumbprint." + k)
		case "secondaryThumbprint":
			x.SecondaryThumbprint = r.text("x509Thumbprint." + k)
		default:
			r.value()
		}
	})
	if !ok && r.value() != nil {
		r.setBad("x509Thumbprint must be an object")
	}
}

func (r *docReader) properties(nd *Doc) {
	ok := r.members(false, func(k string) {
		switch k {
		case "desired":
			r.props(&nd.Desired, "properties.desired")
		case "reported":
			r.props(&nd.Reported, "properties.reported")
		default:
			r.value()
		}
	})
	if !ok && r.value() != nil {
		r.setBad("properties must be an object")
	}
}

// props reads {values…,"$metadata":…,"$version":n}.
func (r *docReader) props(p *Props, name string) {
	r.recKeys, r.recPos, r.recording = r.recKeys[:0], 0, true
	fresh := len(p.Values) == 0
	var st stats
	n := 0
	ok := r.members(true, func(k string) {
		switch k {
		case "$version":
			p.Version = int64(r.number(name, ".$version"))
		case "$metadata":
			r.recording, r.inMeta = false, true
			if m := r.meta(name, 0); m != nil {
				p.Meta = m
			}
			r.inMeta = false
		default:
			p.Values[k] = r.value()
			st.size += charCount(k) + r.vs.size
			st.leaves += r.vs.leaves
			n++
		}
	})
	r.recording = false
	if !fresh || n != len(p.Values) { // the section or a member came twice
		st = statsOf(p.Values)
		if len(p.Values) == 0 {
			st.leaves = 0
		}
	}
	p.size, p.leaves = int32(st.size)+1, int32(st.leaves)+1
	if !ok && r.value() != nil {
		r.setBad("%s must be an object", name)
	}
}

// meta reads one $metadata node and its children (nil if the value is not an object).
// name is the section, for errors.
func (r *docReader) meta(name string, depth int) *Meta {
	if depth > maxNesting {
		r.fail("$metadata nested too deeply")
		return nil
	}
	m := r.metas.new()
	ok := r.members(true, func(k string) {
		switch k {
		case "$lastUpdated":
			m.LastUpdated = r.time(name, ".$metadata…$lastUpdated")
		case "$lastUpdatedVersion":
			m.LastUpdatedVersion = int64(r.number(name, ".$metadata…$lastUpdatedVersion"))
		default:
			if r.pos < len(r.data) && r.data[r.pos] == '{' {
				if m.Children == nil {
					m.Children = make(map[string]*Meta)
				}
				if k != "" && k[0] == '$' {
					k = strings.Clone(k) // key leaves $ names pointing into the input
				}
				m.Children[k] = r.meta(name, depth+1)
				return
			}
			r.value()
		}
	})
	if !ok {
		r.value()
		return nil
	}
	return m
}
