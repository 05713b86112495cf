package rollout

import (
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/theme"
	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// View renders the screen body.
func (m Model) View() string {
	st := m.c.Styles
	var lines []string
	switch m.phase {
	case phasePlan, phaseConfirm:
		lines = m.planView()
	default:
		lines = m.runView()
	}
	for i, l := range lines {
		lines[i] = common.TruncateLine(l, m.width)
	}
	_ = st
	return strings.Join(common.PadLines(lines, m.height), "\n")
}

func (m Model) planView() []string {
	st := m.c.Styles
	lines := []string{
		st.Title.S("rollout") + st.Muted.S("  on ") + st.Accent.S(m.label) + st.Muted.S(" ("+strconv.Itoa(len(m.ids))+" devices)"),
		"",
	}
	if m.resumed != "" {
		lines = append(lines, st.Warn.S(m.resumed))
		if m.resumedHeld != "" {
			lines = append(lines, st.Bad.S("⚠ "+m.resumedHeld))
		}
		lines = append(lines, st.Muted.S("devices that already have the value are skipped"), "")
	}
	if m.replaces != "" {
		lines = append(lines, st.Bad.S("⚠ starting this forgets the rollout the last console stopped:"),
			st.Bad.S("  "+m.replaces), st.Bad.S("  esc, then R resumes that one instead"), "")
	}
	lines = append(lines, m.lastLines()...)
	labels := [5]string{"desired path", "new value", "rate (devices/s)", "pause at failed", "first wave"}
	var review []string
	if m.phase == phaseConfirm {
		review = m.reviewLines()
		if len(lines)+len(m.fields)+2+len(review) > m.height {
			// A short terminal: the review says all the fields do, and its last line
			// (where the count is typed) must stay on screen.
			if m.err != "" {
				lines = append(lines, st.Bad.S("✗ "+m.err))
			}
			// The notes above it go before the review's own lines: first their blank
			// lines, then all but their first lines (the title and each note's warning).
			if len(lines)+len(review) > m.height {
				lines = slices.DeleteFunc(lines, func(l string) bool { return l == "" })
			}
			if len(lines)+len(review) > m.height {
				lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(ansi.Strip(l), "  ") })
			}
			// Then, as long as it does not fit: the esc hint, the blank line before the
			// prompt, the time the writes take; last, the lines just above the prompt.
			if len(lines)+len(review) > m.height {
				review = review[:len(review)-1] // esc back
			}
			if len(lines)+len(review) > m.height {
				review = slices.Delete(review, len(review)-2, len(review)-1) // the blank line
			}
			rate := 2 // the review's "at N/s the writes take" line
			if m.allDevices() {
				rate++
			}
			if len(lines)+len(review) > m.height && rate < len(review)-1 {
				review = slices.Delete(review, rate, rate+1)
			}
			lines = append(lines, review...)
			if over := len(lines) - m.height; over > 0 && len(lines)-1-over > 0 {
				prompt := lines[len(lines)-1]
				lines = append(lines[:len(lines)-1-over:len(lines)-1-over], prompt)
			}
			return lines
		}
	}
	for i, f := range m.fields {
		mark, field := "  ", f.View()
		if i == m.focus && m.phase == phasePlan {
			mark = st.Accent.S("▸ ")
			if m.fresh && f.Value() != "" { // selected: typing replaces it
				field = st.Selected.S(f.Value())
			}
		}
		lines = append(lines, mark+st.Muted.S(common.Fit(labels[i], 18))+field)
	}
	lines = append(lines, "")
	if m.err != "" {
		lines = append(lines, st.Bad.S("✗ "+m.err))
	}
	if m.phase == phaseConfirm {
		lines = append(lines, review...)
	} else {
		lines = append(lines, st.Faint.S("tab next field (typing replaces the selected value) · enter review · esc back"))
	}
	return lines
}

// reviewLines are the review step: what will be written, to how many devices (ALL of
// them said loudly), warnings about a value that looks mistyped, and the confirmation.
func (m Model) reviewLines() []string {
	st := m.c.Styles
	n := m.changing
	secs := float64(n) / m.rate
	waitNote := ""
	if m.wave > 0 && m.wave < m.changing {
		waitNote = ", plus the first wave's wait"
	}
	var lines []string
	if m.allDevices() {
		lines = append(lines, st.Bad.S("⚠ ALL "+strconv.Itoa(len(m.ids))+" devices: this rollout targets the whole fleet"))
	}
	lines = append(lines,
		st.Warn.S("set desired."+strings.Join(m.path, ".")+" = "+common.Value(m.value)),
		st.Bold.S(strconv.Itoa(n))+st.Muted.S(" of "+strconv.Itoa(len(m.ids))+" devices will change ("+strconv.Itoa(len(m.ids)-n)+" already have it)"),
		st.Muted.S("at "+strconv.FormatFloat(m.rate, 'f', -1, 64)+"/s the writes take about "+strconv.Itoa(int(secs+0.5))+"s"+waitNote))
	if w := valueWarning(m.value); w != "" {
		lines = append(lines, st.Bad.S("⚠ "+w))
	}
	for i, l := range m.unlike {
		if i == 0 {
			lines = append(lines, st.Bad.S("⚠ "+l))
		} else {
			lines = append(lines, st.Muted.S("  "+l))
		}
	}
	if w := m.waveReview(); w != "" {
		lines = append(lines, st.Muted.S(w))
	}
	switch {
	case m.limit.appliesTo(n):
		lines = append(lines, st.Muted.S("auto-pause at "+m.limit.String()))
	case m.limit.pct > 0:
		lines = append(lines, st.Warn.S("no auto-pause: a share applies from "+strconv.Itoa(minWrittenForShare+1)+" devices; set a count"))
	default:
		lines = append(lines, st.Warn.S("no auto-pause: writes go on whatever the devices report"))
	}
	return append(lines, "",
		st.Muted.S("type ")+st.Accent.S(strconv.Itoa(n))+st.Muted.S(" or ")+st.Accent.S("yes")+st.Muted.S(" then enter to start: ")+m.confirm.View(),
		st.Faint.S("esc back to the plan"))
}

// allDevices reports whether the rollout targets the whole fleet.
func (m Model) allDevices() bool {
	n := m.c.Store.Len()
	return m.label == "all devices" || (n > 0 && len(m.ids) >= n)
}

// valueWarning flags a string value that looks like a typo: text with spaces, quotes or
// '=' (a query or an assignment typed into the value field).
func valueWarning(v any) string {
	s, ok := v.(string)
	if !ok || !strings.ContainsAny(s, " \t\"'`=") {
		return ""
	}
	return strconv.Quote(s) + " has spaces, quotes or '=': a typo? (esc to fix)"
}

func (m Model) runView() []string {
	st := m.c.Styles
	phase := map[phase]string{phaseRunning: "writing", phasePaused: "PAUSED", phaseDone: "all writes sent", phaseAborted: "ABORTED: no further writes"}[m.phase]
	if m.phase == phasePaused && m.autoPaused != "" {
		phase = "AUTO-PAUSED"
	}
	if m.phase == phaseRunning && m.gated() {
		phase = "first wave: waiting for its outcome"
	}
	paint := st.OK
	if m.phase == phasePaused || m.phase == phaseAborted {
		paint = st.Warn
	}
	lines := []string{
		st.Title.S("rollout") + "  " + paint.S(phase) + st.Muted.S("  desired."+strings.Join(m.path, ".")+" = ") +
			st.Accent.S(common.Value(m.value)) + st.Muted.S("  on "+m.label),
	}
	barW := max(min(m.width-40, 60), 10)
	frac := 0.0
	if m.total > 0 {
		frac = float64(m.written) / float64(m.total)
	}
	lines = append(lines, st.Muted.S(common.Fit("writes", 12))+st.Accent.S(common.Bar(frac, barW))+" "+
		st.Text.S(strconv.Itoa(m.written)+"/"+strconv.Itoa(m.total))+st.Muted.S(" at "+strconv.FormatFloat(m.rate, 'f', -1, 64)+"/s"))
	if m.Active() && m.gated() {
		lines = append(lines, st.Warn.S(m.waveLine()))
		if m.waveStalled() {
			lines = append(lines, st.Bad.S("⚠ stalled: no outcome from some of the wave for over "+minutes(waveStall)+
				" (connected but not reporting, or their value changed by another writer)"))
		}
		if done, _ := m.waveOutcomes(); done < len(m.waveIDs) && m.autoPaused == "" { // an auto-pause says what to do
			lines = append(lines, st.Muted.S("  n writes the rest now · A aborts"))
		}
	}
	if n := len(m.writeErr); n > 0 {
		lines = append(lines, st.Bad.S(strconv.Itoa(n)+" writes refused by the hub"))
	}
	if m.autoPaused != "" && m.phase == phasePaused {
		lines = append(lines, st.Bad.S("⚠ auto-paused at "+m.autoPausedAt.Format("15:04:05")+": "+m.autoPaused))
		if m.autoDark != "" {
			lines = append(lines, st.Bad.S("  "+m.autoDark))
		}
		lines = append(lines, st.Muted.S("  p resumes · A aborts · f lists them"))
	}
	lines = append(lines, "", st.Header.S("DEVICES BY REPORTED STATUS"))
	p := m.prog
	for s := range numStates {
		c := p.counts[s]
		f := 0.0
		if len(m.ids) > 0 {
			f = float64(c) / float64(len(m.ids))
		}
		lines = append(lines, statePaint(st, s).S(common.Fit(stateNames[s], 12)+common.Bar(f, barW))+" "+st.Text.S(common.FitRight(strconv.Itoa(c), 6)))
	}
	lines = append(lines, "")
	_, dark := m.troubled()
	darkRoom := 0 // lines kept for the gone-dark list below the failed one
	if len(dark) > 0 {
		darkRoom = min(len(dark), 3) + 2
	}
	if len(p.failed) > 0 {
		lines = append(lines, st.Bad.S("FAILED ("+strconv.Itoa(len(p.failed))+")"))
		room := max(m.height-len(lines)-1-darkRoom, 1)
		for i, id := range p.failed {
			if i >= room {
				lines = append(lines, st.Muted.S("  … "+strconv.Itoa(len(p.failed)-i)+" more"))
				break
			}
			why := m.writeErr[id]
			if why == "" {
				why = common.FirmwareError(m.c.Store.Get(id))
			}
			lines = append(lines, "  "+st.Text.S(common.Fit(id, 24))+" "+st.Muted.S(why))
		}
	}
	if len(dark) > 0 {
		// Counted against the limit like the failed, so named like them.
		lines = append(lines, st.Bad.S("GONE DARK ("+strconv.Itoa(len(dark))+"): seen after the write, offline since"))
		room := max(m.height-len(lines)-4, 1)
		now := m.c.Now()
		for i, id := range dark {
			if i >= room {
				lines = append(lines, st.Muted.S("  … "+strconv.Itoa(len(dark)-i)+" more (f lists them)"))
				break
			}
			lines = append(lines, "  "+st.Text.S(common.Fit(id, 24))+" "+st.Muted.S("offline "+common.Age(now, m.offSince[id])))
		}
	}
	if room := m.height - len(lines) - 3; len(p.busy) > 0 && room > 2 {
		lines = append(lines, st.Header.S("IN PROGRESS ("+strconv.Itoa(len(p.busy))+")"))
		for i, id := range p.busy {
			if i >= room-1 && i < len(p.busy)-1 {
				lines = append(lines, st.Muted.S("  … "+strconv.Itoa(len(p.busy)-i)+" more"))
				break
			}
			lines = append(lines, "  "+m.busyLine(id))
		}
		lines = append(lines, "")
	}
	// Each hint fits 80 columns.
	if m.Active() {
		lines = append(lines, st.Faint.S("p pause/resume · A abort · f failed in the fleet · esc back (keeps going)"))
	} else {
		lines = append(lines, st.Faint.S("f failed in the fleet · esc back · R brings this back until the next rollout"))
	}
	return lines
}

func statePaint(st *theme.Styles, s int) theme.Paint {
	switch s {
	case stSucceeded:
		return st.OK
	case stFailed:
		return st.Bad
	case stRebooting, stInstalling, stDownloading, stWaiting:
		return st.Warn
	}
	return st.Muted
}

// busyLine shows one updating device: id, firmware status and progress.
func (m Model) busyLine(id string) string {
	st := m.c.Styles
	d := m.c.Store.Get(id)
	if d == nil {
		return st.Text.S(id)
	}
	fw, _ := twin.Lookup(d.Reported.Values, "firmware", "status")
	pct, _ := twin.Lookup(d.Reported.Values, "firmware", "progress")
	line := st.Text.S(common.Fit(id, 24)) + " " + st.Warn.S(common.Fit(common.Plain(fw), 12))
	if f, ok := pct.(float64); ok {
		line += " " + st.Accent.S(common.Bar(f/100, 20)) + st.Muted.S(" "+strconv.Itoa(int(f))+"%")
	}
	return line
}
