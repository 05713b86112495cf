package ui

import (
	"unicode"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// plainAlt turns an alt key that nothing binds into the plain key. Over SSH or tmux an
// Esc followed quickly by another key arrives in one read and decodes as alt+key
// (Esc then ':' becomes alt+:); ignoring it would let the text typed next run as
// commands. Alt keys the screens or the text widgets bind are left alone.
func (m Model) plainAlt(msg tea.KeyPressMsg) tea.KeyPressMsg {
	if msg.Mod&^tea.ModShift != tea.ModAlt || m.altBound(msg) {
		return msg
	}
	msg.Mod &^= tea.ModAlt
	if msg.Text == "" {
		r := msg.Code
		if msg.Mod&tea.ModShift != 0 && msg.ShiftedCode != 0 {
			r = msg.ShiftedCode
		} else if msg.Mod&tea.ModShift != 0 {
			r = unicode.ToUpper(r)
		}
		if r <= unicode.MaxRune && unicode.IsPrint(r) {
			msg.Text = string(r)
		}
	}
	return msg
}

// escThenKey reports whether an unbound alt key should act as Esc followed by the key:
// on screens other than the fleet table and away from text entry, where Esc goes back.
// (On the table Esc would clear the filter, and in a text field it would end the input,
// so there the key alone is safer: nothing typed is lost or run as a command.)
func (m Model) escThenKey(msg tea.KeyPressMsg) bool {
	if msg.Mod&^tea.ModShift != tea.ModAlt || m.screen == screenFleet || m.capturing() || m.altBound(msg) {
		return false
	}
	return m.plainAlt(msg).Text != ""
}

// altBound reports whether the alt key has a binding of its own: a global or screen
// key, or (while text is being typed) one of the text input's and text area's word keys.
func (m Model) altBound(msg tea.KeyPressMsg) bool {
	k := m.c.Keys
	bound := []key.Binding{k.Quit, k.Back, k.Help, k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown,
		k.Enter, k.Filter, k.Query, k.Edit, k.Editor, k.Events, k.Rollout, k.Refresh, k.Left, k.Right}
	switch m.screen {
	case screenFleet:
		bound = append(bound, m.fleet.Help()...)
	case screenTwin:
		bound = append(bound, m.twin.Help()...)
	case screenEdit:
		bound = append(bound, m.edit.Help()...)
	case screenEvents:
		bound = append(bound, m.events.Help()...)
	case screenRollout:
		bound = append(bound, m.rollout.Help()...)
	}
	if key.Matches(msg, bound...) {
		return true
	}
	if !m.capturing() {
		return false
	}
	switch msg.String() {
	case "alt+f", "alt+b", "alt+d", "alt+left", "alt+right", "alt+backspace", "alt+delete",
		"alt+<", "alt+>", "alt+c", "alt+l", "alt+u", "alt+shift+f", "alt+shift+b",
		"alt+shift+left", "alt+shift+right":
		return true
	}
	return false
}
