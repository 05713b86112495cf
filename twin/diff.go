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

// differ holds what both Diff and Summarize need while walking the trees.
type differ struct {
	reportedRoot time.Time // $lastUpdated of the reported section
	sum          Summary
	leaves       *[]Leaf // nil for Summarize
	path         []string
}

// Diff compares every desired leaf with the reported value at the same path and lists
// the reported leaves that have no desired counterpart, sorted by path.
func Diff(d *Doc) []Leaf {
	var out []Leaf
	w := differ{leaves: &out, path: make([]string, 0, MaxDepth)}
	w.run(d)
	slices.SortFunc(out, func(a, b Leaf) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Summarize counts what Diff would return without building it; it does not allocate.
func Summarize(d *Doc) Summary {
	w := differ{}
	w.run(d)
	return w.sum
}

func (w *differ) run(d *Doc) {
	if d == nil {
		return
	}
	if d.Reported.Meta != nil {
		w.reportedRoot = d.Reported.Meta.LastUpdated
	}
	w.desired(d.Desired.Values, d.Desired.Meta, d.Reported.Values, d.Reported.Meta, true)
	w.reportedOnly(d.Reported.Values, d.Desired.Values, true)
}

// desired walks desired object dv (metadata dm) alongside the reported value rv at the
// same path (rm its metadata, nil when absent or not an object).
func (w *differ) desired(dv map[string]any, dm *Meta, rv any, rm *Meta, hasR bool) {
	ro, _ := rv.(map[string]any)
	for k, v := range dv {
		var cdm, crm *Meta
		if dm != nil {
			cdm = dm.Children[k]
		}
		if rm != nil {
			crm = rm.Children[k]
		}
		r, ok := ro[k]
		if obj, isObj := v.(map[string]any); isObj && len(obj) > 0 {
			w.push(k)
			w.desired(obj, cdm, r, crm, ok)
			w.pop()
			continue
		}
		w.leaf(k, v, cdm, r, ok, crm)
	}
}

// leaf classifies one desired leaf.
func (w *differ) leaf(k string, v any, dm *Meta, r any, hasR bool, rm *Meta) {
	var since time.Time
	if dm != nil {
		since = dm.LastUpdated
	}
	st := InSync
	if !hasR || !Equal(v, r) {
		reportedAt := w.reportedRoot
		if hasR && rm != nil {
			reportedAt = rm.LastUpdated
		}
		st = Different
		if reportedAt.Before(since) {
			st = Pending
		}
	}
	switch st {
	case InSync:
		w.sum.InSync++
	case Pending:
		w.sum.Pending++
		if w.sum.OldestPending.IsZero() || since.Before(w.sum.OldestPending) {
			w.sum.OldestPending = since
		}
	case Different:
		w.sum.Different++
	}
	if w.leaves != nil {
		*w.leaves = append(*w.leaves, Leaf{Path: w.join(k), Desired: v, Reported: r,
			HasDesired: true, HasReported: hasR, State: st, Since: since})
	}
}

// reportedOnly counts reported leaves under rv for which desired (dv, present when hasD)
// has nothing at the same path.
func (w *differ) reportedOnly(rv map[string]any, dv any, hasD bool) {
	do, dIsObj := dv.(map[string]any)
	if hasD && !dIsObj {
		return // a desired leaf covers this whole subtree
	}
	for k, v := range rv {
		d, ok := do[k]
		if obj, isObj := v.(map[string]any); isObj && len(obj) > 0 {
			w.push(k)
			w.reportedOnly(obj, d, ok)
			w.pop()
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

func (w *differ) push(k string) {
	if w.leaves != nil {
		w.path = append(w.path, k)
	}
}

func (w *differ) pop() {
	if w.leaves != nil {
		w.path = w.path[:len(w.path)-1]
	}
}

func (w *differ) join(k string) string {
	if len(w.path) == 0 {
		return k
	}
	return strings.Join(w.path, ".") + "." + k
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
