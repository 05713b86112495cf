// Package theme holds the console's look: a small semantic palette (what a colour means,
// not which colour it is) and the lipgloss styles built from it, for dark and light
// terminal backgrounds and for NO_COLOR. Themes are values passed to the screens; there
// is no package-level mutable state.
package theme

import (
	"image/color"
	"strings"

	"charm.land/lipgloss/v2"
)

// Palette is the semantic colour set a theme is built from.
type Palette struct {
	Fg, Muted, Faint, Accent, Border color.Color
	OK, Warn, Bad, Info, Highlight   color.Color
	SelBg, SelFg, BarBg, MarkFg      color.Color
}

// DarkPalette is the palette for dark terminal backgrounds.
func DarkPalette() Palette {
	return Palette{
		Fg: lipgloss.Color("#d7dae0"), Muted: lipgloss.Color("#8b93a1"), Faint: lipgloss.Color("#5c6370"),
		Accent: lipgloss.Color("#61afef"), Border: lipgloss.Color("#3e4451"),
		OK: lipgloss.Color("#98c379"), Warn: lipgloss.Color("#e5c07b"), Bad: lipgloss.Color("#ff6b6b"),
		Info: lipgloss.Color("#56b6c2"), Highlight: lipgloss.Color("#c678dd"),
		SelBg: lipgloss.Color("#2c3e5c"), SelFg: lipgloss.Color("#ffffff"),
		BarBg: lipgloss.Color("#21252b"), MarkFg: lipgloss.Color("#ff9e3d"),
	}
}

// LightPalette is the palette for light terminal backgrounds.
func LightPalette() Palette {
	return Palette{
		Fg: lipgloss.Color("#24292f"), Muted: lipgloss.Color("#57606a"), Faint: lipgloss.Color("#8c959f"),
		Accent: lipgloss.Color("#0969da"), Border: lipgloss.Color("#d0d7de"),
		OK: lipgloss.Color("#1a7f37"), Warn: lipgloss.Color("#9a6700"), Bad: lipgloss.Color("#cf222e"),
		Info: lipgloss.Color("#1b7c83"), Highlight: lipgloss.Color("#8250df"),
		SelBg: lipgloss.Color("#ddf4ff"), SelFg: lipgloss.Color("#000000"),
		BarBg: lipgloss.Color("#eaeef2"), MarkFg: lipgloss.Color("#bc4c00"),
	}
}

// Paint applies one simple style (colours and attributes, no padding or borders) by
// wrapping a string in precomputed escape sequences. It is much cheaper than
// lipgloss.Style.Render and is what per-row rendering uses.
type Paint struct{ pre, post string }

// S returns s wrapped in the paint's escape sequences.
func (p Paint) S(s string) string {
	if p.pre == "" || s == "" {
		return s
	}
	return p.pre + s + p.post
}

// NewPaint precomputes the escape sequences of a style that has no layout properties.
func NewPaint(st lipgloss.Style) Paint {
	const probe = "\u2063" // invisible separator: never in our data
	out := st.Render(probe)
	i := strings.Index(out, probe)
	if i < 0 {
		return Paint{}
	}
	return Paint{pre: out[:i], post: out[i+len(probe):]}
}

// Styles are the styles every screen draws with.
type Styles struct {
	Dark, Mono bool
	Palette    Palette

	Text, Muted, Faint, Accent, Bold Paint
	OK, Warn, Bad, Info, Highlight   Paint
	Selected, Marked, Header, Title  Paint
	Bar, BarKey, BarErr, BarOK       Paint
	Added, Removed                   Paint

	Box    lipgloss.Style // bordered panels (dialogs, help)
	Key    lipgloss.Style // help: key
	Desc   lipgloss.Style // help: description
	Prompt lipgloss.Style // input prompts (/, :)
}

// New builds the styles for a dark or light background. With mono (NO_COLOR) it uses
// only attributes (bold, reverse, underline), never colour.
func New(dark, mono bool) *Styles {
	p := LightPalette()
	if dark {
		p = DarkPalette()
	}
	s := &Styles{Dark: dark, Mono: mono, Palette: p}
	fg := func(c color.Color) lipgloss.Style {
		if mono {
			return lipgloss.NewStyle()
		}
		return lipgloss.NewStyle().Foreground(c)
	}
	s.Text = NewPaint(fg(p.Fg))
	s.Muted = NewPaint(fg(p.Muted))
	s.Faint = NewPaint(fg(p.Faint).Faint(mono))
	s.Accent = NewPaint(fg(p.Accent).Bold(true))
	s.Bold = NewPaint(lipgloss.NewStyle().Bold(true))
	s.OK = NewPaint(fg(p.OK))
	s.Warn = NewPaint(fg(p.Warn))
	s.Bad = NewPaint(fg(p.Bad).Bold(true))
	s.Info = NewPaint(fg(p.Info))
	s.Highlight = NewPaint(fg(p.Highlight).Bold(true).Underline(mono))
	s.Added = NewPaint(fg(p.OK))
	s.Removed = NewPaint(fg(p.Bad))
	s.Header = NewPaint(fg(p.Muted).Bold(true))
	s.Title = NewPaint(fg(p.Accent).Bold(true))
	s.Marked = NewPaint(fg(p.MarkFg).Bold(true))
	if mono {
		s.Selected = NewPaint(lipgloss.NewStyle().Reverse(true))
		s.Bar = NewPaint(lipgloss.NewStyle().Reverse(true))
		s.BarKey = NewPaint(lipgloss.NewStyle().Reverse(true).Bold(true))
		s.BarErr = NewPaint(lipgloss.NewStyle().Reverse(true).Bold(true))
		s.BarOK = NewPaint(lipgloss.NewStyle().Reverse(true))
	} else {
		s.Selected = NewPaint(lipgloss.NewStyle().Background(p.SelBg).Foreground(p.SelFg))
		s.Bar = NewPaint(lipgloss.NewStyle().Background(p.BarBg).Foreground(p.Muted))
		s.BarKey = NewPaint(lipgloss.NewStyle().Background(p.BarBg).Foreground(p.Accent).Bold(true))
		s.BarErr = NewPaint(lipgloss.NewStyle().Background(p.BarBg).Foreground(p.Bad).Bold(true))
		s.BarOK = NewPaint(lipgloss.NewStyle().Background(p.BarBg).Foreground(p.OK))
	}
	border := lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
	if !mono {
		border = border.BorderForeground(p.Accent)
	}
	s.Box = border
	s.Key = fg(p.Accent).Bold(true)
	s.Desc = fg(p.Muted)
	s.Prompt = fg(p.Accent).Bold(true)
	return s
}
