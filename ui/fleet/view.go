package fleet

import (
	"strconv"
	"strings"
	"time"

	"github.com/twinops/twinops/theme"
	"github.com/twinops/twinops/ui/common"
)

type colSpec struct{ col, w int }

var fixedWidth = [numCols]int{colConn: 5, colStatus: 8, colSync: 11, colFirmware: 13, colFwStatus: 15, colLast: 4}

// layout chooses the columns and their widths for a terminal width.
func layout(width int) []colSpec {
	cols := []int{colDevice, colConn}
	fixedSync := fixedWidth[colSync]
	if width >= 110 {
		cols = append(cols, colStatus)
	}
	if width >= 140 {
		fixedSync = 16
	}
	cols = append(cols, colSync, colFirmware)
	if width >= 120 {
		cols = append(cols, colFwStatus)
	}
	cols = append(cols, colLast, colTags)
	widthOf := func(c int) int {
		if c == colSync {
			return fixedSync
		}
		return fixedWidth[c]
	}
	used := 2 // mark column
	for _, c := range cols {
		used += widthOf(c) + 1
	}
	rest := max(width-used, 0)
	idW := min(max(rest/2, 12), 28)
	if width >= 140 {
		idW = 28
	}
	out := make([]colSpec, 0, len(cols))
	for _, c := range cols {
		w := widthOf(c)
		switch c {
		case colDevice:
			w = idW
		case colTags:
			w = max(width-used-idW, 0)
		}
		out = append(out, colSpec{c, w})
	}
	return out
}

// tableView is what renderTable needs: plain values, no model.
type tableView struct {
	rows   []*row // the visible window only
	cursor int    // index into rows, -1 for none
	marks  map[string]bool
	now    time.Time
}

// renderHeader renders the column header line.
func renderHeader(st *theme.Styles, cols []colSpec, sortCol int, desc bool) string {
	var b strings.Builder
	b.WriteString("  ")
	for i, c := range cols {
		name := colNames[c.col]
		if c.col == sortCol {
			if desc {
				name += "▼"
			} else {
				name += "▲"
			}
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(common.Fit(name, c.w))
	}
	return st.Header.S(b.String())
}

// renderRows renders the visible rows, one line each.
func renderRows(st *theme.Styles, cols []colSpec, tv tableView) []string {
	out := make([]string, 0, len(tv.rows))
	var b strings.Builder
	for i, r := range tv.rows {
		b.Reset()
		sel := i == tv.cursor
		mark := "  "
		if tv.marks[r.id] {
			mark = "+ "
		}
		if sel {
			b.WriteString(st.Selected.S(mark + plainRow(r, cols, tv.now)))
			out = append(out, b.String())
			continue
		}
		if mark != "  " {
			mark = st.Marked.S(mark)
		}
		b.WriteString(mark)
		for j, c := range cols {
			if j > 0 {
				b.WriteByte(' ')
			}
			text := common.Fit(cellText(r, c, tv.now), c.w)
			paint := cellPaint(st, r, c.col)
			if c.col == colLast && tv.now.Sub(r.last) < 2*time.Second {
				paint = st.Highlight // it just moved
			}
			b.WriteString(paint.S(text))
		}
		out = append(out, b.String())
	}
	return out
}

func plainRow(r *row, cols []colSpec, now time.Time) string {
	var b strings.Builder
	for j, c := range cols {
		if j > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(common.Fit(cellText(r, c, now), c.w))
	}
	return b.String()
}

func cellText(r *row, c colSpec, now time.Time) string {
	switch c.col {
	case colDevice:
		return r.id
	case colConn:
		switch {
		case r.disabled:
			return "⊘ dis"
		case r.connected:
			return "● on"
		}
		return "○ off"
	case colStatus:
		if r.disabled {
			return "disabled"
		}
		return "enabled"
	case colSync:
		return r.syncText(now, c.w > 11)
	case colFirmware:
		return r.fwText()
	case colFwStatus:
		if r.fwProgress != "" && r.fwStatus != "succeeded" && r.fwStatus != "failed" {
			return r.fwStatus + " " + r.fwProgress + "%"
		}
		return r.fwStatus
	case colLast:
		return common.Age(now, r.last)
	case colTags:
		if c.w < 40 {
			return r.tagVals
		}
		return r.tags
	}
	return ""
}

func cellPaint(st *theme.Styles, r *row, col int) theme.Paint {
	switch col {
	case colConn:
		switch {
		case r.disabled:
			return st.Bad
		case r.connected:
			return st.OK
		}
		return st.Faint
	case colStatus:
		if r.disabled {
			return st.Bad
		}
		return st.Muted
	case colSync:
		return syncPaint(st, r.sync)
	case colFirmware:
		if r.fwDes != "" && r.fwDes != r.fwRep {
			return st.Info
		}
		return st.Text
	case colFwStatus:
		return fwStatusPaint(st, r.fwStatus)
	case colLast, colTags:
		return st.Muted
	}
	return st.Text
}

func syncPaint(st *theme.Styles, s int) theme.Paint {
	switch s {
	case syncPending:
		return st.Warn
	case syncDifferent, syncFailed:
		return st.Bad
	}
	return st.OK
}

func fwStatusPaint(st *theme.Styles, s string) theme.Paint {
	switch s {
	case "succeeded", "current", "":
		return st.OK
	case "failed", "error":
		return st.Bad
	}
	return st.Warn
}

// renderCounts renders the fleet totals line. While the first listing is still arriving
// (not synced, some devices in) the count itself says so, "loading 37000 of 100000
// devices", first on the line where no width cuts it off: every other count is of the
// devices loaded so far.
func renderCounts(st *theme.Styles, c common.Counts, s common.Status, synced bool, width int) string {
	total := st.Bold.S(strconv.Itoa(c.Total)) + st.Muted.S(" devices")
	loading := !synced && c.Total > 0
	if loading {
		total = st.Warn.S("loading ") + st.Bold.S(strconv.Itoa(c.Total))
		if s.Expected > 0 {
			total += st.Muted.S(" of ") + st.Bold.S(strconv.Itoa(max(s.Expected, c.Total)))
		}
		total += st.Muted.S(" devices…")
	}
	parts := []string{
		total,
		st.OK.S("● "+strconv.Itoa(c.Connected)) + st.Muted.S("/"+strconv.Itoa(c.Total)+" connected"),
		st.Warn.S("… "+strconv.Itoa(c.Pending)) + st.Muted.S(" pending"),
	}
	if c.Different > 0 { // reported after a desired change and still disagrees
		parts = append(parts, st.Bad.S("≠ "+strconv.Itoa(c.Different))+st.Muted.S(" different"))
	}
	parts = append(parts, st.Bad.S("✗ "+strconv.Itoa(c.Failed))+st.Muted.S(" fw failed"))
	if c.Disabled > 0 {
		parts = append(parts, st.Bad.S("⊘ "+strconv.Itoa(c.Disabled))+st.Muted.S(" disabled"))
	}
	switch state := s.State; {
	case state == common.StateReconnecting && loading:
		parts = append(parts, st.Bad.S("⚠ hub connection lost while loading"))
	case state == common.StateReconnecting:
		parts = append(parts, st.Bad.S("⚠ hub connection lost: last known state"))
	case state == common.StateSyncing && synced:
		parts = append(parts, st.Warn.S("resynchronising…"))
	case !synced && !loading:
		parts = append(parts, st.Warn.S("loading…"))
	}
	line := strings.Join(parts, "  ")
	if common.Width(line) > width {
		line = narrowCounts(st, c, total, s, synced, loading)
	}
	return common.TruncateLine(line, width)
}

// narrowCounts is the counts line for a terminal too narrow for the full one: what an
// operator must see first comes first (the hub's state when it is not in sync, the
// failed, then the rest), in short words, so that a cut takes the least important.
func narrowCounts(st *theme.Styles, c common.Counts, total string, s common.Status, synced, loading bool) string {
	parts := []string{total}
	switch {
	case s.State == common.StateReconnecting:
		parts = append(parts, st.Bad.S("⚠ hub lost"))
	case s.State == common.StateSyncing && synced:
		parts = append(parts, st.Warn.S("resyncing…"))
	case !synced && !loading:
		parts = append(parts, st.Warn.S("loading…"))
	}
	parts = append(parts,
		st.OK.S("● "+strconv.Itoa(c.Connected))+st.Muted.S("/"+strconv.Itoa(c.Total)+" up"),
		st.Bad.S("✗ "+strconv.Itoa(c.Failed))+st.Muted.S(" failed"),
		st.Warn.S("… "+strconv.Itoa(c.Pending))+st.Muted.S(" pending"))
	if c.Different > 0 {
		parts = append(parts, st.Bad.S("≠ "+strconv.Itoa(c.Different))+st.Muted.S(" diff"))
	}
	if c.Disabled > 0 {
		parts = append(parts, st.Bad.S("⊘ "+strconv.Itoa(c.Disabled))+st.Muted.S(" disabled"))
	}
	return strings.Join(parts, " ")
}
