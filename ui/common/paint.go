package common

import (
	"strings"

	"github.com/twinops/twinops/theme"
)

// KindPaint is the paint of an event kind (connected green, disconnected red, …).
func KindPaint(st *theme.Styles, kind string) theme.Paint {
	switch kind {
	case "connected", "created":
		return st.OK
	case "disconnected", "deleted":
		return st.Bad
	case "desired", "tags":
		return st.Accent
	}
	return st.Info
}

var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// Sparkline renders counts as a row of block characters scaled to the largest.
func Sparkline(counts []int) string {
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	var b strings.Builder
	for _, c := range counts {
		if top == 0 || c == 0 {
			b.WriteRune(' ')
			continue
		}
		i := c * (len(sparkBlocks) - 1) / top
		b.WriteRune(sparkBlocks[i])
	}
	return b.String()
}

// Bar renders a horizontal bar of w cells filled to frac (0..1).
func Bar(frac float64, w int) string {
	if w <= 0 {
		return ""
	}
	frac = max(0, min(1, frac))
	full := int(frac*float64(w) + 0.5)
	return strings.Repeat("█", full) + strings.Repeat("░", w-full)
}
