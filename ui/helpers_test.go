package ui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

func keyCtrl(r rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: r, Mod: tea.ModCtrl} }

func stripANSI(s string) string { return ansi.Strip(s) }

func indexOf(s, sub string) int { return strings.Index(s, sub) }
