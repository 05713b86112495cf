package rollout

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

func TestParseLimit(t *testing.T) {
	tests := map[string]struct {
		in   string
		want limit
		ok   bool
	}{
		"share":           {"5%", limit{pct: 5}, true},
		"share, spaced":   {" 2.5 % ", limit{pct: 2.5}, true},
		"count":           {"10", limit{count: 10}, true},
		"off":             {"off", limit{}, true},
		"empty is off":    {"", limit{}, true},
		"zero is refused": {"0", limit{}, false}, // no failure allowed, or no limit? 1 or off says which
		"zero share":      {"0%", limit{}, false},
		"over 100%":       {"150%", limit{}, false},
		"negative count":  {"-1", limit{}, false},
		"a word":          {"some", limit{}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseLimit(tc.in)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("parseLimit(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestLimitReached(t *testing.T) {
	tests := map[string]struct {
		l                      limit
		failed, fresh, written int
		pause                  bool
	}{
		"share reached":                    {limit{pct: 5}, 1, 1, 20, true},
		"share not reached":                {limit{pct: 5}, 1, 1, 21, false},
		"share waits for 10 written":       {limit{pct: 5}, 1, 1, 9, false},
		"share hit exactly (7% of 100)":    {limit{pct: 7}, 7, 1, 100, true},
		"count reached":                    {limit{count: 3}, 3, 1, 100, true},
		"count not reached":                {limit{count: 3}, 2, 2, 100, false},
		"no new failure since the resume":  {limit{count: 3}, 3, 0, 120, false},
		"a new failure after the resume":   {limit{count: 3}, 4, 1, 120, true},
		"off":                              {limit{}, 50, 50, 100, false},
		"no failure, nothing to pause for": {limit{pct: 5}, 0, 0, 100, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			why := tc.l.reached(tc.failed, tc.fresh, tc.written)
			if (why != "") != tc.pause {
				t.Fatalf("reached = %q, want pause %v", why, tc.pause)
			}
		})
	}
}

// TestRolloutPausesAtTheFailureLimit: with a limit of 1 failed device, the writes pause
// by themselves when a written device reports a failure, say why, resume on p, and do
// not pause again for the same failure.
func TestRolloutPausesAtTheFailureLimit(t *testing.T) {
	m, be := setup(t, 40)
	m = typeIn(m, "2.0.0")
	m = press(m, "tab", "tab") // rate 10, then the failure limit (5%, selected)
	m = typeIn(m, "1")
	m = press(m, "enter")
	if m.phase != phaseConfirm || m.limit != (limit{count: 1}) {
		t.Fatalf("phase %d limit %+v err %q", m.phase, m.limit, m.err)
	}
	if out := ansi.Strip(m.View()); !strings.Contains(out, "auto-pause at 1 failed or dark") {
		t.Fatalf("the review does not state the limit:\n%s", out)
	}
	m = press(typeIn(m, "yes"), "enter")
	m, cmd := m.Update(tickMsg{runID: m.runID, gen: m.tickGen}) // 10/s: one write per tick
	for _, d := range writes(cmd) {
		m, _ = m.Update(d)
	}
	if len(be.Patches) != 1 || m.phase != phaseRunning {
		t.Fatalf("%d writes, phase %d", len(be.Patches), m.phase)
	}
	fail := func(id string) {
		d, _ := be.GetTwin(context.Background(), id)
		if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": "failed"}}, uitest.Clock.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}))
	}
	fail(be.Patches[0].ID)
	if m.phase != phasePaused {
		t.Fatalf("phase %d after a failure at a limit of 1, want paused", m.phase)
	}
	if out := ansi.Strip(m.View()); !strings.Contains(out, ": 1 of 1 written had failed (limit 1)") || !strings.Contains(out, "⚠ auto-paused at ") ||
		!strings.HasPrefix(out, "rollout  AUTO-PAUSED") {
		t.Fatalf("the pause is not explained:\n%s", out)
	}
	if got := m.Halted(); got != "AUTO-PAUSED" {
		t.Fatalf("Halted() = %q, want AUTO-PAUSED", got)
	}
	m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
	if n := len(writes(cmd)); n != 0 {
		t.Fatalf("the paused rollout wrote %d devices", n)
	}
	m = press(m, "p") // resume: the same failure does not pause it again
	m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
	for _, d := range writes(cmd) {
		m, _ = m.Update(d)
	}
	if m.phase != phaseRunning || len(be.Patches) != 2 || strings.Contains(ansi.Strip(m.View()), "auto-paused") {
		t.Fatalf("after p: phase %d, %d writes", m.phase, len(be.Patches))
	}
	fail(be.Patches[1].ID) // a new failure pauses again
	if m.phase != phasePaused {
		t.Fatalf("phase %d after a second failure, want paused", m.phase)
	}
}

// planLimit plans value on the test fleet with the rate and failure limit typed over the
// defaults, confirms it and returns the running rollout.
func planLimit(t *testing.T, m Model, value, rate, lim string) Model {
	t.Helper()
	m = typeIn(m, value)
	m = press(m, "tab")
	m = typeIn(m, rate)
	m = press(m, "tab")
	m = typeIn(m, lim)
	m = press(m, "enter")
	m = press(typeIn(m, "yes"), "enter")
	if m.phase != phaseRunning {
		t.Fatalf("phase %d err %q", m.phase, m.err)
	}
	return m
}

// reportFailed makes device id report a failed firmware update (after its desired change,
// to value if value is not nil) and brings it into the screen's store.
func reportFailed(t *testing.T, m Model, be *uitest.Backend, id string, value any) Model {
	t.Helper()
	d, _ := be.GetTwin(context.Background(), id)
	at := uitest.Clock.Add(time.Hour)
	if value != nil {
		if err := d.Patch(twin.Desired, map[string]any{"firmware": map[string]any{"version": value}}, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": "failed"}}, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}))
	return m
}

// TestRolloutLimitCountsOnlyItsOwnWrites: a device that failed before, and already held the
// value (so this rollout does not write it), does not count against the limit.
func TestRolloutLimitCountsOnlyItsOwnWrites(t *testing.T) {
	m, be := setup(t, 40)
	m = reportFailed(t, m, be, "dev-00039", "2.0.0")
	m = planLimit(t, m, "2.0.0", "10", "1")
	if got := m.prog.counts[stFailed]; got != 1 {
		t.Fatalf("failed %d, want the earlier failure shown (1)", got)
	}
	m, cmd := m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
	for _, d := range writes(cmd) {
		m, _ = m.Update(d)
	}
	if m.phase != phaseRunning {
		t.Fatalf("phase %d: an earlier failure of a device not written paused the rollout", m.phase)
	}
}

// TestRolloutLimitWithNothingLeftToWrite: once every write is sent and answered the
// rollout is done; a failure then does not pause it (there is nothing left to hold back).
func TestRolloutLimitWithNothingLeftToWrite(t *testing.T) {
	m, be := setup(t, 2)
	m = planLimit(t, m, "2.0.0", "20", "1") // 20/s: both written in the first tick
	m, cmd := m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
	for _, d := range writes(cmd) {
		m, _ = m.Update(d)
	}
	if m.phase != phaseDone {
		t.Fatalf("phase %d after every write was answered, want done", m.phase)
	}
	m = reportFailed(t, m, be, be.Patches[0].ID, nil)
	if m.phase != phaseDone || strings.Contains(ansi.Strip(m.View()), "auto-paused") {
		t.Fatalf("a finished rollout was paused: phase %d", m.phase)
	}
}

// TestRolloutLimitCountsDevicesGoneDark: a written device seen connected after its write
// that then stays offline past darkAfter (darkAfterReboot if it said it reboots), by the
// screen's own clock, counts against the limit; a flaky link, a device offline all along,
// or one whose last activity is simply old, does not.
func TestRolloutLimitCountsDevicesGoneDark(t *testing.T) {
	tests := map[string]struct {
		upAtWrite  bool
		rebooting  bool
		quietFor   time.Duration // how old its last activity is when it disconnects
		offlineFor time.Duration // then, by the screen's clock
		pause      bool
	}{
		"offline 30 s: a flaky link":           {upAtWrite: true, offlineFor: 30 * time.Second},
		"offline 3 min: gone dark":             {upAtWrite: true, offlineFor: 3 * time.Minute, pause: true},
		"quiet 10 min, offline just now":       {upAtWrite: true, quietFor: 10 * time.Minute},
		"offline all along":                    {upAtWrite: false, offlineFor: 30 * time.Minute},
		"rebooting 3 min: still a reboot":      {upAtWrite: true, rebooting: true, offlineFor: 3 * time.Minute},
		"rebooting 11 min: it did not come up": {upAtWrite: true, rebooting: true, offlineFor: 11 * time.Minute, pause: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, be := setup(t, 40)
			clock := uitest.Now()
			m.c.Now = func() time.Time { return clock }
			m.c.Store.Apply(common.Batch{Status: common.Status{State: common.StateSynced}})
			id := "dev-00000"
			d, _ := be.GetTwin(context.Background(), id)
			d.ConnectionState = "Disconnected"
			if tc.upAtWrite {
				d.ConnectionState = "Connected"
			}
			m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{id: d}}))
			m = planLimit(t, m, "2.0.0", "10", "1")
			m, cmd := m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
			for _, w := range writes(cmd) {
				m, _ = m.Update(w)
			}
			if len(be.Patches) != 1 || be.Patches[0].ID != id {
				t.Fatalf("writes %+v, want %s first", be.Patches, id)
			}
			d, _ = be.GetTwin(context.Background(), id)
			if tc.rebooting {
				if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": "rebooting"}}, clock.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			d.ConnectionState = "Disconnected"
			d.LastActivityTime = clock.Add(-tc.quietFor)
			m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{id: d}}))
			clock = clock.Add(tc.offlineFor)
			m, _ = m.Update(common.TickMsg{Time: clock})
			if got := m.phase == phasePaused; got != tc.pause {
				t.Fatalf("paused %v, want %v:\n%s", got, tc.pause, ansi.Strip(m.View()))
			}
			if tc.pause && !strings.Contains(ansi.Strip(m.View()), "GONE DARK (1)") {
				t.Fatalf("the dark device is not listed:\n%s", ansi.Strip(m.View()))
			}
			if tc.pause && !strings.Contains(ansi.Strip(m.View()), "1 of them gone dark") {
				t.Fatalf("the pause does not say a device went dark:\n%s", ansi.Strip(m.View()))
			}
		})
	}
}

// TestRolloutGoneDarkTiming: going offline again after a reconnect starts the timing over,
// and while the console is out of sync with the hub (a hub restart lists every device
// offline) nothing is timed, then devices get darkAfterReboot to come back.
func TestRolloutGoneDarkTiming(t *testing.T) {
	m, be := setup(t, 40)
	clock := uitest.Now()
	m.c.Now = func() time.Time { return clock }
	status := func(state string) {
		m, _ = m.Update(m.c.Store.Apply(common.Batch{Status: common.Status{State: state}}))
	}
	status(common.StateSynced)
	id := "dev-00000"
	conn := func(state string) {
		d, _ := be.GetTwin(context.Background(), id)
		d.ConnectionState = state
		m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{id: d}}))
	}
	wait := func(d time.Duration) {
		clock = clock.Add(d)
		m, _ = m.Update(common.TickMsg{Time: clock})
	}
	conn("Connected")
	m = planLimit(t, m, "2.0.0", "1", "1") // 1/s: a write every tenth tick
	for m.written == 0 {
		var cmd tea.Cmd
		m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
		for _, w := range writes(cmd) {
			m, _ = m.Update(w)
		}
	}
	if len(be.Patches) != 1 || be.Patches[0].ID != id {
		t.Fatalf("writes %+v, want %s first", be.Patches, id)
	}
	conn("Disconnected")
	wait(90 * time.Second)
	conn("Connected")
	wait(time.Second)
	conn("Disconnected")
	wait(90 * time.Second)
	if m.phase != phaseRunning {
		t.Fatalf("paused after two 90 s absences: %s", m.autoPaused)
	}
	status(common.StateReconnecting)
	wait(5 * time.Minute)
	status(common.StateSynced)
	wait(3 * time.Minute) // offline 3 min since the resync, within its grace
	if m.phase != phaseRunning {
		t.Fatalf("paused within the grace after a resync: %s", m.autoPaused)
	}
	wait(8 * time.Minute) // past darkAfterReboot since the resync
	if m.phase != phasePaused || !strings.Contains(m.autoDark, "1 of them gone dark") {
		t.Fatalf("phase %d dark %q: a device offline past the grace must count", m.phase, m.autoDark)
	}
}
