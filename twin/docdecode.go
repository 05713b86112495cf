package twin

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

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
//
// $metadata is read into the Decoder's buffers: stack holds the nodes whose members are
// still being read (a node's finished members follow it), done the finished member lists
// and section roots; finishMeta then builds both sections' trees in one allocation.
type docReader struct {
	decoder
	*Decoder
	bad      error
	lastTime string
	lastT    time.Time
	roots    [2]int32 // index in done of the desired and reported roots, plus one
	lent     [2]bool  // the desired, reported values are a map shared with other twins
}

// metaNode is a $metadata node being read; its members are done[first:first+n].
type metaNode struct {
	key      string
	updated  uint64
	version  int64
	first, n int32
}

func (r *docReader) setBad(format string, args ...any) {
	if r.bad == nil {
		r.bad = fmt.Errorf("twin JSON: "+format, args...)
	}
}

// text reads a string or null member.
func (r *docReader) text(name, field string) string {
	if r.peek() == '"' {
		return r.str()
	}
	if r.value() != nil {
		r.setBad("%s%s must be a string", name, field)
	}
	return ""
}

// enum reads a string member whose values repeat from twin to twin (status, connection
// state): interned by a Decoder.
func (r *docReader) enum(name string) string {
	r.interning = r.intern != nil
	s := r.text(name, "")
	r.interning = false
	return s
}

// number reads a number member named name+field.
func (r *docReader) number(name, field string) float64 {
	if c := r.peek(); c == '-' || (c >= '0' && c <= '9') {
		f, _ := r.float()
		return f
	}
	if r.value() != nil {
		r.setBad("%s%s must be a number", name, field)
	}
	return 0
}

// peek returns the byte at r.pos (0 at the end).
func (r *docReader) peek() byte {
	if r.pos < len(r.data) {
		return r.data[r.pos]
	}
	return 0
}

// time reads a time member named name+field; runs of equal strings (metadata) are
// parsed once.
func (r *docReader) time(name, field string) time.Time {
	var s string
	if r.peek() == '"' {
		r.copyStrings = false // parsed, not kept
		s = r.str()
		r.copyStrings = true
	} else if r.value() != nil {
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

// readDoc reads a whole twin into nd, recording the first semantic error in r.bad.
func (r *docReader) readDoc(nd *Doc) {
	d := &r.decoder
	nd.Tags, nd.tagsSize = map[string]any{}, 1
	nd.Desired = Props{Values: map[string]any{}, Version: 1, size: 1, leaves: 1}
	nd.Reported = Props{Values: map[string]any{}, Version: 1, size: 1, leaves: 1}
	ok := d.members(false, func(k string) {
		switch k {
		case "deviceId":
			nd.DeviceID = r.text(k, "")
		case "etag":
			nd.Etag = r.text(k, "")
		case "deviceEtag":
			nd.DeviceEtag = r.text(k, "")
		case "version":
			nd.Version = int64(r.number(k, ""))
		case "status":
			nd.Status = r.enum(k)
		case "statusReason":
			nd.StatusReason = r.enum(k)
		case "statusUpdateTime":
			nd.StatusUpdateTime = r.time(k, "")
		case "connectionState":
			nd.ConnectionState = r.enum(k)
		case "lastActivityTime":
			nd.LastActivityTime = r.time(k, "")
		case "cloudToDeviceMessageCount":
			nd.CloudToDeviceMessageCount = int(r.number(k, ""))
		case "authenticationType":
			nd.AuthenticationType = r.enum(k)
		case "x509Thumbprint":
			r.thumbprint(&nd.X509Thumbprint)
		case "tags":
			d.interning = d.intern != nil
			v := d.value()
			d.interning = false
			if m, ok := v.(map[string]any); ok {
				nd.Tags, nd.tagsSize = m, int32(d.vs.size)+1
			} else {
				r.setBad("tags must be an object")
			}
		case "properties":
			r.properties(nd)
		default:
			d.skip(0)
		}
	})
	if !ok {
		d.fail("a twin must be a JSON object")
	}
	if d.err == nil && r.bad == nil {
		r.finishMeta(nd)
	}
}

func (r *docReader) thumbprint(x *X509Thumbprint) {
	ok := r.members(false, func(k string) {
		switch k {
		case "primaryThumbprint":
			x.PrimaryThumbprint = r.text("x509Thumbprint.", k)
		case "secondaryThumbprint":
			x.SecondaryThumbprint = r.text("x509Thumbprint.", k)
		default:
			r.skip(0)
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
			r.props(&nd.Desired, 0, "properties.desired")
		case "reported":
			r.props(&nd.Reported, 1, "properties.reported")
		default:
			r.skip(0)
		}
	})
	if !ok && r.value() != nil {
		r.setBad("properties must be an object")
	}
}

// props reads {values…,"$metadata":…,"$version":n} of section sec (0 desired, 1
// reported); r.roots[sec] records where its $metadata root was left in done.
func (r *docReader) props(p *Props, sec int, name string) {
	r.recKeys, r.recPos, r.recording = r.recKeys[:0], 0, true
	if r.lent[sec] { // the section came twice and the first one's map is shared
		p.Values, r.lent[sec] = cloneMap(p.Values), false
	}
	fresh := len(p.Values) == 0
	var st stats
	n := 0
	r.interning = r.intern != nil
	defer func() { r.interning = false }()
	rootKey, skipTo, shared := r.sharedRoot(p, &st, fresh)
	dollar := false // a $ member was read: values after it are not in rootKey's text
	ok := r.members(true, func(k string) {
		switch k {
		case "$version":
			dollar = true
			p.Version = int64(r.number(name, ".$version"))
		case "$metadata":
			dollar = true
			r.recording, r.inMeta = false, true
			if r.meta(name, 0, "") {
				r.done = append(r.done, r.stack[0])
				r.stack = r.stack[:0]
				r.roots[sec] = int32(len(r.done))
			}
			r.inMeta = false
		default:
			if shared && skipTo > 0 { // the values are the shared map's: skip their text
				r.pos, skipTo = skipTo, 0
				return
			}
			if k != "" && k[0] == '$' {
				dollar = true
			}
			if shared { // a member after the $ members: this twin needs its own map
				p.Values, shared, n = cloneMap(p.Values), false, 0
			}
			if dollar {
				rootKey = ""
			}
			p.Values[k] = r.value()
			st.size += charCount(k) + r.vs.size
			st.leaves += r.vs.leaves
			n++
		}
	})
	r.recording, r.lent[sec] = false, shared
	if !shared && (!fresh || n != len(p.Values)) { // the section or a member came twice
		st = statsOf(p.Values)
		if len(p.Values) == 0 {
			st.leaves = 0
		}
		rootKey = ""
	}
	if rootKey != "" && r.err == nil && len(r.Decoder.roots) < maxSharedEntries {
		r.Decoder.roots[strings.Clone(rootKey)] = sharedObj{p.Values, st}
		r.lent[sec] = true // later twins may share it: the section coming again copies it
	}
	p.size, p.leaves = int32(st.size)+1, int32(st.leaves)+1
	if !ok && r.value() != nil {
		r.setBad("%s must be an object", name)
	}
}

// sharedRoot looks the section's values (the members before its $ members) up among the
// sections read before, with ShareValues. It returns the text to record the values
// under (when they were not found), or, when found, installs the shared map and its
// stats in p and st and returns where the values' text ends (skipTo: the ',' or '}'
// after them, 0 when there are none).
func (r *docReader) sharedRoot(p *Props, st *stats, fresh bool) (key string, skipTo int, shared bool) {
	if r.Decoder.roots == nil || !fresh || r.pos >= len(r.data) || r.data[r.pos] != '{' {
		return "", 0, false
	}
	end, empty := valuesEnd(r.data, r.pos, maxSharedLen)
	if end < 0 {
		return "", 0, false
	}
	key = r.src[r.pos:end]
	e, ok := r.Decoder.roots[key]
	if !ok {
		return key, 0, false
	}
	p.Values, *st = e.m, e.st
	if empty {
		return "", 0, true
	}
	return "", end, true
}

// valuesEnd scans the object at data[start] for the end of its leading members that are
// not $ members (a section's values, before $metadata and $version): it returns the index
// of the ',' or '}' after them and whether there are none; -1 if that is further than
// limit bytes or not well formed.
func valuesEnd(data []byte, start, limit int) (int, bool) {
	depth, key, comma := 0, true, -1
	end := min(len(data), start+limit)
	for i := start; i < end; i++ {
		switch data[i] {
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i, comma < 0 && i == start+1
			}
		case ',':
			if depth == 1 {
				comma, key = i, true
			}
		case ':':
			if depth == 1 {
				key = false
			}
		case '"':
			if depth == 1 && key && i+1 < len(data) && data[i+1] == '\\' {
				return -1, false // an escape may spell a $ member ("\u0024metadata"): do not share
			}
			if depth == 1 && key && i+1 < len(data) && data[i+1] == '$' {
				if comma < 0 {
					return start + 1, true
				}
				return comma, false
			}
			i = stringEnd(data, i, end)
		}
	}
	return -1, false
}

// meta reads one $metadata node named key and its members onto r.stack; it reports
// false (and pushes nothing) if the value is not an object. name is the section, for
// errors.
func (r *docReader) meta(name string, depth int, key string) bool {
	if depth > maxNesting {
		r.fail("$metadata nested too deeply")
		return false
	}
	me := len(r.stack)
	r.stack = append(r.stack, metaNode{key: key})
	ok := r.members(true, func(k string) {
		switch k {
		case "$lastUpdated":
			r.stack[me].updated = stamp(r.time(name, ".$metadata…$lastUpdated"))
		case "$lastUpdatedVersion":
			r.stack[me].version = int64(r.number(name, ".$metadata…$lastUpdatedVersion"))
		default:
			if r.pos < len(r.data) && r.data[r.pos] == '{' {
				if k != "" && k[0] == '$' {
					k = strings.Clone(k) // key leaves $ names pointing into the input
				}
				r.meta(name, depth+1, k)
				return
			}
			r.skip(0)
		}
	})
	if !ok {
		r.stack = r.stack[:me]
		r.skip(0)
		return false
	}
	// the members, each finished, follow me on the stack: move them to done
	kids := r.stack[me+1:]
	first := len(r.done)
	r.done = append(r.done, kids...)
	r.stack = r.stack[:me+1]
	r.stack[me].first, r.stack[me].n = int32(first), int32(sortNodes(r.done[first:]))
	return true
}

// sortNodes sorts the members of one node by key and drops all but the last of
// repeated keys (as a map would keep them); it returns how many are left.
func sortNodes(ns []metaNode) int {
	sorted := true
	for i := 1; i < len(ns) && sorted; i++ {
		sorted = ns[i-1].key < ns[i].key
	}
	if sorted {
		return len(ns) // what MarshalJSON writes
	}
	slices.SortStableFunc(ns, func(a, b metaNode) int { return strings.Compare(a.key, b.key) })
	n := 0
	for i := range ns {
		if i+1 < len(ns) && ns[i+1].key == ns[i].key {
			continue
		}
		ns[n] = ns[i]
		n++
	}
	return n
}

// finishMeta builds the $metadata trees read into r.done in one allocation and gives
// them to the sections (a section without $metadata gets an empty root).
func (r *docReader) finishMeta(nd *Doc) {
	for i := range r.roots {
		if r.roots[i] == 0 {
			r.done = append(r.done, metaNode{})
			r.roots[i] = int32(len(r.done))
		}
	}
	slab := make([]Meta, len(r.done))
	for i, n := range r.done {
		slab[i] = Meta{key: n.key, updated: n.updated, version: n.version}
		if n.n > 0 {
			end := n.first + n.n
			slab[i].kids = slab[n.first:end:end]
		}
	}
	nd.Desired.Meta, nd.Reported.Meta = &slab[r.roots[0]-1], &slab[r.roots[1]-1]
}
