package common

import "charm.land/bubbles/v2/key"

// KeyMap holds the keys every screen understands. Screens add their own bindings and
// list them in their Help.
type KeyMap struct {
	Quit, Back, Help            key.Binding
	Up, Down, Top, Bottom       key.Binding
	PageUp, PageDown, Enter     key.Binding
	Filter, Query, Edit, Editor key.Binding
	Events, Rollout, Refresh    key.Binding
	Left, Right                 key.Binding
}

// DefaultKeys returns the k9s-style key map.
func DefaultKeys() KeyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return KeyMap{
		Quit:     b("ctrl+c", "quit", "ctrl+c"),
		Back:     b("q/esc", "back", "q", "esc"),
		Help:     b("?", "help", "?"),
		Up:       b("k/↑", "up", "k", "up"),
		Down:     b("j/↓", "down", "j", "down"),
		Top:      b("g/home", "top", "g", "home"),
		Bottom:   b("G/end", "bottom", "G", "end"),
		PageUp:   b("pgup/ctrl+b", "page up", "pgup", "ctrl+b", "ctrl+u"),
		PageDown: b("pgdn/ctrl+f", "page down", "pgdown", "ctrl+f", "ctrl+d"),
		Enter:    b("enter", "open", "enter"),
		Filter:   b("/", "filter", "/"),
		Query:    b(":", "query", ":"),
		Edit:     b("e", "edit desired/tags", "e"),
		Editor:   b("E", "edit in $EDITOR", "E"),
		Events:   b("v", "event stream", "v"),
		Rollout:  b("r", "rollout", "r"),
		Refresh:  b("ctrl+r", "re-read from hub", "ctrl+r"),
		Left:     b("h/←", "left", "h", "left"),
		Right:    b("l/→", "right", "l", "right"),
	}
}
