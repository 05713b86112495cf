// Package rollout is the rollout screen: choose devices (the current view or the marked
// ones), a desired patch (firmware.version = 2.1.0), see how many devices it changes,
// apply it at a chosen rate with a progress bar, then watch the devices report back by
// firmware status, with the failed ones listed. Pause, resume and abort stop further
// writes at once.
package rollout

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/ui/common"
)

type phase int

const (
	phasePlan phase = iota
	phaseConfirm
	phaseRunning
	phasePaused
	phaseDone
	phaseAborted
)

const (
	tickEvery   = 100 * time.Millisecond
	maxInFlight = 32
)

// Keys are the rollout screen's bindings.
type Keys struct{ Next, Apply, Confirm, Pause, Abort, Failed, Wave key.Binding }

// Model is the rollout screen.
type Model struct {
	c      *common.Common
	keys   Keys
	ids    []string
	label  string
	fields [5]textinput.Model // path, value, rate, failure limit, first wave
	focus  int
	// fresh: the focused field still holds what it had when it got the focus (a default or
	// the last rollout's value), shown selected; the first character typed replaces it, as
	// in a form whose field selects its text on focus. Without this, typing 20 into the
	// rate field's 10 planned 1020 devices/s.
	fresh bool
	phase phase
	err   string
	// confirm takes the device count or "yes" in the review: a stray key cannot start writes.
	confirm textinput.Model

	runID int
	// tickGen numbers the chains of write ticks: only the newest chain's ticks write.
	tickGen int
	path    []string
	value   any
	rate    float64
	unlike  []string // the review's warning (and hint) when value is unlike the devices' values
	limit   limit    // failures that pause the writes by themselves
	// wave is the first wave's size (0: none); waveIDs its devices once started, and
	// waveOpen whether the rest may be written (wave.go).
	wave     int
	waveIDs  []string
	waveOpen bool
	waveWait time.Time // when the wave was all written and answered and began to wait
	// changing is how many chosen devices the review found to differ at the path: counted
	// once when the review opens (a frame must not walk a large fleet), and the number the
	// operator types to confirm. The writes go to the devices that differ when they start.
	changing int
	// autoPaused says why the writes paused by themselves ("" if they did not). answered
	// holds the devices whose write this rollout sent and the hub answered: only their
	// failures count against the limit. excused holds those failed or dark when the
	// operator last resumed: the limit pauses again only on trouble with another device.
	autoPaused string
	autoDark   string // the pause's second line: how many of the troubled went dark
	// autoPausedAt is when: the reason is the count then, and the lists below go on.
	autoPausedAt time.Time
	answered     map[string]bool
	excused      map[string]bool
	// offSince holds, for each written device seen connected since its write (wasUp), when
	// this screen first saw it offline again, by the console's own clock (a device's last
	// activity stamp is the hub's, and may be minutes old when it disconnects); it is
	// dropped when the device is seen connected. See darkAfter.
	offSince map[string]time.Time
	wasUp    map[string]bool
	// darkFrom: no device counts as dark before this time. While the console is not in
	// sync with the hub its store is stale, so the timing starts over, and after a
	// resync (a hub restart lists every device offline until it reconnects) devices get
	// darkAfterReboot to come back.
	darkFrom time.Time
	unsynced bool
	queue    []string       // devices still to write
	order    map[string]int // each device's place in the queue as it started
	total    int            // devices written or to write
	written  int
	inFlight int
	credit   float64
	writeErr map[string]string
	started  time.Time
	prog     *progress // kept up to date as things change (progress.go); nil until started
	width    int
	height   int
	// resumed says, on the plan and its review, that this plan is a stopped rollout's
	// (Resume); "" otherwise.
	resumed     string
	resumedHeld string // why its writes were held then ("" if they were not)
	// replaces names the stopped rollout (from an earlier console) that starting this
	// plan forgets ("" when none).
	replaces string
	// last is the rollout started before the one planned now: kept reachable (R, f)
	// until this one starts. Nil while this model's own rollout is started.
	last *Model
}

type (
	tickMsg      struct{ runID, gen int }
	writeDoneMsg struct {
		runID int
		id    string
		err   error
	}
)

// New returns an idle rollout screen.
func New(c *common.Common) Model {
	m := Model{c: c, keys: Keys{
		Next:    key.NewBinding(key.WithKeys("tab", "shift+tab"), key.WithHelp("tab", "next field")),
		Apply:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "review and apply")),
		Confirm: key.NewBinding(key.WithKeys("enter"), key.WithHelp("N/yes enter", "in the review: type the device count or yes to start writing")),
		Pause:   key.NewBinding(key.WithKeys("p", "space"), key.WithHelp("p", "pause/resume writes")),
		Abort:   key.NewBinding(key.WithKeys("A"), key.WithHelp("A", "abort: stop all further writes")),
		Failed:  key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "show the failed devices in the fleet view")),
		Wave:    key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "first wave: write the rest now, without waiting for its outcome")),
	}}
	placeholders := [5]string{"firmware.version", "type the new value, e.g. 2.1.0", "10", "5% of the written, or a count, or off",
		"devices written first, then a wait for their outcome: a count, 1%, or off"}
	for i := range m.fields {
		f := textinput.New()
		f.Prompt = ""
		f.Placeholder = placeholders[i]
		m.fields[i] = f
	}
	m.fields[0].SetValue("firmware.version")
	m.fields[2].SetValue("10")
	m.fields[3].SetValue(defaultLimit)
	m.fields[4].SetValue(defaultWave)
	m.confirm = textinput.New()
	m.confirm.Prompt = ""
	m.confirm.CharLimit = 12
	m.confirm.SetWidth(12)
	return m
}

// Plan starts planning a rollout on these devices (ignored while one is running).
func (m Model) Plan(ids []string, label string) (Model, tea.Cmd) {
	if m.Active() {
		return m, nil
	}
	m.keepLast()
	m.ids, m.label, m.phase, m.err, m.resumed, m.resumedHeld, m.replaces = ids, label, phasePlan, "", "", "", ""
	m.focus = 1
	for i := range m.fields {
		m.fields[i].Blur()
	}
	m.fresh = true
	return m, m.fields[1].Focus()
}

// IDs returns the devices the rollout is planned on.
func (m Model) IDs() []string { return m.ids }

// Active reports whether writes are under way or paused.
func (m Model) Active() bool { return m.phase == phaseRunning || m.phase == phasePaused }

// Started reports whether there is a started rollout to show (R): the one on the screen,
// or the last one while the next is being planned.
func (m Model) Started() bool { return m.ran() || m.last != nil }

// Capturing reports whether a text field is taking input (the plan's fields or the
// review's confirmation).
func (m Model) Capturing() bool { return m.phase == phasePlan || m.phase == phaseConfirm }

// SetSize sets the screen's body size.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	for i := range m.fields {
		m.fields[i].SetWidth(max(w-24, 10))
	}
}

// Help lists the screen's keys.
func (m Model) Help() []key.Binding {
	return []key.Binding{m.keys.Next, m.keys.Apply, m.keys.Confirm, m.keys.Pause, m.keys.Abort, m.keys.Failed, m.keys.Wave}
}

// StatusText summarises a started rollout for the status line ("" when none).
func (m Model) StatusText() string {
	if !m.ran() {
		if m.last != nil {
			return m.last.StatusText()
		}
		return ""
	}
	p := m.prog
	s := "rollout " + strconv.Itoa(p.counts[stSucceeded]) + "/" + strconv.Itoa(len(m.ids)) + " ok"
	if f := p.counts[stFailed]; f > 0 {
		s += " " + strconv.Itoa(f) + " failed"
	}
	return s
}

// Stopped describes, for the message printed when the console quits, a rollout whose
// writes are not all sent: they stop with the console ("" when none is).
func (m Model) Stopped() string {
	if !m.Active() {
		return ""
	}
	return "the rollout of desired." + strings.Join(m.path, ".") + " = " + common.Value(m.value) + " on " + m.label +
		" stopped at " + strconv.Itoa(m.written) + " of " + strconv.Itoa(m.total) + " written (" +
		strconv.Itoa(len(m.queue)+m.inFlight) + " not written or not answered)"
}

// Halted names the state of this screen's rollout when its writes are held: AUTO-PAUSED
// (by the failure limit), PAUSED or ABORTED; "" otherwise. The status line shows it in
// a part of its own that never gives way.
func (m Model) Halted() string {
	switch {
	case m.phase == phasePaused && m.autoPaused != "":
		return "AUTO-PAUSED"
	case m.phase == phasePaused:
		return "PAUSED"
	case m.phase == phaseAborted:
		return "ABORTED"
	case m.waveStalled():
		return "FIRST WAVE STALLED"
	}
	return ""
}

// Update handles a message.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case common.FleetChangedMsg:
		m = m.updateLast(msg)
		m.fleetChanged(msg)
		return m, nil
	case common.TickMsg:
		m = m.updateLast(msg)
		if m.ran() && m.watchSync() {
			m.timeDark()
			m.checkHolds()
		}
		return m, nil
	case tickMsg:
		if msg.runID != m.runID || msg.gen != m.tickGen || m.phase != phaseRunning {
			return m, nil
		}
		return m.issue()
	case writeDoneMsg:
		if !m.ran() && m.last != nil && msg.runID == m.last.runID {
			return m.updateLast(msg), nil // an aborted rollout's last answers
		}
		if msg.runID != m.runID || !m.ran() {
			return m, nil
		}
		m.inFlight--
		m.written++
		m.answered[msg.id] = true
		if msg.err != nil {
			m.writeErr[msg.id] = msg.err.Error()
		}
		m.recount(msg.id)
		if m.watchSync() {
			m.watch(msg.id)
		}
		m.finishIfSent()
		m.checkHolds()
		return m, nil
	case tea.KeyPressMsg:
		return m.updateKeys(msg)
	}
	var cmd tea.Cmd
	switch m.phase {
	case phasePlan:
		if _, paste := msg.(tea.PasteMsg); paste && m.fresh {
			m.fields[m.focus].SetValue("") // a paste replaces the selected text too
			m.fresh = false
		}
		m.fields[m.focus], cmd = m.fields[m.focus].Update(msg)
	case phaseConfirm:
		m.confirm, cmd = m.confirm.Update(msg)
	}
	return m, cmd
}

func (m Model) updateKeys(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch m.phase {
	case phasePlan:
		switch msg.String() {
		case "esc":
			return m, common.Send(common.BackMsg{})
		case "tab", "shift+tab", "down", "up":
			d := 1
			if msg.String() == "shift+tab" || msg.String() == "up" {
				d = len(m.fields) - 1 // the previous field
			}
			return m, m.focusField((m.focus + d) % len(m.fields))
		case "enter":
			return m, m.review()
		}
		typed := msg.Text != "" && msg.Mod&(tea.ModCtrl|tea.ModAlt|tea.ModMeta|tea.ModSuper|tea.ModHyper) == 0
		if m.fresh && (typed || key.Matches(msg, m.fields[m.focus].KeyMap.Paste)) {
			m.fields[m.focus].SetValue("") // typed or pasted text replaces the selected text
		}
		m.fresh = false // any other key edits the text in place
		var cmd tea.Cmd
		m.fields[m.focus], cmd = m.fields[m.focus].Update(msg)
		m.err = ""
		return m, cmd
	case phaseConfirm:
		return m.updateConfirm(msg)
	}
	switch {
	case key.Matches(msg, m.keys.Pause) && m.phase == phaseRunning:
		m.phase = phasePaused
	case key.Matches(msg, m.keys.Pause) && m.phase == phasePaused:
		if m.watchSync() {
			m.timeDark() // excuse the devices dark as of now, not as of the last tick
		}
		m.autoPaused, m.autoDark, m.excused = "", "", map[string]bool{}
		failed, dark := m.troubled()
		for _, id := range append(failed, dark...) {
			m.excused[id] = true
		}
		m.phase = phaseRunning
		if m.finishIfSent() {
			return m, nil
		}
		return m, m.startTicks()
	case key.Matches(msg, m.keys.Wave) && m.Active() && m.gated():
		m.waveOpen = true
	case key.Matches(msg, m.keys.Abort) && m.Active():
		queued := m.queue
		m.phase, m.queue = phaseAborted, nil
		for _, id := range queued {
			m.recount(id) // no longer waiting for its write
		}
	case key.Matches(msg, m.keys.Failed):
		_, dark := m.troubled()
		if ids := append(append([]string(nil), m.prog.failed...), dark...); len(ids) > 0 {
			sort.Strings(ids)
			var parts []string
			if n := len(m.prog.failed); n > 0 {
				parts = append(parts, "failures ("+strconv.Itoa(n)+")")
			}
			if n := len(dark); n > 0 {
				parts = append(parts, "gone dark ("+strconv.Itoa(n)+")")
			}
			return m, common.Send(common.ShowDevicesMsg{IDs: ids, Label: "rollout " + strings.Join(parts, " and ")})
		}
	case msg.String() == "esc" || msg.String() == "q":
		return m, common.Send(common.BackMsg{})
	}
	return m, nil
}

// start queues every chosen device whose desired value differs.
func (m Model) start() (Model, tea.Cmd) {
	m.runID++
	m.last = nil // the operator starts the next: the last one is replaced
	m.queue = m.affected()
	m.total, m.written, m.inFlight, m.credit = len(m.queue), 0, 0, 0
	m.order = make(map[string]int, len(m.queue))
	for i, id := range m.queue {
		m.order[id] = i
	}
	// The first wave, of the devices that change now; none when it would be all of them.
	m.waveIDs, m.waveOpen, m.waveWait = nil, m.wave == 0 || m.wave >= m.total, time.Time{}
	if !m.waveOpen {
		m.waveIDs = m.queue[:m.wave:m.wave]
	}
	m.writeErr = map[string]string{}
	m.autoPaused, m.autoDark, m.answered, m.excused = "", "", map[string]bool{}, map[string]bool{}
	m.offSince, m.wasUp, m.darkFrom, m.unsynced = map[string]time.Time{}, map[string]bool{}, time.Time{}, false
	m.started = m.c.Now()
	m.phase = phaseRunning
	if len(m.queue) == 0 {
		m.phase = phaseDone
	}
	m.prog = nil
	m.recountAll()
	m.watchSync()
	if m.phase == phaseDone {
		return m, nil
	}
	return m, m.startTicks()
}

// issue sends as many writes as the rate allows this tick.
func (m Model) issue() (Model, tea.Cmd) {
	m.checkWave()
	m.credit += m.rate * tickEvery.Seconds()
	cmds := []tea.Cmd{tick(m.runID, m.tickGen)}
	patch := common.Patch{Desired: nest(m.path, m.value)}
	for m.credit >= 1 && len(m.queue) > 0 && m.inFlight < maxInFlight && !m.gated() {
		id := m.queue[0]
		m.queue = m.queue[1:]
		m.recount(id) // no longer waiting in the queue
		m.credit--
		m.inFlight++
		cmds = append(cmds, write(m.c.Ctx, m.c.Backend, m.runID, id, patch))
	}
	m.credit = min(m.credit, max(m.rate, 1)) // no burst after a pause
	return m, tea.Batch(cmds...)
}

func tick(runID, gen int) tea.Cmd {
	return tea.Tick(tickEvery, func(time.Time) tea.Msg { return tickMsg{runID: runID, gen: gen} })
}

// startTicks starts a new chain of write ticks and retires the previous one: a tick of an
// earlier chain still on its way (pause and resume within one tick) is ignored, or the
// two chains would write at twice the rate.
func (m *Model) startTicks() tea.Cmd {
	m.tickGen++
	return tick(m.runID, m.tickGen)
}

func write(ctx context.Context, be common.Backend, runID int, id string, p common.Patch) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		_, err := be.PatchTwin(ctx, id, p, "*")
		return writeDoneMsg{runID: runID, id: id, err: err}
	}
}
