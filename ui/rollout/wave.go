package rollout

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// A rollout writes a first wave of devices, then holds the rest until each of the wave
// has an outcome, as a canary: a fast rollout is otherwise all written before the first
// device has finished its update, and the failure limit has nothing left to pause. (AWS
// IoT Jobs' rateIncreaseCriteria and hawkBit's group success condition gate the same
// way; the peer survey lists the gate among what users ask for.) While the wave is held,
// its failures count against the limit as they come, so a failing canary auto-pauses the
// rollout before the rest of the fleet is touched; when the wave is done the limit is
// checked once more on the wave alone, whatever its size. n writes the rest at once.

// defaultWave is the first wave a plan starts with.
const defaultWave = "10"

// parseWave reads the first wave's size: a device count ("10"), a share of the devices
// the rollout changes ("1%", at least one device), or none ("off", "0", "").
func parseWave(s string, changing int) (int, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch {
	case s == "" || s == "off" || s == "0" || s == "0%":
		return 0, true
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil || p <= 0 || p > 100 {
			return 0, false
		}
		return max(int(math.Ceil(p*float64(changing)/100)), 1), true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// gated reports whether the first wave holds back the rest of the queue: it is written
// (or being written) and not yet done.
func (m Model) gated() bool {
	return !m.waveOpen && m.total-len(m.queue) >= m.wave
}

// waveOutcomes counts the first wave's devices that have an outcome (succeeded, failed,
// refused, gone dark, or offline since before their write: nothing to learn from them
// until they connect), and lists the failed and dark ones. A device whose change the
// console has not seen yet, or whose value another writer has changed since, has none.
func (m Model) waveOutcomes() (done int, troubled []string) {
	dark := make(map[string]bool, len(m.prog.dark))
	for _, id := range m.prog.dark {
		dark[id] = true
	}
	for _, id := range m.waveIDs {
		if m.c.Store.Get(id) == nil { // deleted since: nothing to learn from it
			done++
			continue
		}
		switch s := m.prog.state[id]; {
		case s == stFailed || dark[id]:
			done++
			troubled = append(troubled, id)
		case s == stSucceeded:
			done++
		case s == stOffline && !m.wasUp[id]: // not seen since its write: it will update when it connects
			done++
		}
	}
	return done, troubled
}

// checkWave opens the gate once every device of the first wave is answered and has an
// outcome, unless the wave's own failures reach the failure limit: then the rollout
// auto-pauses, and resuming (which excuses them) opens it.
func (m *Model) checkWave() {
	if m.waveOpen || m.phase != phaseRunning || !m.gated() || m.inFlight > 0 {
		return
	}
	done, troubled := m.waveOutcomes()
	if done < len(m.waveIDs) {
		if m.waveWait.IsZero() {
			m.waveWait = m.c.Now()
		}
		return
	}
	fresh := 0
	for _, id := range troubled {
		if !m.excused[id] {
			fresh++
		}
	}
	// The wave alone: a share applies whatever the wave's size.
	if why := m.limit.reachedFrom(len(troubled), fresh, len(m.waveIDs), 1); why != "" {
		m.phase, m.autoPaused, m.autoDark, m.autoPausedAt = phasePaused, "first wave: "+why, "", m.c.Now()
		return
	}
	m.waveOpen = true
}

// waveStall is how long the first wave may wait for an outcome before the screen and
// the status line say it stalled: a device that reports nothing (connected but not
// reporting firmware status, or whose value another writer changed) holds the rest for
// as long as no one presses n, and at 2 a.m. that must show.
const waveStall = 10 * time.Minute

// waveStalled reports whether the first wave has waited for outcomes over waveStall.
func (m Model) waveStalled() bool {
	return m.Active() && m.gated() && !m.waveWait.IsZero() && m.c.Now().Sub(m.waveWait) > waveStall
}

// waveLine says, while the first wave holds the rest, how far it is.
func (m Model) waveLine() string {
	done, troubled := m.waveOutcomes()
	s := "first wave: " + strconv.Itoa(done) + " of " + strconv.Itoa(len(m.waveIDs)) + " finished"
	if len(troubled) > 0 {
		s += " (" + strconv.Itoa(len(troubled)) + " failed or dark)"
	}
	if done < len(m.waveIDs) {
		s += "; the other " + strconv.Itoa(len(m.queue)) + " wait until all " + strconv.Itoa(len(m.waveIDs)) + " have"
	}
	return s
}

// waveReview is the review's line about the first wave.
func (m Model) waveReview() string {
	switch {
	case m.changing <= 1:
		return ""
	case m.wave == 0:
		return "no first wave: all are written at the rate, whatever the first report"
	case m.wave >= m.changing:
		return ""
	case m.wave == 1:
		return "first 1 device, then the rest once it has succeeded, failed or gone dark"
	}
	return "first " + strconv.Itoa(m.wave) + " devices, then the rest once each has succeeded, failed or gone dark"
}
