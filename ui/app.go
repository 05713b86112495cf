// Package ui is the console's root bubbletea model. It owns the shared Common (size,
// styles, keys, clock, back end, live fleet store), pulls one batch of fleet changes at
// a time from the back end, and routes messages to the active screen; the screens live
// in their own packages (fleet, twinview, edit, events, rollout).
package ui

import (
	"context"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/theme"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/edit"
	"github.com/twinops/twinops/ui/events"
	"github.com/twinops/twinops/ui/fleet"
	"github.com/twinops/twinops/ui/rollout"
	"github.com/twinops/twinops/ui/twinview"
)

// Backend is what the console needs from a hub (see common.Backend).
type Backend = common.Backend

type screenID int

const (
	screenFleet screenID = iota
	screenTwin
	screenEdit
	screenEvents
	screenRollout
)

var screenNames = [...]string{"fleet", "twin", "edit", "events", "rollout"}

// Options configure the console.
type Options struct {
	Backend  Backend
	ReadOnly bool
	Now      func() time.Time // default time.Now
	Mono     bool             // NO_COLOR: attributes only
	Dark     *bool            // fixed theme; nil asks the terminal for its background
	// FrameInterval is the least time between two batches (default 16 ms): more
	// changes coalesce into one batch, one Update and one redraw.
	FrameInterval time.Duration
	Context       context.Context
	// Drafts are unsent edits from an earlier run, by device id.
	Drafts map[string]common.Draft
	// Notice is shown in the status line from the start (as an error) and stays until
	// the operator's first key, e.g. that a corrupt drafts file was moved aside.
	Notice string
	// Stopped is a rollout an earlier run's end stopped: the status line says so and R
	// opens its review to resume it.
	Stopped *rollout.Saved
	// View is the fleet view an earlier run ended on (query, filter, sort), to open on.
	View *fleet.ViewState
}

// Model is the root model.
type Model struct {
	c        *common.Common
	opts     Options
	screen   screenID
	stack    []screenID
	fleet    fleet.Model
	twin     twinview.Model
	edit     edit.Model
	events   events.Model
	rollout  rollout.Model
	help     bool
	confirmQ bool
	flash    string
	flashErr bool
	flashAt  time.Time
	// flashHeld keeps the flash until the first key (a start-up notice).
	flashHeld bool
	batches   int
	frameAt   time.Time
	gc        *startGC
	stopped   *rollout.Saved // Options.Stopped until a rollout is started
}

// New returns the root model.
func New(o Options) Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.FrameInterval == 0 {
		o.FrameInterval = 16 * time.Millisecond
	}
	dark := true
	if o.Dark != nil {
		dark = *o.Dark
	}
	c := &common.Common{
		Width: 80, Height: 24,
		Styles: theme.New(dark, o.Mono), Keys: common.DefaultKeys(), Now: o.Now,
		ReadOnly: o.ReadOnly, Backend: o.Backend, Store: common.NewStore(), Ctx: o.Context,
		Drafts: map[string]common.Draft{},
	}
	for id, d := range o.Drafts {
		c.Drafts[id] = d
	}
	m := Model{c: c, opts: o, fleet: fleet.New(c), twin: twinview.New(c, ""), edit: edit.New(c, ""),
		events: events.New(c), rollout: rollout.New(c), gc: &startGC{}, stopped: o.Stopped}
	if o.View != nil && m.fleet.Restore(*o.View) {
		o.Notice = strings.TrimPrefix(o.Notice+"; the last session's query or sort no longer applies: dropped", "; ")
	}
	if o.Notice != "" {
		m.flash, m.flashErr, m.flashAt, m.flashHeld = o.Notice, true, o.Now(), true
	}
	m.resize()
	return m
}

// Init asks the terminal for its background and starts the batch pump and the clock.
// Until the fleet is in, the garbage collector runs less often (gc.go).
func (m Model) Init() tea.Cmd {
	m.gc.raise(time.Now())
	cmds := []tea.Cmd{waitForBatch(m.c.Ctx, m.c.Backend, 0), tickClock()}
	if m.opts.Dark == nil {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	return tea.Batch(cmds...)
}

// FleetView is the fleet view to open on next time (query, filter, sort).
func (m Model) FleetView() fleet.ViewState { return m.fleet.State() }

// SavedRollout is the rollout to keep for the next run: the one writing now, which
// quitting stops, or the stopped one from an earlier run not resumed yet (nil if none).
func (m Model) SavedRollout() *rollout.Saved {
	if s := m.rollout.Save(); s != nil {
		return s
	}
	return m.stopped
}

// RolloutStopped says how far a rollout got whose writes were not all sent when the
// console quit ("" if none was writing).
func (m Model) RolloutStopped() string { return m.rollout.Stopped() }

// Drafts returns the unsent edits, so that the caller can save them after the program ends.
func (m Model) Drafts() map[string]common.Draft {
	out := map[string]common.Draft{}
	for id, d := range m.c.Drafts {
		out[id] = d
	}
	if m.screen == screenEdit && m.edit.Dirty() {
		out[m.edit.ID()] = m.edit.Draft()
	}
	return out
}

func (m *Model) resize() {
	w, h := m.c.Width, m.c.Height-1 // status line
	m.fleet.SetSize(w, h)
	m.twin.SetSize(w, h)
	m.edit.SetSize(w, h)
	m.events.SetSize(w, h)
	m.rollout.SetSize(w, h)
}

// Update routes a message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.Width, m.c.Height = msg.Width, msg.Height
		m.resize()
		return m, nil
	case tea.BackgroundColorMsg:
		m.c.Styles = theme.New(msg.IsDark(), m.opts.Mono)
		return m, nil
	case batchMsg:
		return m.applyBatch(msg)
	case common.TickMsg:
		release := m.gc.end(false, time.Now())
		var cmd tea.Cmd
		m.fleet, cmd = m.fleet.Update(msg)
		m.rollout, _ = m.rollout.Update(msg)
		return m, tea.Batch(cmd, tickClock(), release)
	case common.FlashMsg:
		m.flash, m.flashErr, m.flashAt, m.flashHeld = msg.Text, msg.Err, m.c.Now(), false
		return m, nil
	case tea.KeyPressMsg:
		if m.flashHeld {
			// The first key after a start-up notice: it stays a few seconds more.
			m.flashHeld, m.flashAt = false, m.c.Now()
		}
		if m.escThenKey(msg) {
			// Esc and a key typed fast, away from text entry: go back, then the key.
			back, cmd := m.Update(common.BackMsg{})
			if nm, ok := back.(Model); ok {
				next, kcmd := nm.updateKey(nm.plainAlt(msg))
				return next, tea.Batch(cmd, kcmd)
			}
			return back, cmd
		}
		next, cmd := m.updateKey(m.plainAlt(msg))
		if nm, ok := next.(Model); ok && nm.stopped != nil && nm.rollout.Started() {
			// A rollout started (the stopped one resumed, or another; maybe with nothing
			// left to write, so already done): forget the stopped one.
			nm.stopped = nil
			next = nm
		}
		return next, cmd
	}
	if cmd, ok := m.navigate(msg); ok {
		return m, cmd
	}
	if _, paste := msg.(tea.PasteMsg); paste {
		// pasted text is typed text: it goes to the screen on top, not into a field of a
		// screen left open underneath (the rollout plan's value, say)
		return m.routeMsg(msg)
	}
	return m.broadcast(msg)
}

// broadcast hands a message to every screen: results carry their own request ids and
// only the screen that asked recognises them.
func (m Model) broadcast(msg tea.Msg) (Model, tea.Cmd) {
	var cmds [5]tea.Cmd
	m.fleet, cmds[0] = m.fleet.Update(msg)
	m.twin, cmds[1] = m.twin.Update(msg)
	m.edit, cmds[2] = m.edit.Update(msg)
	m.events, cmds[3] = m.events.Update(msg)
	m.rollout, cmds[4] = m.rollout.Update(msg)
	return m, tea.Batch(cmds[:]...)
}

func (m Model) capturing() bool {
	switch m.screen {
	case screenFleet:
		return m.fleet.Capturing()
	case screenEdit:
		return m.edit.Capturing()
	case screenEvents:
		return m.events.Capturing()
	case screenRollout:
		return m.rollout.Capturing()
	}
	return false
}

func (m Model) updateKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := m.c.Keys
	switch {
	case key.Matches(msg, k.Quit) && m.rollout.Active() && !m.confirmQ:
		m.confirmQ = true // a rollout's writes stop with the console: ask first
		return m, nil
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case m.help:
		m.help = false
		return m, nil
	case m.confirmQ:
		m.confirmQ = false
		switch msg.String() {
		case "y":
			return m, tea.Quit
		case "n", "esc":
			return m, nil
		}
		return m.updateKey(msg) // not an answer: the question goes, the key does what it does
	case msg.String() == "f1":
		// help from anywhere, also while typing (where ? is text)
		m.help = true
		return m, nil
	case m.capturing():
		return m.routeKey(msg)
	case key.Matches(msg, k.Help):
		m.help = true
		return m, nil
	}
	if m.screen == screenFleet {
		if open := m.fleetOpens(msg); open != nil {
			// open at once, not through a command: a key typed right after enter (in the
			// same read, e.g. enter then v) must reach the screen opened, not the fleet
			return m.Update(open)
		}
	}
	switch {
	case msg.String() == "R" && m.stopped != nil && !m.rollout.Started() && !m.c.ReadOnly && !m.c.Store.Synced:
		// Its review counts the devices that do not have the value yet: not before they are in.
		m.flash, m.flashErr, m.flashAt, m.flashHeld = "the fleet is still loading: R resumes the stopped rollout once it is in", true, m.c.Now(), false
		return m, nil
	case msg.String() == "R" && m.stopped != nil && !m.rollout.Started() && !m.c.ReadOnly:
		var cmd tea.Cmd
		m.rollout, cmd = m.rollout.Resume(*m.stopped)
		m.push(screenRollout)
		return m, cmd
	case msg.String() == "R" && m.rollout.Started():
		m.rollout = m.rollout.ShowLast() // drops a plan not yet started
		m.push(screenRollout)
		return m, nil
	case key.Matches(msg, k.Back):
		if m.screen == screenFleet {
			if msg.String() == "q" {
				m.confirmQ = true
				return m, nil
			}
			return m.routeKey(msg) // esc clears the fleet's filter and query
		}
		// back at once, not through a command: a key typed right after q or esc (in the
		// same read) would otherwise reach the screen being left
		return m.Update(common.BackMsg{})
	}
	return m.routeKey(msg)
}

func (m Model) routeKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) { return m.routeMsg(msg) }

// routeMsg hands msg to the screen on top only.
func (m Model) routeMsg(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch m.screen {
	case screenFleet:
		m.fleet, cmd = m.fleet.Update(msg)
	case screenTwin:
		m.twin, cmd = m.twin.Update(msg)
	case screenEdit:
		m.edit, cmd = m.edit.Update(msg)
	case screenEvents:
		m.events, cmd = m.events.Update(msg)
	case screenRollout:
		m.rollout, cmd = m.rollout.Update(msg)
	}
	return m, cmd
}

// fleetOpens is the screen a key on the fleet opens (as the fleet itself would ask for
// it: enter the selected twin, v the events, e the editor on the selected twin, r the
// rollout plan, whose value field takes the keys typed right after r), or nil.
func (m Model) fleetOpens(msg tea.KeyPressMsg) tea.Msg {
	k, sel := m.c.Keys, m.fleet.Selected()
	switch {
	case key.Matches(msg, k.Enter):
		if sel != "" {
			return common.OpenTwinMsg{ID: sel}
		}
	case key.Matches(msg, k.Events):
		return common.OpenEventsMsg{}
	case !m.c.ReadOnly && key.Matches(msg, k.Edit) && sel != "":
		return common.OpenEditMsg{ID: sel}
	case !m.c.ReadOnly && key.Matches(msg, k.Rollout) && !m.rollout.Active():
		// (while one is running, r shows it through the fleet: keys typed after r must not
		// reach a running rollout, where p pauses and A aborts)
		return m.fleet.RolloutRequest()
	}
	return nil
}
