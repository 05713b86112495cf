package ui

import (
	"os"
	"runtime/debug"
	"time"

	tea "charm.land/bubbletea/v2"
)

// startupGOGC is the collector's target while the first listing arrives. The heap only
// grows then (the fleet's twins and rows), and with the default of 100 the collector
// marks it again at every doubling: 13 collections for 100,000 twins, 0.2–0.3 of the
// console's 1.3–1.5 CPU-seconds of start-up. At 400 it collects 5 times; the peak heap
// stays near the default's (≈200 MB for 100,000 twins: the listing ends before the next
// collection is due), and the default is back as soon as the fleet is in.
const startupGOGC = 400

// startupGCFor bounds how long the raised target can last if the fleet never arrives.
const startupGCFor = time.Minute

// startGC holds the collector's setting to restore after start-up; it is shared by the
// copies of the root model (a pointer), set by Init and cleared once restored.
type startGC struct {
	restore func()
	until   time.Time
}

// raise sets the start-up target, unless the user chose one with GOGC.
func (g *startGC) raise(now time.Time) {
	if g.restore != nil || os.Getenv("GOGC") != "" {
		return
	}
	prev := debug.SetGCPercent(startupGOGC)
	g.restore = func() { debug.SetGCPercent(prev) }
	g.until = now.Add(startupGCFor)
}

// end restores the setting when done (the fleet is in or cannot come) or too late, and
// then returns the command that gives the start-up's garbage back to the operating
// system (nil otherwise).
func (g *startGC) end(done bool, now time.Time) tea.Cmd {
	if g.restore == nil || !done && !now.After(g.until) {
		return nil
	}
	g.restore()
	g.restore = nil
	return releaseMemory
}

// releaseMemory collects and returns freed memory to the operating system, on a command
// goroutine (the screen stays live meanwhile). At the raised target the listing leaves
// ≈220 MB of garbage (its answers, read and copied by paho) for 100,000 twins; without
// this the process would keep it as resident memory (375 MB instead of ≈200 MB).
func releaseMemory() tea.Msg {
	debug.FreeOSMemory()
	return nil
}
