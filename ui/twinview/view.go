package twinview

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twinops/twinops/theme"
	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// View renders the screen body.
func (m Model) View() string {
	st, now := m.c.Styles, m.c.Now()
	if m.doc == nil {
		lines := []string{st.Title.S(m.id), "", "  " + st.Muted.S("this device is not in the fleet (deleted, or not loaded yet)")}
		return strings.Join(common.PadLines(lines, m.height), "\n")
	}
	head := renderIdentity(st, m.doc, m.leaves, now, m.width)
	if m.err != "" {
		head = append(head, st.Bad.S("hub: "+m.err))
	}
	hist := m.c.Store.History(m.id)
	hot := hotPaths(hist, now)
	bodyH := max(m.height-len(head), 1)
	var body []string
	if m.width >= 140 {
		leftW := m.width * 58 / 100
		left := renderLeaves(st, m.doc, m.leaves, hot, now, leftW-1)
		right := renderHistory(st, hist, m.width-leftW-2, bodyH)
		left = scrollLines(left, m.scroll, bodyH)
		right = common.PadLines(right, bodyH)
		for i := range bodyH {
			body = append(body, padStyled(left[i], leftW)+st.Faint.S("│ ")+right[i])
		}
	} else {
		all := renderLeaves(st, m.doc, m.leaves, hot, now, m.width)
		all = append(all, "")
		all = append(all, renderHistory(st, hist, m.width, 1<<20)...)
		body = scrollLines(all, m.scroll, bodyH)
	}
	return strings.Join(common.PadLines(append(head, body...), m.height), "\n")
}

func padStyled(s string, w int) string {
	s = common.TruncateLine(s, w)
	if n := common.Width(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

func scrollLines(lines []string, scroll, h int) []string {
	scroll = min(scroll, max(len(lines)-h, 0))
	return common.PadLines(lines[scroll:], h)
}

// renderIdentity renders the identity lines: id, connection, status, versions, tags.
func renderIdentity(st *theme.Styles, d *twin.Doc, leaves []twin.Leaf, now time.Time, width int) []string {
	conn := st.Faint.S("○ " + d.ConnectionState)
	if d.ConnectionState == "Connected" {
		conn = st.OK.S("● Connected")
	}
	status := st.Muted.S(d.Status)
	if d.Status == "disabled" {
		status = st.Bad.S("disabled")
		if d.StatusReason != "" {
			status += st.Bad.S(" (" + d.StatusReason + ")")
		}
	}
	l1 := st.Title.S(d.DeviceID) + "  " + conn + "  " + status + st.Muted.S("  last activity "+common.Ago(now, d.LastActivityTime))
	l2 := st.Muted.S("twin v"+strconv.FormatInt(d.Version, 10)+" · desired $version "+strconv.FormatInt(d.Desired.Version, 10)+
		" · reported $version "+strconv.FormatInt(d.Reported.Version, 10)) + st.Faint.S(" · etag "+d.Etag+" · auth "+d.AuthenticationType)
	tags := tagLine(d.Tags)
	if tags == "" {
		tags = "(none)"
	}
	l3 := st.Muted.S("tags ") + st.Info.S(tags)
	sum := twin.Summarize(d)
	failed := common.Failed(d, sum)
	fwFailed := 0 // pending firmware leaves of a device whose update failed: failed, as their rows say
	oldest := sum.OldestPending
	if failed {
		oldest = time.Time{} // of the pending leaves that are not counted as failed
		for _, l := range leaves {
			switch {
			case l.State != twin.Pending:
			case strings.HasPrefix(l.Path, "firmware."):
				fwFailed++
			case oldest.IsZero() || l.Since.Before(oldest):
				oldest = l.Since
			}
		}
	}
	l4 := st.OK.S("✓ "+strconv.Itoa(sum.InSync)+" in sync") + "  " +
		st.Warn.S("… "+strconv.Itoa(sum.Pending-fwFailed)+" pending")
	if !oldest.IsZero() && sum.Pending > fwFailed {
		l4 += st.Warn.S(" (oldest " + common.Age(now, oldest) + ")")
	}
	if fwFailed > 0 {
		l4 += "  " + st.Bad.S("✗ "+strconv.Itoa(fwFailed)+" failed")
	}
	l4 += "  " + st.Bad.S("✗ "+strconv.Itoa(sum.Different)+" different") + "  " +
		st.Muted.S("· "+strconv.Itoa(sum.ReportedOnly)+" reported only")
	out := []string{l1, l2, l3, l4}
	if failed { // as the fleet list says it, with the device's reason in full
		fail := "✗ firmware update failed"
		if e := common.FirmwareError(d); e != "" {
			fail += ": " + e
		}
		out = append(out, st.Bad.S(fail))
	}
	if width >= 120 {
		more := "status " + d.Status
		if !d.StatusUpdateTime.IsZero() {
			more += " since " + common.Ago(now, d.StatusUpdateTime)
		}
		more += " · cloud-to-device messages " + strconv.Itoa(d.CloudToDeviceMessageCount)
		if d.DeviceEtag != "" {
			more += " · device etag " + d.DeviceEtag
		}
		if d.X509Thumbprint.PrimaryThumbprint != "" {
			more += " · x509 " + d.X509Thumbprint.PrimaryThumbprint
		}
		out = append(out[:2], append([]string{st.Faint.S(more)}, out[2:]...)...)
	}
	for i, l := range out {
		out[i] = common.TruncateLine(l, width)
	}
	return out
}

func tagLine(tags map[string]any) string {
	var parts []string
	walk(tags, "", func(p string, v any) { parts = append(parts, p+"="+common.Plain(v)) })
	return strings.Join(parts, " ")
}

func walk(m map[string]any, prefix string, fn func(string, any)) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if sub, ok := m[k].(map[string]any); ok && len(sub) > 0 {
			walk(sub, p, fn)
			continue
		}
		fn(p, m[k])
	}
}

// hotPaths are the section-qualified paths changed within highlightFor.
func hotPaths(hist []common.HistoryEntry, now time.Time) map[string]bool {
	hot := map[string]bool{}
	for i := len(hist) - 1; i >= 0; i-- {
		if now.Sub(hist[i].Time) > highlightFor {
			break
		}
		for _, l := range hist[i].Lines {
			hot[l.Path] = true
		}
	}
	return hot
}

// renderLeaves renders the aligned desired/reported table.
func renderLeaves(st *theme.Styles, d *twin.Doc, leaves []twin.Leaf, hot map[string]bool, now time.Time, width int) []string {
	stateW := 17
	valW := max((width-stateW-3)*3/10, 6)
	pathW := max(width-stateW-2*valW-3, 8)
	out := []string{st.Header.S(common.Fit("PATH", pathW) + " " + common.Fit("DESIRED", valW) + " " +
		common.Fit("REPORTED", valW) + " " + common.Fit("STATE", stateW))}
	if len(leaves) == 0 {
		out = append(out, st.Muted.S("no desired or reported properties yet"))
	}
	failed := common.Failed(d, twin.Summary{})
	for _, l := range leaves {
		des, rep := "", ""
		if l.HasDesired {
			des = common.Value(l.Desired)
		}
		if l.HasReported {
			rep = common.Value(l.Reported)
		}
		text, paint := stateCell(st, d, l, failed, now)
		path := common.Fit(l.Path, pathW)
		if hot["desired."+l.Path] || hot["reported."+l.Path] {
			path = st.Highlight.S(path)
		} else {
			path = st.Text.S(path)
		}
		out = append(out, path+" "+st.Text.S(common.Fit(des, valW))+" "+paint.S(common.Fit(rep, valW))+" "+paint.S(common.Fit(text, stateW)))
	}
	return out
}

// stateCell is a leaf's state; a firmware leaf still pending on a device that reports
// its update failed is failed, as the fleet list says, not pending.
func stateCell(st *theme.Styles, d *twin.Doc, l twin.Leaf, failed bool, now time.Time) (string, theme.Paint) {
	repAge := common.Age(now, common.MetaAt(d.Reported.Meta, strings.Split(l.Path, ".")...))
	switch l.State {
	case twin.Pending:
		if failed && strings.HasPrefix(l.Path, "firmware.") {
			return "✗ failed " + common.Age(now, l.Since), st.Bad
		}
		return "… pending " + common.Age(now, l.Since), st.Warn
	case twin.Different:
		return "✗ different " + common.Age(now, l.Since), st.Bad
	case twin.ReportedOnly:
		return "· reported " + repAge, st.Muted
	}
	return "✓ in sync " + repAge, st.OK
}

// renderHistory renders the recent changes, newest first, as diffs.
func renderHistory(st *theme.Styles, hist []common.HistoryEntry, width, maxLines int) []string {
	out := []string{st.Header.S("RECENT CHANGES")}
	if len(hist) == 0 {
		out = append(out, st.Muted.S("none since the console started"))
	}
	for i := len(hist) - 1; i >= 0 && len(out) < maxLines; i-- {
		e := hist[i]
		head := st.Muted.S(e.Time.Format("15:04:05")+" ") + common.KindPaint(st, e.Kind).S(e.Kind)
		if e.Version > 0 {
			head += st.Faint.S(" v" + strconv.FormatInt(e.Version, 10))
		}
		if e.Op == common.OpReplace {
			head += st.Warn.S(" replaced")
		}
		out = append(out, head)
		if len(e.Lines) == 0 && (e.Kind == "reported" || e.Kind == "desired" || e.Kind == "tags") && len(out) < maxLines {
			out = append(out, "  "+st.Muted.S("(no value changed)")) // a patch that set what was already there
		}
		for _, l := range e.Lines {
			if len(out) >= maxLines {
				break
			}
			path := strings.SplitN(l.Path, ".", 2)
			p := l.Path
			if len(path) == 2 {
				p = path[1]
			}
			line := "  " + st.Text.S(p) + " "
			switch {
			case l.Deleted:
				line += st.Removed.S("- " + common.Value(l.Old))
			case !l.HadOld:
				line += st.Added.S("+ " + common.Value(l.New))
			default:
				line += st.Removed.S(common.Value(l.Old)) + st.Muted.S(" → ") + st.Added.S(common.Value(l.New))
			}
			out = append(out, common.TruncateLine(line, width))
		}
	}
	return out
}
