// Package twinview is the twin screen: one device's desired and reported properties
// side by side, aligned by key path, each leaf coloured by its sync state with its age;
// identity fields, section versions and tags; live changes highlighted briefly; and the
// twin's recent changes as diffs.
package twinview

import (
	"context"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// highlightFor is how long a changed leaf stays highlighted.
const highlightFor = 3 * time.Second

// Model is the twin screen.
type Model struct {
	c      *common.Common
	id     string
	doc    *twin.Doc
	leaves []twin.Leaf
	scroll int
	reqID  int
	err    string
	width  int
	height int
}

// twinReadMsg is the result of re-reading the twin from the hub.
type twinReadMsg struct {
	reqID int
	id    string
	doc   *twin.Doc
	err   error
}

// New returns the twin screen for one device.
func New(c *common.Common, id string) Model {
	m := Model{c: c, id: id}
	m.load(c.Store.Get(id))
	return m
}

// ID is the device shown.
func (m Model) ID() string { return m.id }

// SetSize sets the screen's body size.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// Capturing is always false: the twin screen takes no text input.
func (m Model) Capturing() bool { return false }

// Help lists the screen's keys.
func (m Model) Help() []key.Binding {
	k := m.c.Keys
	out := []key.Binding{k.Events, k.Refresh}
	if !m.c.ReadOnly {
		out = append(out, k.Edit, k.Editor)
	}
	return out
}

func (m *Model) load(d *twin.Doc) {
	m.doc = d
	m.leaves = nil
	if d != nil {
		m.leaves = twin.Diff(d)
	}
}

// Update handles a message.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case common.FleetChangedMsg:
		if _, ok := msg.Changed[m.id]; ok {
			m.load(m.c.Store.Get(m.id))
		}
	case twinReadMsg:
		if msg.reqID != m.reqID || msg.id != m.id {
			return m, nil // stale
		}
		if msg.err != nil {
			m.err = msg.err.Error()
			return m, nil
		}
		m.err = ""
		if m.doc == nil || msg.doc.Version >= m.doc.Version {
			m.load(msg.doc)
		}
	case tea.KeyPressMsg:
		return m.updateKeys(msg)
	}
	return m, nil
}

func (m Model) updateKeys(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := m.c.Keys
	switch {
	case key.Matches(msg, k.Down):
		m.scroll++
	case key.Matches(msg, k.Up):
		m.scroll--
	case key.Matches(msg, k.PageDown):
		m.scroll += m.height / 2
	case key.Matches(msg, k.PageUp):
		m.scroll -= m.height / 2
	case key.Matches(msg, k.Top):
		m.scroll = 0
	case key.Matches(msg, k.Bottom):
		m.scroll = 1 << 30
	case key.Matches(msg, k.Events):
		return m, common.Send(common.OpenEventsMsg{ID: m.id})
	case key.Matches(msg, k.Refresh):
		m.reqID++
		return m, readTwin(m.c.Ctx, m.c.Backend, m.reqID, m.id)
	case m.c.ReadOnly:
	case key.Matches(msg, k.Edit), key.Matches(msg, k.Editor):
		return m, common.Send(common.OpenEditMsg{ID: m.id, External: key.Matches(msg, k.Editor)})
	}
	m.scroll = max(m.scroll, 0)
	return m, nil
}

// readTwin reads a twin from the hub; it captures only values.
func readTwin(ctx context.Context, be common.Backend, reqID int, id string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		d, err := be.GetTwin(ctx, id)
		return twinReadMsg{reqID: reqID, id: id, doc: d, err: err}
	}
}
