package fleet

import "slices"

// ViewState is what of the fleet view outlives the console, so that a console restarted
// (after a dropped SSH session, say) opens on the view the operator had: the query, the
// filter and the sort. The sort column is kept by its name, which outlives its place.
type ViewState struct {
	Query  string `json:"query,omitempty"`
	Filter string `json:"filter,omitempty"`
	Sort   string `json:"sort,omitempty"` // a column name, e.g. "CONN"; "" for DEVICE
	Desc   bool   `json:"desc,omitempty"`
}

// State returns the view to keep.
func (m Model) State() ViewState {
	v := ViewState{Query: m.queryStr, Filter: m.filter, Desc: m.sortDesc}
	if m.sortCol != colDevice {
		v.Sort = colNames[m.sortCol]
	}
	return v
}

// Restore opens the view kept by an earlier console. What no longer applies is dropped
// (a query this version cannot parse, a column it does not have): it reports whether
// anything was.
func (m *Model) Restore(v ViewState) (dropped bool) {
	switch i := slices.Index(colNames[:], v.Sort); {
	case v.Sort == "":
		m.sortCol, m.sortDesc = colDevice, v.Desc
	case i >= 0:
		m.sortCol, m.sortDesc = i, v.Desc
	default:
		dropped = true
	}
	if v.Filter != "" {
		m.filter = v.Filter
		m.words = splitWords(v.Filter)
	}
	if v.Query != "" && !m.runQuery(v.Query) {
		m.queryErr, m.queryCaret = "", ""
		dropped = true
	}
	m.rebuild(true)
	return dropped
}
