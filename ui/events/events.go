// Package events is the live event stream: reported and desired changes, tag changes and
// connects/disconnects for the whole fleet or one device, newest first, pausable and
// filterable, with a sparkline of the event rate.
package events

import (
	"github.com/twinops/twinops/theme"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/ui/common"
)

// Keys are the stream's own bindings.
type Keys struct{ Pause, Fleet key.Binding }

// Model is the event stream screen.
type Model struct {
	c      *common.Common
	keys   Keys
	device string         // "" = the whole fleet
	paused []common.Event // snapshot while paused, newest first; nil when live
	filter string
	input  textinput.Model
	typing bool
	scroll int
	width  int
	height int
}

// New returns the stream screen.
func New(c *common.Common) Model {
	in := textinput.New()
	in.Prompt = ""
	return Model{c: c, input: in, keys: Keys{
		Pause: key.NewBinding(key.WithKeys("p", "space"), key.WithHelp("p/space", "pause/resume")),
		Fleet: key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "whole fleet")),
	}}
}

// SetDevice limits the stream to one device ("" for the fleet).
func (m *Model) SetDevice(id string) {
	m.device, m.scroll = id, 0
	if m.paused != nil {
		m.paused = m.snapshot()
	}
}

// SetSize sets the screen's body size.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// Capturing reports whether the filter prompt is open.
func (m Model) Capturing() bool { return m.typing }

// Help lists the screen's keys.
func (m Model) Help() []key.Binding {
	k := m.c.Keys
	open := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "paused: open the top event's device"))
	return []key.Binding{m.keys.Pause, k.Filter, m.keys.Fleet, open}
}

// Update handles a message.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if m.typing {
			switch msg.String() {
			case "esc":
				m.typing, m.filter = false, ""
				m.input.Blur()
				return m, nil
			case "enter":
				m.typing = false
				m.input.Blur()
				return m, nil
			}
			var cmd tea.Cmd
			m.input, cmd = m.input.Update(msg)
			m.filter = strings.ToLower(m.input.Value())
			return m, cmd
		}
		k := m.c.Keys
		switch {
		case key.Matches(msg, m.keys.Pause):
			if m.paused == nil {
				m.paused = m.snapshot()
			} else {
				m.paused, m.scroll = nil, 0
			}
		case key.Matches(msg, m.keys.Fleet):
			m.SetDevice("")
		case key.Matches(msg, k.Filter):
			m.typing = true
			m.input.SetValue(m.filter)
			return m, m.input.Focus()
		case key.Matches(msg, k.Down):
			m.scroll++
		case key.Matches(msg, k.Up):
			m.scroll = max(m.scroll-1, 0)
		case key.Matches(msg, k.PageDown):
			m.scroll += m.height / 2
		case key.Matches(msg, k.PageUp):
			m.scroll = max(m.scroll-m.height/2, 0)
		case key.Matches(msg, k.Top):
			m.scroll = 0
		case key.Matches(msg, k.Enter) && m.paused != nil:
			if e, ok := m.selected(); ok {
				return m, common.Send(common.OpenTwinMsg{ID: e.DeviceID})
			}
		}
	}
	return m, nil
}

func (m Model) snapshot() []common.Event {
	out := []common.Event{}
	m.c.Store.EventsNewestFirst(func(e common.Event) bool {
		if m.device == "" || e.DeviceID == m.device {
			out = append(out, e)
		}
		return true
	})
	return out
}

// selected is the event at the top of the paused list (the highlighted one).
func (m Model) selected() (common.Event, bool) {
	skip := m.scroll
	for _, e := range m.paused {
		if !m.matches(e) {
			continue
		}
		if skip == 0 {
			return e, true
		}
		skip--
	}
	return common.Event{}, false
}

func (m Model) matches(e common.Event) bool {
	if m.device != "" && e.DeviceID != m.device {
		return false
	}
	if m.filter == "" {
		return true
	}
	return strings.Contains(strings.ToLower(e.DeviceID+" "+e.Kind+" "+e.Op+" "+patchText(e.Patch)), m.filter)
}

func patchText(p map[string]any) string {
	if p == nil {
		return ""
	}
	return common.Value(p)
}

// View renders the screen body.
func (m Model) View() string {
	st, now := m.c.Styles, m.c.Now()
	title := "events · fleet"
	if m.device != "" {
		title = "events · " + m.device
	}
	head := st.Title.S(title)
	if m.paused != nil {
		head += "  " + st.Warn.S("⏸ PAUSED") + st.Muted.S(" (p resumes, j/k, enter opens)")
	} else {
		head += "  " + st.OK.S("● live")
	}
	if m.filter != "" && !m.typing {
		head += st.Muted.S("  filter ") + st.Accent.S(m.filter)
	}
	head += st.Muted.S("  " + strconv.FormatInt(m.c.Store.EventCount(), 10) + " seen")
	spW := min(60, max(m.width-20, 10))
	rate := m.c.Store.Rate(now, spW)
	last := 0
	if len(rate) > 0 {
		last = rate[len(rate)-1]
	}
	spark := st.Muted.S("fleet rate ") + st.Info.S(common.Sparkline(rate)) + " " + st.Bold.S(strconv.Itoa(last)+"/s")
	lines := []string{common.TruncateLine(head, m.width), common.TruncateLine(spark, m.width)}
	bodyH := m.height - len(lines)
	if m.typing {
		bodyH--
	}
	var rows []string
	skip := m.scroll
	emit := func(e common.Event) bool {
		if !m.matches(e) {
			return true
		}
		if skip > 0 {
			skip--
			return true
		}
		line := renderEvent(st, e, m.width)
		if m.paused != nil && len(rows) == 0 {
			line = st.Selected.S(common.Fit(ansi.Strip(line), m.width)) // enter opens this device
		}
		rows = append(rows, line)
		return len(rows) < bodyH
	}
	if m.paused != nil {
		for _, e := range m.paused {
			if !emit(e) {
				break
			}
		}
	} else {
		m.c.Store.EventsNewestFirst(emit)
	}
	if len(rows) == 0 {
		rows = append(rows, st.Muted.S("  no events yet"+waitingFor(m.device)))
	}
	lines = common.PadLines(append(lines, rows...), m.height-b2i(m.typing))
	if m.typing {
		lines = append(lines, st.Prompt.Render("/")+" "+m.input.View())
	}
	return strings.Join(lines, "\n")
}

func waitingFor(dev string) string {
	if dev == "" {
		return ""
	}
	return " for " + dev + " (a: whole fleet)"
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func renderEvent(st *theme.Styles, e common.Event, width int) string {
	line := st.Muted.S(e.Time.Format("15:04:05.000")) + " " + st.Text.S(common.Fit(e.DeviceID, 16)) + " " +
		common.KindPaint(st, e.Kind).S(common.Fit(e.Kind, 12))
	if e.Version > 0 {
		line += st.Faint.S(common.Fit(" v"+strconv.FormatInt(e.Version, 10), 7))
	}
	if e.Op == common.OpReplace {
		line += " " + st.Warn.S("replaced by") // the whole section, not a merge patch
	}
	if e.Patch != nil {
		line += " " + st.Text.S(patchText(e.Patch))
	}
	return common.TruncateLine(line, width)
}
