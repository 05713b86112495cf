package fleet

import (
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twin/query"
	"github.com/twinops/twinops/ui/common"
)

// loadAll builds every row from the store (used once, when the screen is created).
func (m *Model) loadAll() {
	st := m.c.Store
	st.Each(func(d *twin.Doc) {
		m.rows[d.DeviceID] = newRow(d, st.Summary(d.DeviceID), st.IsFailed(d.DeviceID), nil, nil)
	})
	m.rebuild(true)
}

// apply folds a store change into the rows. Rows are re-filtered and re-sorted only
// when that can change the view, so a batch of updates to visible devices costs only
// their own rows.
func (m *Model) apply(msg common.FleetChangedMsg) {
	st := m.c.Store
	needRebuild, needSort := false, false
	var added []*row // new rows in the view, merged into it unless it is rebuilt anyway
	if n := max(len(msg.Changed), st.Status.Expected); len(m.rows) == 0 && n > 1024 {
		m.rows = make(map[string]*row, n)
		m.view = make([]*row, 0, n)
	}
	for id, deleted := range msg.Changed {
		if deleted {
			delete(m.rows, id)
			delete(m.marks, id)
			needRebuild = true
		}
	}
	// Build the new rows on every core (reads only), then fold them in.
	fresh := make([]*row, len(msg.Fresh))
	prevs := make([]*row, len(msg.Fresh))
	common.Parallel(len(msg.Fresh), func(lo, hi int) {
		tags := tagCache{}
		for i := lo; i < hi; i++ {
			t := msg.Fresh[i]
			prevs[i] = m.rows[t.ID]
			fresh[i] = newRow(t.Doc, t.Sum, t.Failed, prevs[i], tags)
		}
	})
	for i, t := range msg.Fresh {
		r, old, id := fresh[i], prevs[i], t.ID
		if m.q != nil {
			r.qmatch = m.q.Match(t.Doc)
		}
		if old != nil && m.top != nil && old.qmatch != r.qmatch {
			needRebuild = true // another device may enter or leave the TOP n
		}
		if old == nil {
			m.rows[id] = r
			if m.top != nil {
				needRebuild = true // it may push another device out of the TOP n
			} else if r.inView = m.visible(r); r.inView {
				added = append(added, r)
			}
			continue
		}
		// Update in place: the view holds the same pointer.
		r.inView = old.inView
		if compareRows(old, r, m.sortCol) != 0 {
			needSort = true
		}
		*old = *r
		if old.inView != m.visible(old) {
			needRebuild = true
		}
	}
	if m.q != nil && m.q.Aggregate() && len(msg.Changed) > 0 {
		m.agg = m.runAggregate(msg.Changed)
	}
	switch {
	case needRebuild:
		m.rebuild(false)
	case needSort && m.sortCol != colDevice:
		m.merge(added)
		m.sortSoon()
	default:
		m.merge(added)
	}
}

// merge puts new rows into the sorted view in their places: they are sorted among
// themselves and merged in one pass from the end, so a batch of k new devices costs
// k log k plus one move of the view instead of sorting the whole view again (the first
// listing arrives as one batch per frame). The cursor stays on its device, except that
// until the operator has moved it, a cursor at the top stays at the top: the fleet's
// pages may arrive out of order, and the first frame must show the start of the list,
// not the device that happened to come first.
func (m *Model) merge(added []*row) {
	if len(added) == 0 {
		return
	}
	top := !m.moved && m.cursor == 0
	sortRows(added, m.sortCol, m.sortDesc)
	n := len(m.view)
	m.view = slices.Grow(m.view, len(added))[:n+len(added)]
	i, j := n-1, len(added)-1
	for k := len(m.view) - 1; j >= 0; k-- {
		if i >= 0 && m.compare(m.view[i], added[j]) > 0 {
			m.view[k], i = m.view[i], i-1
		} else {
			m.view[k], j = added[j], j-1
		}
	}
	if top {
		m.offset, m.selID = 0, m.view[0].id
		return
	}
	m.follow()
}

// compare orders two rows as the view is sorted.
func (m *Model) compare(a, b *row) int {
	if m.sortDesc {
		return -compareRows(a, b, m.sortCol)
	}
	return compareRows(a, b, m.sortCol)
}

func (m *Model) visible(r *row) bool {
	if m.idSet != nil && !m.idSet[r.id] {
		return false
	}
	if m.q != nil && !r.qmatch {
		return false
	}
	if m.top != nil && !m.top[r.id] {
		return false
	}
	return len(m.words) == 0 || matchFilter(r, m.words)
}

func (m *Model) matchQuery(id string) bool {
	d := m.c.Store.Get(id)
	return d != nil && m.q.Match(d)
}

// rebuild recomputes the view from all rows; top moves the cursor to the first row
// (a new filter or query), otherwise the cursor stays on the same device.
func (m *Model) rebuild(top bool) {
	m.top = m.topSet()
	if len(m.words) > 0 {
		m.makeSearchTexts()
	}
	view := m.view[:0]
	for _, r := range m.rows {
		r.inView = m.visible(r)
		if r.inView {
			view = append(view, r)
		}
	}
	m.view = view
	sortRows(m.view, m.sortCol, m.sortDesc)
	if top {
		m.cursor, m.offset = 0, 0
		m.selID = ""
		if len(m.view) > 0 {
			m.selID = m.view[0].id
		}
		return
	}
	m.follow()
}

// makeSearchTexts makes the search text of every row that has none yet, on every core,
// before a filter reads them all.
func (m *Model) makeSearchTexts() {
	var missing []*row
	for _, r := range m.rows {
		if r.search == "" {
			missing = append(missing, r)
		}
	}
	common.Parallel(len(missing), func(lo, hi int) {
		for _, r := range missing[lo:hi] {
			r.searchText()
		}
	})
}

// topSet returns the devices a non-aggregate SELECT TOP n shows: the first n matches
// (of the rollout's set, if one is shown) in device id order, as the hub answers it.
// It is nil when the query has no TOP.
func (m *Model) topSet() map[string]bool {
	if m.q == nil || m.q.Aggregate() || m.q.Top() < 0 {
		return nil
	}
	var ids []string
	for _, r := range m.rows {
		if r.qmatch && (m.idSet == nil || m.idSet[r.id]) {
			ids = append(ids, r.id)
		}
	}
	sort.Strings(ids)
	set := make(map[string]bool, min(len(ids), m.q.Top()))
	for _, id := range ids[:min(len(ids), m.q.Top())] {
		set[id] = true
	}
	return set
}

// follow puts the cursor back after live changes changed the view: on the first row if
// it was there (at the top of a sorted list the operator watches what sorts first:
// offline devices, the oldest pending; following the device down pushed the devices that
// newly sort first above the screen), otherwise on its device (followDevice).
func (m *Model) follow() {
	if m.cursor == 0 && m.offset == 0 && len(m.view) > 0 {
		m.selID = m.view[0].id
		return
	}
	m.followDevice()
}

// followDevice puts the cursor back on the selected device after the view changed,
// keeping it at the same place on screen.
func (m *Model) followDevice() {
	screenPos := m.cursor - m.offset
	idx := -1
	if m.selID != "" {
		if m.cursor < len(m.view) && m.view[m.cursor].id == m.selID {
			idx = m.cursor
		} else {
			for i, r := range m.view {
				if r.id == m.selID {
					idx = i
					break
				}
			}
		}
	}
	if idx < 0 {
		idx = min(m.cursor, len(m.view)-1)
	}
	m.cursor = max(idx, 0)
	m.offset = m.cursor - screenPos
	m.clampOffset()
	m.selID = ""
	if m.cursor < len(m.view) {
		m.selID = m.view[m.cursor].id
	}
}

func (m *Model) move(n int) {
	if len(m.view) == 0 {
		return
	}
	m.moved = true
	m.cursor = max(0, min(len(m.view)-1, m.cursor+n))
	m.selID = m.view[m.cursor].id
	m.clampOffset()
}

func (m *Model) pageRows() int { return max(1, m.tableRows()-1) }

// tableRows is how many device rows fit on the screen.
func (m *Model) tableRows() int {
	h := m.height - 3 // counts, view line, header
	if m.mode != inputNone {
		h--
	}
	return max(h, 1)
}

func (m *Model) clampOffset() {
	rows := m.tableRows()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+rows {
		m.offset = m.cursor - rows + 1
	}
	m.offset = max(0, min(m.offset, len(m.view)-rows))
	m.offset = max(m.offset, 0)
}

// runAggregate runs the aggregate query m.q over the fleet and returns its rows as JSON
// lines. It reads m.qt, a column index of the fleet (twin/query.Table) made for the
// query and then kept in step with the store by the ids each batch changed, so that a
// live aggregate over a large fleet costs a few milliseconds a batch instead of a walk
// of every twin.
func (m *Model) runAggregate(changed map[string]bool) []string {
	st := m.c.Store
	if m.qt == nil {
		m.qt = query.NewTable(0)
		st.Each(func(d *twin.Doc) { m.qt.Put(d) })
	}
	for id := range changed { // the store's twins are replaced, never changed in place
		if d := st.Get(id); d != nil {
			m.qt.Put(d)
		} else {
			m.qt.Delete(id)
		}
	}
	res, err := m.qt.Run(m.q)
	if err != nil {
		return []string{"query failed: " + err.Error()}
	}
	out := make([]string, 0, len(res.Rows))
	for _, r := range res.Rows {
		b, err := json.Marshal(r)
		if err != nil {
			continue
		}
		out = append(out, string(b))
	}
	if len(out) == 0 {
		out = append(out, "(no rows)")
	}
	return out
}

// resortEvery bounds how often live changes re-sort a large view: a fleet whose every
// device reports each second would otherwise re-sort on every frame.
const resortEvery = 250 * time.Millisecond

// sortSoon re-sorts the view now, or marks it to be re-sorted at the next batch or tick
// when it was sorted less than resortEvery ago and is large.
func (m *Model) sortSoon() {
	if len(m.view) > 5000 && time.Since(m.sortedAt) < resortEvery {
		m.sortPending = true
		return
	}
	sortRows(m.view, m.sortCol, m.sortDesc)
	m.sortedAt, m.sortPending = time.Now(), false
	m.follow()
}
