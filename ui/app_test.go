package ui

import (
	"context"
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

var sizes = []struct{ w, h int }{{80, 24}, {160, 48}}

// newTestModel returns a root model over a fake hub holding n devices, already synced.
func newTestModel(t testing.TB, n int, readOnly bool) (Model, *uitest.Backend) {
	be := uitest.NewBackend(uitest.Now, uitest.Fleet(n)...)
	dark := true
	m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, ReadOnly: readOnly, Context: context.Background()})
	m = update(t, m, batchMsg{batch: be.InitialBatch()})
	return m, be
}

// update runs one message through Update and, like the runtime, feeds back the
// messages of the commands that complete at once (navigation, flashes), never the
// blocking ones (batch pump, ticks).
func update(t testing.TB, m Model, msg tea.Msg) Model {
	t.Helper()
	next, cmd := m.Update(msg)
	m = next.(Model)
	for _, c := range immediate(cmd) {
		m = update(t, m, c)
	}
	return m
}

// keys sends key presses by name ("j", "enter", "ctrl+s", "space", "esc").
func keys(t testing.TB, m Model, names ...string) Model {
	t.Helper()
	for _, n := range names {
		m = update(t, m, keyMsg(n))
	}
	return m
}

func size(t testing.TB, m Model, w, h int) Model {
	return update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
}

func keyMsg(name string) tea.KeyPressMsg {
	switch name {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "ctrl+s":
		return tea.KeyPressMsg{Code: 's', Mod: tea.ModCtrl}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(name)
	if len(r) != 1 {
		panic("unknown key " + name)
	}
	return tea.KeyPressMsg{Code: r[0], Text: name}
}

// typeText sends each rune as a key press.
func typeText(t testing.TB, m Model, s string) Model {
	for _, r := range s {
		if r == ' ' {
			m = update(t, m, keyMsg("space"))
			continue
		}
		m = update(t, m, tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	return m
}

// immediate runs the commands that return at once (navigation, hub answers from the
// fake) and returns their messages; blocking ones (batch pump, ticks) are left.
func immediate(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	default:
		// Give a command that returns at once a moment; blocking ones are left.
		select {
		case msg = <-done:
		case <-afterShort():
			return nil
		}
	}
	switch msg := msg.(type) {
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, immediate(c)...)
		}
		return out
	case nil, common.TickMsg:
		return nil
	}
	return []tea.Msg{msg}
}

func goldenView(t *testing.T, m Model) {
	t.Helper()
	golden.RequireEqual(t, m.Render())
}

func TestFleetGolden(t *testing.T) {
	for _, s := range sizes {
		t.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(t *testing.T) {
			m, _ := newTestModel(t, 40, false)
			m = size(t, m, s.w, s.h)
			m = keys(t, m, "j", "j", "space")
			goldenView(t, m)
		})
	}
}
