package common

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/twin"
)

// Fit pads or truncates plain text s to exactly w cells (with "…" when cut).
func Fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := width(s)
	switch {
	case n == w:
		return s
	case n < w:
		return s + strings.Repeat(" ", w-n)
	}
	if w == 1 {
		return "…"
	}
	if isASCII(s) {
		return s[:w-1] + "…"
	}
	return Fit(ansi.Truncate(s, w, "…"), w)
}

// FitRight right-aligns plain text s in w cells.
func FitRight(s string, w int) string {
	n := width(s)
	if n >= w {
		return Fit(s, w)
	}
	return strings.Repeat(" ", w-n) + s
}

// Width is the display width of s (escape sequences ignored).
func Width(s string) int { return ansi.StringWidth(s) }

func width(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return ansi.StringWidth(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || s[i] < 0x20 {
			return false
		}
	}
	return true
}

// TruncateLine cuts a styled line to w cells.
func TruncateLine(s string, w int) string {
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// Age formats how long ago t was, compactly: "now", "42s", "5m", "3h", "12d"; "-" for zero.
func Age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// Value formats a JSON value compactly on one line ("-" when absent).
func Value(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

// Plain formats a scalar JSON value without quotes (for table cells).
func Plain(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	return Value(v)
}

// PadLines pads or cuts the block to exactly h lines.
func PadLines(lines []string, h int) []string {
	if len(lines) > h {
		return lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines
}

// MetaAt finds the $lastUpdated of a path in a $metadata tree (the nearest ancestor's
// when the path has no node of its own).
func MetaAt(m *twin.Meta, path ...string) time.Time {
	if m == nil {
		return time.Time{}
	}
	for _, p := range path {
		c := m.Child(p)
		if c == nil {
			break
		}
		m = c
	}
	return m.LastUpdated()
}

// Ago is Age as a phrase: "just now", "5s ago".
func Ago(now, t time.Time) string {
	a := Age(now, t)
	switch a {
	case "now":
		return "just now"
	case "-":
		return "at an unknown time"
	}
	return a + " ago"
}
