package twinclient

import "github.com/twinops/twinops/twin"

// Copy on write, per section: a twin handed out by Next is shared with the consumer and
// must not change. Before the cache changes it, it copies the Doc struct (cheap: the
// sections stay shared) and deep-copies only the section it is about to write, so an event
// costs one section's copy rather than the whole twin's.

// Bits of entry.shared.
const (
	sharedDoc uint8 = 1 << iota
	sharedTags
	sharedDesired
	sharedReported
	sharedAll = sharedDoc | sharedTags | sharedDesired | sharedReported
)

func sectionBit(s twin.Section) uint8 {
	switch s {
	case twin.Tags:
		return sharedTags
	case twin.Desired:
		return sharedDesired
	}
	return sharedReported
}

// writableDoc returns the entry's doc ready for changes to its top-level fields.
func (e *entry) writableDoc() *twin.Doc {
	if e.shared&sharedDoc != 0 {
		c := *e.doc // sections still shared: their bits stay set
		e.doc = &c
		e.shared &^= sharedDoc
	}
	return e.doc
}

// writable returns the entry's doc ready for a change to section s.
func (e *entry) writable(s twin.Section) *twin.Doc {
	d := e.writableDoc()
	bit := sectionBit(s)
	if e.shared&bit == 0 {
		return d
	}
	switch s {
	case twin.Tags:
		d.Tags = copyMap(d.Tags)
	case twin.Desired:
		d.Desired.Values, d.Desired.Meta = copyMap(d.Desired.Values), d.Desired.Meta.Clone()
	default:
		d.Reported.Values, d.Reported.Meta = copyMap(d.Reported.Values), d.Reported.Meta.Clone()
	}
	e.shared &^= bit
	return d
}

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = copyValue(v)
	}
	return c
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyMap(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = copyValue(e)
		}
		return c
	}
	return v
}
