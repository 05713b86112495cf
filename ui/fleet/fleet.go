// Package fleet is the console's home screen: every device in one table with its
// connection, sync state and firmware, a live filter (/), an IoT Hub query as the view
// (:), sorting by any column and marks for rollouts. Only the visible rows are rendered,
// so a fleet of 100,000 devices scrolls like one of ten.
package fleet

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin/query"
	"github.com/twinops/twinops/ui/common"
)

type inputMode int

const (
	inputNone inputMode = iota
	inputFilter
	inputQuery
)

// Keys are the fleet screen's own bindings.
type Keys struct {
	Mark, ClearMarks, SortNext, SortPrev, Reverse, Clear key.Binding
}

func newKeys() Keys {
	return Keys{
		Mark:       key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "mark/unmark")),
		ClearMarks: key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "clear marks")),
		SortNext:   key.NewBinding(key.WithKeys(">", "."), key.WithHelp(">", "sort by next column")),
		SortPrev:   key.NewBinding(key.WithKeys("<", ","), key.WithHelp("<", "sort by previous column")),
		Reverse:    key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "reverse sort")),
		Clear:      key.NewBinding(key.WithKeys("c", "esc"), key.WithHelp("c/esc", "clear filter and query")),
	}
}

// Model is the fleet screen.
type Model struct {
	c    *common.Common
	keys Keys

	rows   map[string]*row
	view   []*row // filtered and sorted
	cursor int
	offset int
	selID  string
	marks  map[string]bool

	mode     inputMode
	input    textinput.Model
	filter   string
	words    []string
	queryStr string
	q        *query.Query
	agg      []string     // result lines of an aggregate query, shown instead of the table
	qt       *query.Table // the fleet as a column index while an aggregate query is shown
	queryErr string
	// queryCaret marks the error's column under the prompt ("" when unknown).
	queryCaret string
	idSet      map[string]bool // a fixed set of devices (from a rollout), nil for none
	idLabel    string
	// top holds the devices a SELECT TOP n keeps (the first n matches by id, as the
	// hub answers it); nil when the query has no TOP.
	top map[string]bool

	sortCol     int
	sortDesc    bool
	sortedAt    time.Time // when live changes last re-sorted the view (wall clock)
	sortPending bool
	moved       bool // the operator has moved the cursor (follow)
	width       int
	height      int
}

// New returns the fleet screen over the common store.
func New(c *common.Common) Model {
	in := textinput.New()
	in.Prompt = ""
	m := Model{c: c, keys: newKeys(), rows: map[string]*row{}, marks: map[string]bool{}, input: in}
	m.loadAll()
	return m
}

// SetSize sets the screen's body size.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.input.SetWidth(w - 4)
	m.clampOffset()
}

// Capturing reports whether the screen is taking text input (global keys are off).
func (m Model) Capturing() bool { return m.mode != inputNone }

// Selected returns the device under the cursor ("" when the view is empty).
func (m Model) Selected() string { return m.selID }

// Marked returns the marked device ids, sorted.
func (m Model) Marked() []string {
	out := make([]string, 0, len(m.marks))
	for _, r := range m.view {
		if m.marks[r.id] {
			out = append(out, r.id)
		}
	}
	return out
}

// ViewIDs returns the ids in the current view (filter and query applied), in order.
func (m Model) ViewIDs() []string {
	out := make([]string, len(m.view))
	for i, r := range m.view {
		out[i] = r.id
	}
	return out
}

// ViewLabel describes the current view for other screens ("all devices", the query).
func (m Model) ViewLabel() string {
	var parts []string
	if m.idSet != nil {
		parts = append(parts, m.idLabel)
	}
	if m.queryStr != "" {
		parts = append(parts, m.queryStr)
	}
	if m.filter != "" {
		parts = append(parts, "filter "+m.filter)
	}
	if len(parts) == 0 {
		return "all devices"
	}
	return strings.Join(parts, ", ")
}

// ShowDevices makes a fixed set of devices the view (c clears it).
func (m *Model) ShowDevices(ids []string, label string) {
	m.idSet = make(map[string]bool, len(ids))
	for _, id := range ids {
		m.idSet[id] = true
	}
	m.idLabel = label
	m.rebuild(true)
}

// Help lists the screen's keys for the help view.
func (m Model) Help() []key.Binding {
	k := m.c.Keys
	out := []key.Binding{k.Enter, k.Filter, k.Query, m.keys.Clear, m.keys.Mark, m.keys.ClearMarks,
		m.keys.SortNext, m.keys.SortPrev, m.keys.Reverse, k.Events}
	if !m.c.ReadOnly {
		out = append(out, k.Edit, k.Editor, k.Rollout)
	}
	return out
}

// Update handles a message.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case common.FleetChangedMsg:
		m.apply(msg)
		if m.sortPending {
			m.sortSoon()
		}
		return m, nil
	case common.TickMsg:
		if m.sortPending {
			m.sortSoon()
		}
		return m, nil
	case tea.KeyPressMsg:
		if m.mode != inputNone {
			return m.updateInput(msg)
		}
		return m.updateKeys(msg)
	}
	if m.mode != inputNone {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m Model) updateKeys(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := m.c.Keys
	switch {
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.PageDown):
		m.move(m.pageRows())
	case key.Matches(msg, k.PageUp):
		m.move(-m.pageRows())
	case key.Matches(msg, k.Top):
		m.move(-len(m.view))
	case key.Matches(msg, k.Bottom):
		m.move(len(m.view))
	case key.Matches(msg, k.Filter):
		return m.startInput(inputFilter, m.filter)
	case key.Matches(msg, k.Query):
		return m.startInput(inputQuery, m.queryStr)
	case key.Matches(msg, m.keys.Clear), msg.String() == "esc":
		m.filter, m.words, m.queryStr, m.q, m.agg, m.queryErr = "", nil, "", nil, nil, ""
		m.idSet, m.idLabel = nil, ""
		m.rebuild(true)
	case key.Matches(msg, m.keys.Mark):
		if m.selID != "" {
			if m.marks[m.selID] {
				delete(m.marks, m.selID)
			} else {
				m.marks[m.selID] = true
			}
			m.move(1)
		}
	case key.Matches(msg, m.keys.ClearMarks):
		m.marks = map[string]bool{}
	case key.Matches(msg, m.keys.SortNext):
		m.setSort(m.nextSortCol(1), false)
	case key.Matches(msg, m.keys.SortPrev):
		m.setSort(m.nextSortCol(-1), false)
	case key.Matches(msg, m.keys.Reverse):
		m.setSort(m.sortCol, !m.sortDesc)
	case key.Matches(msg, k.Enter):
		if m.selID != "" {
			return m, common.Send(common.OpenTwinMsg{ID: m.selID})
		}
	case key.Matches(msg, k.Events):
		return m, common.Send(common.OpenEventsMsg{})
	case m.c.ReadOnly:
		return m, nil
	case key.Matches(msg, k.Edit), key.Matches(msg, k.Editor):
		if m.selID != "" {
			return m, common.Send(common.OpenEditMsg{ID: m.selID, External: key.Matches(msg, k.Editor)})
		}
	case key.Matches(msg, k.Rollout):
		return m, common.Send(m.RolloutRequest())
	}
	return m, nil
}

// RolloutRequest is what r asks for: a rollout of the marked devices, else of the view
// (an OpenRolloutMsg), or a flash saying why not while the fleet is still loading.
func (m Model) RolloutRequest() tea.Msg {
	ids, label := m.Marked(), "marked devices"
	if len(ids) == 0 && m.loading() {
		// the view is only the devices in so far: a rollout of it would miss the rest
		return common.FlashMsg{Err: true, Text: "the fleet is still loading (" +
			strconv.Itoa(m.c.Store.Len()) + " devices in): plan a rollout of the view when it is complete, or mark devices"}
	}
	if len(ids) == 0 {
		ids, label = m.ViewIDs(), m.ViewLabel()
	}
	return common.OpenRolloutMsg{IDs: ids, Label: label}
}

func (m Model) startInput(mode inputMode, val string) (Model, tea.Cmd) {
	m.mode = mode
	m.input.SetValue(val)
	m.input.CursorEnd()
	m.queryErr, m.queryCaret = "", ""
	return m, m.input.Focus()
}

func (m Model) updateInput(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		if m.mode == inputFilter {
			m.filter, m.words = "", nil
			m.rebuild(true)
		}
		m.mode = inputNone
		m.queryErr, m.queryCaret = "", ""
		m.input.Blur()
		return m, nil
	case "enter":
		if m.mode == inputQuery && !m.runQuery(m.input.Value()) {
			return m, nil // the prompt stays open with the text and the error
		}
		m.mode = inputNone
		m.input.Blur()
		return m, nil
	}
	var cmd tea.Cmd
	before := m.input.Value()
	m.input, cmd = m.input.Update(msg)
	if m.mode == inputQuery && m.input.Value() != before {
		m.queryErr, m.queryCaret = "", ""
	}
	if m.mode == inputFilter && m.input.Value() != m.filter {
		m.filter = m.input.Value()
		m.words = splitWords(m.filter)
		m.rebuild(true)
	}
	return m, cmd
}

// splitWords is a filter's words, as rows are matched against them.
func splitWords(filter string) []string { return strings.Fields(strings.ToLower(filter)) }

// runQuery parses a WHERE clause or a full SELECT and makes it the view; on a syntax
// error it keeps the current view, sets the error (and its caret) and returns false.
func (m *Model) runQuery(raw string) bool {
	s := strings.TrimSpace(raw)
	m.queryErr, m.queryCaret = "", ""
	if s == "" {
		m.queryStr, m.q, m.agg, m.qt = "", nil, nil, nil
		m.rebuild(true)
		return true
	}
	var q *query.Query
	var err error
	if strings.HasPrefix(strings.ToUpper(s), "SELECT") {
		q, err = query.Parse(s)
	} else {
		q, err = query.ParseWhere(s)
	}
	if err != nil {
		m.queryErr = err.Error()
		var se *query.SyntaxError
		if errors.As(err, &se) && !strings.Contains(s, "\n") {
			caret := se.Caret()
			lead := len(raw) - len(strings.TrimLeft(raw, " \t"))
			m.queryCaret = raw[:lead] + caret[strings.LastIndexByte(caret, '\n')+1:]
		}
		return false
	}
	m.queryStr, m.q, m.agg, m.qt = s, q, nil, nil
	for _, r := range m.rows {
		r.qmatch = m.matchQuery(r.id)
	}
	if q.Aggregate() {
		m.agg = m.runAggregate(nil)
	}
	m.rebuild(true)
	return true
}

// loading reports whether the first listing is still arriving: the rows are only the
// devices in so far.
func (m Model) loading() bool { return !m.c.Store.Synced && m.c.Store.Len() > 0 }

// nextSortCol is the visible column d steps from the sorted one.
func (m *Model) nextSortCol(d int) int {
	cols := layout(m.width)
	at := 0
	for i, c := range cols {
		if c.col == m.sortCol {
			at = i
		}
	}
	return cols[(at+d+len(cols))%len(cols)].col
}

func (m *Model) setSort(col int, desc bool) {
	m.sortCol, m.sortDesc = col, desc
	sortRows(m.view, m.sortCol, m.sortDesc)
	m.followDevice() // the operator's own sort: the cursor stays on its device
}
