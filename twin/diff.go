package twin

import (
	"slices"
	"strings"
	"time"
)

// State is how a desired leaf compares with what the device reported.
type State uint8

// The states of a leaf in Diff.
const (
	// InSync: reported holds the desired value.
	InSync State = iota
	// Pending: reported differs, but the device has not reported (that leaf, or anything
	// when the leaf is absent) since the desired value was set.
	Pending
	// Different: the device reported after the desired value was set and still disagrees.
	Different
	// ReportedOnly: a reported leaf with no desired counterpart.
	ReportedOnly
)

// String returns "in sync", "pending", "different" or "reported only".
func (s State) String() string {
	switch s {
	case InSync:
		return "in sync"
	case Pending:
		return "pending"
	case Different:
		return "different"
	case ReportedOnly:
		return "reported only"
	}
	return "unknown"
}

// Leaf is one path of the desired-versus-reported diff. Path is dotted inside the
// section ("firmware.version"). Arrays and empty objects are leaves.
type Leaf struct {
	Path                    string
	Desired, Reported       any
	HasDesired, HasReported bool
	State                   State
	Since                   time.Time // the desired leaf's $lastUpdated (zero for ReportedOnly)
}

// Summary counts the leaves of Diff by state. OldestPending is the earliest Since of the
// pending leaves (zero when none is pending).
type Summary struct {
	InSync, Pending, Different, ReportedOnly int
	OldestPending                            time.Time
}

// differ holds what both Diff and Summarize need while walking the trees. Metadata is
// looked up only for leaves that need it (not in sync, or Diff), by path from the root.
type differ struct {
	doc          *Doc
	reportedRoot uint64 // $lastUpdated of the reported section (a stamp)
	sum          Summary
	oldest       uint64  // sum.OldestPending as a stamp
	covered      int     // reported leaves at or under a desired path
	leaves       *[]Leaf // nil for Summarize
	n            int     // depth of the walk: path[:n] are the keys above the current node
	path         [maxNesting + 1]string
}

// Diff compares every desired leaf with the reported value at the same path and lists
// the reported leaves that have no desired counterpart, sorted by path.
func Diff(d *Doc) []Leaf {
	var out []Leaf
	w := differ{leaves: &out}
	w.run(d)
	slices.SortFunc(out, func(a, b Leaf) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Summarize counts what Diff would return without building it. It walks the desired
// tree only (the reported leaves come from a count kept by Patch) and does not allocate.
func Summarize(d *Doc) Summary {
	var w differ
	if d == nil {
		return w.sum
	}
	w.start(d)
	w.desired(d.Desired.Values, d.Reported.Values)
	w.sum.ReportedOnly = d.Reported.leafCount() - w.covered
	return w.sum
}

func (w *differ) run(d *Doc) {
	if d == nil {
		return
	}
	w.start(d)
	w.desired(d.Desired.Values, d.Reported.Values)
	w.reportedOnly(d.Reported.Values, d.Desired.Values, false)
}

func (w *differ) start(d *Doc) {
	w.doc = d
	if d.Reported.Meta != nil {
		w.reportedRoot = d.Reported.Meta.updated
	}
}

// desired walks desired object dv alongside the reported value rv at the same path,
// also counting the reported leaves that desired covers (see reportedOnly).
func (w *differ) desired(dv map[string]any, rv any) {
	ro, _ := rv.(map[string]any)
	for k, v := range dv {
		r, ok := ro[k]
		if obj, isObj := v.(map[string]any); isObj && len(obj) > 0 && w.n < len(w.path) {
			if ok {
				if rm, isMap := r.(map[string]any); !isMap || len(rm) == 0 {
					w.covered++ // a reported leaf where desired has an object
				}
			}
			w.path[w.n] = k
			w.n++
			w.desired(obj, r)
			w.n--
			continue
		}
		if ok {
			w.covered += leafCount(r)
		}
		w.leaf(k, v, r, ok)
	}
}

// metaAt returns the metadata node at path[:n] + k under root, or nil.
func (w *differ) metaAt(root *Meta, k string) *Meta {
	m := root
	for i := 0; i < w.n && m != nil; i++ {
		m = m.Child(w.path[i])
	}
	return m.Child(k)
}

// leaf classifies one desired leaf.
func (w *differ) leaf(k string, v any, r any, hasR bool) {
	inSync := hasR && Equal(v, r)
	if inSync && w.leaves == nil {
		w.sum.InSync++
		return
	}
	var since uint64
	if dm := w.metaAt(w.doc.Desired.Meta, k); dm != nil {
		since = dm.updated
	}
	st := InSync
	if !inSync {
		reportedAt := w.reportedRoot
		if hasR {
			if rm := w.metaAt(w.doc.Reported.Meta, k); rm != nil {
				reportedAt = rm.updated
			}
		}
		st = Different
		if reportedAt < since {
			st = Pending
		}
	}
	switch st {
	case InSync:
		w.sum.InSync++
	case Pending:
		w.sum.Pending++
		if w.oldest == 0 || since < w.oldest {
			w.oldest = since
			w.sum.OldestPending = stampTime(since)
		}
	case Different:
		w.sum.Different++
	}
	if w.leaves != nil {
		*w.leaves = append(*w.leaves, Leaf{Path: w.join(k), Desired: v, Reported: r,
			HasDesired: true, HasReported: hasR, State: st, Since: stampTime(since)})
	}
}

// reportedOnly counts reported leaves under rv for which desired (dv, present when hasD)
// has nothing at the same path. A desired leaf (a value that is not a non-empty object)
// covers the whole reported subtree at its path.
func (w *differ) reportedOnly(rv map[string]any, dv any, hasD bool) {
	do, _ := dv.(map[string]any)
	if hasD && len(do) == 0 {
		return
	}
	for k, v := range rv {
		d, ok := do[k]
		if obj, isObj := v.(map[string]any); isObj && len(obj) > 0 && w.n < len(w.path) {
			w.path[w.n] = k
			w.n++
			w.reportedOnly(obj, d, ok)
			w.n--
			continue
		}
		if ok {
			continue
		}
		w.sum.ReportedOnly++
		if w.leaves != nil {
			*w.leaves = append(*w.leaves, Leaf{Path: w.join(k), Reported: v, HasReported: true, State: ReportedOnly})
		}
	}
}

func (w *differ) join(k string) string {
	if w.n == 0 {
		return k
	}
	return strings.Join(w.path[:w.n], ".") + "." + k
}

// Equal reports whether two JSON values are equal (objects by members, arrays element
// by element, numbers by value). It does not allocate.
func Equal(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			w, ok := bm[k]
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !Equal(a[i], bs[i]) {
				return false
			}
		}
		return true
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case float64:
		bf, ok := b.(float64)
		return ok && a == bf
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case nil:
		return b == nil
	}
	return false
}

// MakePatch returns the smallest merge patch that turns old into new: members of old
// missing from new become null, objects present in both are diffed recursively, other
// changed members are carried whole. Patch(MakePatch(old, new)) on old gives new. The
// patch shares values with new; copy it before changing new.
func MakePatch(old, new map[string]any) map[string]any {
	p := map[string]any{}
	for k, ov := range old {
		if nv, ok := new[k]; !ok || nv == nil {
			if ov != nil {
				p[k] = nil
			}
		}
	}
	for k, nv := range new {
		if nv == nil {
			continue
		}
		ov, had := old[k]
		om, oIsMap := ov.(map[string]any)
		nm, nIsMap := nv.(map[string]any)
		if had && oIsMap && nIsMap {
			if sub := MakePatch(om, nm); len(sub) > 0 {
				p[k] = sub
			}
			continue
		}
		if !had || !Equal(ov, nv) {
			p[k] = nv
		}
	}
	return p
}
