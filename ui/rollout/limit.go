package rollout

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twinops/twinops/ui/common"
)

// A rollout pauses its writes by itself when too many of the devices written so far
// report a failure, as AWS IoT Jobs' abort criteria and hawkBit's error condition do: at
// 2 a.m. the operator may not be watching when a bad image starts failing, and every
// further write spreads it. The writes pause rather than abort: the operator looks, then
// resumes (p) or aborts (A).

// defaultLimit is the failure limit a plan starts with.
const defaultLimit = "5%"

// minWrittenForShare is how many devices must have been written before a share limit
// applies (with fewer, one failure would be a large share of nothing); AWS calls it
// minNumberOfExecutedThings. A rollout of no more devices than this is all written before
// a share could apply: its review says so (a count still applies).
const minWrittenForShare = 10

// limit is a parsed failure limit: a share of the written devices (pct > 0), a device
// count (count > 0), or off (both 0).
type limit struct {
	pct   float64
	count int
}

// parseLimit reads "5%", "10" or "off" (also ""). 0 is refused: an operator may mean
// "pause at the first failure" (that is 1) or "no limit" (that is off).
func parseLimit(s string) (limit, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch {
	case s == "" || s == "off":
		return limit{}, true
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil || p <= 0 || p > 100 {
			return limit{}, false
		}
		return limit{pct: p}, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 { // 0 reads as "no failure allowed" and as "no limit": neither is taken
		return limit{}, false
	}
	return limit{count: n}, true
}

// String is the limit as the review and the progress show it.
func (l limit) String() string {
	switch {
	case l.pct > 0:
		return strconv.FormatFloat(l.pct, 'f', -1, 64) + "% of written failed or dark (from " +
			strconv.Itoa(minWrittenForShare) + " written)"
	case l.count > 0:
		return strconv.Itoa(l.count) + " failed or dark"
	}
	return ""
}

// reached says why the writes should pause now ("" if they should not): failed of the
// written devices have failed, fresh of them since the operator last resumed (only a
// fresh failure pauses again).
func (l limit) reached(failed, fresh, written int) string {
	return l.reachedFrom(failed, fresh, written, minWrittenForShare)
}

// reachedFrom is reached with a share applying from from written devices.
func (l limit) reachedFrom(failed, fresh, written, from int) string {
	if fresh == 0 {
		return ""
	}
	of := strconv.Itoa(failed) + " of " + strconv.Itoa(written) + " written had failed"
	switch {
	case l.count > 0 && failed >= l.count:
		return of + " (limit " + strconv.Itoa(l.count) + ")"
	case l.pct > 0 && written >= from && float64(failed)*100 >= l.pct*float64(written):
		share := math.Round(1000*float64(failed)/float64(written)) / 10
		return of + " (" + strconv.FormatFloat(share, 'f', -1, 64) + "%, limit " + strconv.FormatFloat(l.pct, 'f', -1, 64) + "%)"
	}
	return ""
}

// appliesTo says whether the limit can pause a rollout of n devices.
func (l limit) appliesTo(n int) bool {
	return l.count > 0 || l.pct > 0 && n > minWrittenForShare
}

// A written device that goes dark counts against the failure limit like one that
// reports a failure: an update that bricks a device leaves it unable to report anything.
// It must have been seen connected after its write, and then be offline for darkAfter
// (darkAfterReboot when it said it reboots), timed by this screen's clock.
const (
	darkAfter       = 2 * time.Minute
	darkAfterReboot = 10 * time.Minute
)

func minutes(d time.Duration) string { return strconv.Itoa(int(d.Minutes())) + " min" }

// watchSync says whether the console is in sync with the hub, so that connection changes
// can be timed. While it is not, its store is stale: nothing is timed and what was is
// forgotten. Back in sync (a hub restart lists every device offline until it reconnects),
// devices get darkAfterReboot to come back, and every written device is looked at again
// (a resync need not name them all).
func (m *Model) watchSync() bool {
	if m.c.Store.Status.State != common.StateSynced {
		m.unsynced = true
		clear(m.offSince)
		m.prog.dark = nil
		return false
	}
	if m.unsynced {
		m.unsynced, m.darkFrom = false, m.c.Now().Add(darkAfterReboot)
		for id := range m.answered {
			m.watch(id)
		}
	}
	return true
}

// watch notes, for a written device, whether it has been seen connected since its write
// (wasUp) and since when it is offline (offSince).
func (m *Model) watch(id string) {
	d := m.c.Store.Get(id)
	switch {
	case d == nil:
		delete(m.offSince, id)
	case d.ConnectionState == "Connected":
		m.wasUp[id] = true
		delete(m.offSince, id)
	case m.wasUp[id]:
		if _, ok := m.offSince[id]; !ok {
			m.offSince[id] = m.c.Now()
		}
	}
}

// timeDark lists the written devices gone dark by now (progress.dark), on the tick.
func (m *Model) timeDark() {
	p := m.prog
	p.dark = p.dark[:0]
	now := m.c.Now()
	if now.Before(m.darkFrom) {
		return
	}
	for id, since := range m.offSince {
		if bound, ok := m.mayBeDark(id); ok && now.Sub(since) > bound {
			p.dark = append(p.dark, id)
		}
	}
	sort.Strings(p.dark)
}

// mayBeDark says whether written device id, seen offline, can count as dark now, and
// after how long offline: not when it is back or gone, and not when it reports success
// or failure (a failure counts already).
func (m Model) mayBeDark(id string) (time.Duration, bool) {
	if d := m.c.Store.Get(id); d == nil || d.ConnectionState == "Connected" {
		return 0, false
	}
	switch m.prog.state[id] {
	case stFailed, stSucceeded, stNotStarted:
		return 0, false
	case stRebooting:
		return darkAfterReboot, true
	}
	return darkAfter, true
}

// troubled lists, of the devices this rollout wrote and the hub answered, those that
// have failed since and those gone dark by the last tick and not back since (a device
// that had failed before and already held the value is neither).
func (m Model) troubled() (failed, dark []string) {
	for _, id := range m.prog.failed {
		if m.answered[id] {
			failed = append(failed, id)
		}
	}
	for _, id := range m.prog.dark {
		if _, ok := m.mayBeDark(id); ok {
			dark = append(dark, id)
		}
	}
	return failed, dark
}
