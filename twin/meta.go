package twin

import (
	"iter"
	"math"
	"slices"
	"strings"
	"time"
)

// Meta is the $metadata of one node of a property tree: when the node was last updated,
// on desired the section $version of that update, and for an object node the metadata of
// each of its members. Leaves (including arrays and empty objects) have no members.
//
// Read it through its methods; it changes only through Patch, Replace and ApplyChange.
// The layout is compact (a fleet keeps one per section of every twin): the members of a
// node are a slice sorted by key that holds them inline, and times are nanoseconds. A
// *Meta returned by Child points into its parent and is valid until the twin is next
// written. Methods on a nil *Meta return zero values.
type Meta struct {
	key     string // the member name under the parent; "" for a section root
	updated uint64 // $lastUpdated as stamp(t): 0 is never, ordered like the times
	version int64  // $lastUpdatedVersion, desired only (0: none)
	kids    []Meta // members of an object node, sorted by key; nil for a leaf
}

// stamp encodes t as its UnixNano with the sign bit flipped, so that the zero time is 0
// and stamps order like times. Times outside the years 1678–2262 are clamped to them.
func stamp(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	const limit = math.MaxInt64 / int64(time.Second) // seconds either side of 1970
	n := int64(math.MaxInt64)
	switch s := t.Unix(); {
	case s <= -limit:
		n = math.MinInt64 + 1
	case s < limit:
		n = t.UnixNano()
	}
	return uint64(n) ^ 1<<63
}

// stampTime is the inverse of stamp.
func stampTime(u uint64) time.Time {
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(u^1<<63)).UTC()
}

// LastUpdated is the node's $lastUpdated (UTC; zero if never set).
func (m *Meta) LastUpdated() time.Time {
	if m == nil {
		return time.Time{}
	}
	return stampTime(m.updated)
}

// LastUpdatedVersion is the node's $lastUpdatedVersion: on desired, the section $version
// written by the node's last update; 0 on reported.
func (m *Meta) LastUpdatedVersion() int64 {
	if m == nil {
		return 0
	}
	return m.version
}

// Key is the member name of the node under its parent ("" for a section root).
func (m *Meta) Key() string {
	if m == nil {
		return ""
	}
	return m.key
}

// Len is the number of members of an object node (0 for a leaf).
func (m *Meta) Len() int {
	if m == nil {
		return 0
	}
	return len(m.kids)
}

// Child returns the metadata of member key, or nil.
func (m *Meta) Child(key string) *Meta {
	if m == nil {
		return nil
	}
	if i, ok := m.find(key); ok {
		return &m.kids[i]
	}
	return nil
}

// At follows path down from m and returns the node there, or nil.
func (m *Meta) At(path ...string) *Meta {
	for _, k := range path {
		if m = m.Child(k); m == nil {
			return nil
		}
	}
	return m
}

// Children yields the members of the node in key order.
func (m *Meta) Children() iter.Seq2[string, *Meta] {
	return func(yield func(string, *Meta) bool) {
		if m == nil {
			return
		}
		for i := range m.kids {
			if !yield(m.kids[i].key, &m.kids[i]) {
				return
			}
		}
	}
}

// Clone returns a deep copy of m that shares nothing with it (one allocation).
func (m *Meta) Clone() *Meta {
	if m == nil {
		return nil
	}
	slab := make([]Meta, m.count())
	slab[0] = *m
	slab[0].kids, _ = cloneKids(m.kids, slab[1:])
	return &slab[0]
}

// count is the number of nodes of the tree under m, m included.
func (m *Meta) count() int {
	n := 1
	for i := range m.kids {
		n += m.kids[i].count()
	}
	return n
}

// cloneKids deep-copies kids into the front of slab, which must hold every node under
// them, and returns the copy and the rest of slab. Each copied slice has its own
// capacity, so that growing one never overwrites the next.
func cloneKids(kids []Meta, slab []Meta) ([]Meta, []Meta) {
	if len(kids) == 0 {
		return nil, slab
	}
	n := len(kids)
	out := slab[:n:n]
	copy(out, kids)
	slab = slab[n:]
	for i := range out {
		out[i].kids, slab = cloneKids(kids[i].kids, slab)
	}
	return out, slab
}

// find returns the index of key among m's members, or where it would be inserted.
func (m *Meta) find(key string) (int, bool) {
	kids := m.kids
	if len(kids) <= 12 { // equality first: cheap when lengths differ, and most keys exist
		for i := range kids {
			if kids[i].key == key {
				return i, true
			}
		}
		i := 0
		for i < len(kids) && kids[i].key < key {
			i++
		}
		return i, false
	}
	lo, hi := 0, len(kids)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if kids[h].key < key {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo, lo < len(kids) && kids[lo].key == key
}

// touch marks the node updated at now (a stamp) by section version ver.
func (m *Meta) touch(now uint64, ver int64) {
	m.updated, m.version = now, ver
}

// child returns the metadata of member k, creating it (updated at now) if missing.
func (m *Meta) child(k string, now uint64, ver int64) *Meta {
	i, ok := m.find(k)
	if !ok {
		m.kids = slices.Insert(m.kids, i, Meta{key: k, updated: now, version: ver})
	}
	return &m.kids[i]
}

// remove drops the metadata of member k, if any.
func (m *Meta) remove(k string) {
	if i, ok := m.find(k); ok {
		m.kids = slices.Delete(m.kids, i, i+1)
		if len(m.kids) == 0 {
			m.kids = nil // as a decoded twin has it
		}
	}
}

// setChild sets the metadata of member k for a freshly written value v, reusing the
// node that was there.
func (m *Meta) setChild(k string, v any, now uint64, ver int64) {
	c := m.child(k, now, ver)
	c.touch(now, ver)
	c.kids = newKids(v, now, ver)
}

// newKids builds the metadata of the members of a freshly written value (nil unless v
// is a non-empty object).
func newKids(v any, now uint64, ver int64) []Meta {
	o, ok := v.(map[string]any)
	if !ok || len(o) == 0 {
		return nil
	}
	kids := make([]Meta, 0, len(o))
	for k, e := range o {
		kids = append(kids, Meta{key: k, updated: now, version: ver, kids: newKids(e, now, ver)})
	}
	sortKids(kids)
	return kids
}

// sortKids sorts nodes by key (insertion sort: most objects are small).
func sortKids(kids []Meta) {
	if len(kids) > 24 {
		slices.SortFunc(kids, func(a, b Meta) int { return strings.Compare(a.key, b.key) })
		return
	}
	for i := 1; i < len(kids); i++ {
		for j := i; j > 0 && kids[j].key < kids[j-1].key; j-- {
			kids[j], kids[j-1] = kids[j-1], kids[j]
		}
	}
}
