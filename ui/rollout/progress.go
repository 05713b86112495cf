package rollout

import (
	"slices"
	"sort"
	"strconv"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// A started rollout's progress: every chosen device classified by what it reports, kept
// up to date as the fleet changes, and the failure limit checked after each change.

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

// progress is a started rollout's progress, kept up to date device by device: a fleet
// change reclassifies the chosen devices it names, a write's answer and a write leaving
// the queue the device written. Counting every device again takes a third of a second
// at 100,000 devices (BenchmarkRolloutRecount), so that is done once, when the rollout
// starts. Copies of the model share it, as they share its maps.
type progress struct {
	state  map[string]int8 // each chosen device's state
	counts [numStates]int
	failed []string // device ids, sorted
	busy   []string // devices downloading, installing or rebooting, sorted
	// dark lists the written devices gone dark (see darkAfter), sorted: timed on the
	// once-a-second tick (darkness is counted in minutes), so that a change need not
	// walk every offline device.
	dark []string
}

// recountAll classifies every chosen device (on every core: classifying only reads).
func (m *Model) recountAll() {
	states := make([]int8, len(m.ids))
	common.Parallel(len(m.ids), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			states[i] = int8(m.classify(m.ids[i]))
		}
	})
	p := &progress{state: make(map[string]int8, len(m.ids))}
	for i, id := range m.ids {
		n := len(p.state)
		if p.state[id] = states[i]; len(p.state) == n {
			continue // listed twice: counted once
		}
		p.counts[states[i]]++
		switch s := states[i]; {
		case s == stFailed:
			p.failed = append(p.failed, id)
		case busy(s):
			p.busy = append(p.busy, id)
		}
	}
	sort.Strings(p.failed)
	sort.Strings(p.busy)
	m.prog = p
}

// recount classifies device id again, if it is one of the chosen.
func (m *Model) recount(id string) {
	p := m.prog
	was, ok := p.state[id]
	if !ok {
		return
	}
	s := int8(m.classify(id))
	if s == was {
		return
	}
	p.state[id] = s
	p.counts[was]--
	p.counts[s]++
	p.failed = sortedSet(p.failed, id, s == stFailed)
	p.busy = sortedSet(p.busy, id, busy(s))
}

// busy reports whether a state is an update under way: the progress's busy list.
func busy(s int8) bool { return s == stDownloading || s == stInstalling || s == stRebooting }

// sortedSet adds id to the sorted list (in) or removes it (!in), and returns the list.
func sortedSet(list []string, id string, in bool) []string {
	i, found := slices.BinarySearch(list, id)
	switch {
	case in && !found:
		return slices.Insert(list, i, id)
	case !in && found:
		return slices.Delete(list, i, i+1)
	}
	return list
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

// fleetChanged brings the progress and the connection watch up to date with a fleet
// change, then checks the failure limit.
func (m *Model) fleetChanged(msg common.FleetChangedMsg) {
	if !m.ran() {
		return
	}
	synced := m.watchSync()
	for id := range msg.Changed {
		m.recount(id)
		if synced && m.answered[id] {
			m.watch(id)
		}
	}
	m.checkHolds()
}

// checkHolds holds the writes where the failure limit or the first wave says so.
func (m *Model) checkHolds() {
	m.checkLimit()
	m.checkWave()
}

// checkLimit pauses a running rollout whose failed or dark written devices have reached
// its failure limit.
func (m *Model) checkLimit() {
	if m.phase != phaseRunning || len(m.queue) == 0 { // with nothing left to write, nothing to pause
		return
	}
	failed, dark := m.troubled()
	fresh := 0
	for _, id := range append(failed, dark...) {
		if !m.excused[id] {
			fresh++
		}
	}
	if why := m.limit.reached(len(failed)+len(dark), fresh, m.written); why != "" {
		m.phase, m.autoPaused, m.autoDark, m.autoPausedAt = phasePaused, why, "", m.c.Now()
		if len(dark) > 0 {
			m.autoDark = strconv.Itoa(len(dark)) + " of them gone dark: offline over " + minutes(darkAfter) +
				" (" + minutes(darkAfterReboot) + " if rebooting)"
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
