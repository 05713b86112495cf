package rollout

import (
	"sort"
	"strconv"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// A started rollout's progress: every chosen device classified by what it reports,
// recounted as the fleet changes (at most every refreshEvery for large rollouts), and the
// failure limit checked after each recount.

// Progress states, in display order.
const (
	stSucceeded = iota
	stRebooting
	stInstalling
	stDownloading
	stFailed
	stOffline
	stWaiting
	stNotStarted
	numStates
)

var stateNames = [numStates]string{"succeeded", "rebooting", "installing", "downloading", "failed", "offline", "waiting", "not started"}

type progress struct {
	counts [numStates]int
	failed []string // device ids, sorted
	busy   []string // devices downloading, installing or rebooting, sorted
}

// progress classifies every chosen device by what it reports.
func (m Model) progress() progress {
	var p progress
	for _, id := range m.ids {
		s := m.classify(id)
		p.counts[s]++
		switch s {
		case stFailed:
			p.failed = append(p.failed, id)
		case stDownloading, stInstalling, stRebooting:
			p.busy = append(p.busy, id)
		}
	}
	sort.Strings(p.failed)
	sort.Strings(p.busy)
	return p
}

func (m Model) classify(id string) int {
	d := m.c.Store.Get(id)
	if d == nil {
		return stOffline
	}
	if _, bad := m.writeErr[id]; bad {
		return stFailed
	}
	if rep, ok := twin.Lookup(d.Reported.Values, m.path...); ok && twin.Equal(rep, m.value) {
		return stSucceeded
	}
	fw, _ := twin.Lookup(d.Reported.Values, "firmware", "status")
	des, _ := twin.Lookup(d.Desired.Values, m.path...)
	if !twin.Equal(des, m.value) || m.queued(id) {
		return stNotStarted
	}
	// A status reported before our write is the previous update's: not an answer yet.
	acted := !common.MetaAt(d.Reported.Meta, "firmware", "status").Before(common.MetaAt(d.Desired.Meta, m.path...))
	switch {
	case acted && fw == "failed":
		return stFailed
	case acted && fw == "rebooting":
		return stRebooting // a rebooting device is offline for a while: that is expected
	case d.ConnectionState != "Connected":
		return stOffline
	case !acted:
		return stWaiting
	case fw == "downloading":
		return stDownloading
	case fw == "installing" || fw == "applying":
		return stInstalling
	}
	return stWaiting
}

// refreshEvery bounds how often a large rollout's progress is recounted; a recount also
// waits ten times as long as the last one took, so that recounting takes at most a tenth
// of the console's update goroutine (BenchmarkRolloutRecount: ~30 ms at 10,000 devices,
// ~350 ms at 100,000 on the project machine, so every ~3.5 s there).
const refreshEvery = 200 * time.Millisecond

// refresh recounts the progress: at once for small rollouts or when forced, at most every
// refreshEvery for large ones.
func (m *Model) refresh(force bool) {
	if !m.ran() {
		return
	}
	if !force && len(m.ids) > 2000 && time.Since(m.progAt) < max(refreshEvery, 10*m.recountTook) {
		return
	}
	start := time.Now()
	m.prog, m.progAt = m.progress(), start
	m.watchConnections()
	m.recountTook = time.Since(start)
	if m.phase == phaseRunning && len(m.queue) > 0 { // with nothing left to write, nothing to pause
		failed, dark := m.troubled()
		fresh := 0
		for _, id := range append(failed, dark...) {
			if !m.excused[id] {
				fresh++
			}
		}
		if why := m.limit.reached(len(failed)+len(dark), fresh, m.written); why != "" {
			m.phase, m.autoPaused, m.autoDark = phasePaused, why, ""
			if len(dark) > 0 {
				m.autoDark = strconv.Itoa(len(dark)) + " of them gone dark: offline over " + minutes(darkAfter) +
					" (" + minutes(darkAfterReboot) + " if rebooting)"
			}
		}
	}
}

// queued reports whether device id is still waiting for its write: the queue is taken
// from the front, so that is a place at or after the first still queued. (A map of the
// queue rebuilt at every recount cost megabytes a second at 100,000 devices.)
func (m Model) queued(id string) bool {
	i, ok := m.order[id]
	return ok && i >= m.total-len(m.queue)
}

// finishIfSent ends a running or paused rollout whose writes are all sent and answered.
func (m *Model) finishIfSent() bool {
	if m.Active() && len(m.queue) == 0 && m.inFlight == 0 {
		m.phase = phaseDone
		return true
	}
	return false
}
