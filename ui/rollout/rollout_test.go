package rollout

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/twinops/twinops/theme"
	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

func setup(t testing.TB, n int) (Model, *uitest.Backend) {
	t.Helper()
	docs := uitest.Fleet(n)
	st := common.NewStore()
	b := common.Batch{Twins: map[string]*twin.Doc{}}
	ids := make([]string, 0, n)
	for _, d := range docs {
		b.Twins[d.DeviceID] = d
		ids = append(ids, d.DeviceID)
	}
	st.Apply(b)
	be := uitest.NewBackend(uitest.Now, docs...)
	c := &common.Common{Width: 80, Height: 24, Styles: theme.New(true, false), Keys: common.DefaultKeys(),
		Now: uitest.Now, Store: st, Ctx: context.Background(), Backend: be}
	m := New(c)
	m.SetSize(80, 23)
	m, _ = m.Plan(ids, "all devices")
	return m, be
}

func press(m Model, keys ...string) Model {
	for _, k := range keys {
		var msg tea.KeyPressMsg
		switch k {
		case "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "tab":
			msg = tea.KeyPressMsg{Code: tea.KeyTab}
		case "backspace":
			msg = tea.KeyPressMsg{Code: tea.KeyBackspace}
		case "esc":
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		case "up":
			msg = tea.KeyPressMsg{Code: tea.KeyUp}
		default:
			msg = tea.KeyPressMsg{Code: []rune(k)[0], Text: k}
		}
		m, _ = m.Update(msg)
	}
	return m
}

func typeIn(m Model, s string) Model {
	for _, r := range s {
		m = press(m, string(r))
	}
	return m
}

// runCmd runs a command and every command it batches, returning the messages that do
// not block (writes to the fake hub); ticks are left out.
func writes(cmd tea.Cmd) []writeDoneMsg {
	if cmd == nil {
		return nil
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		var out []writeDoneMsg
		for _, c := range msg {
			out = append(out, writes(c)...)
		}
		return out
	case writeDoneMsg:
		return []writeDoneMsg{msg}
	}
	return nil
}

func TestRolloutPlan(t *testing.T) {
	tests := map[string]struct {
		value, rate string
		wantErr     bool
		wantValue   any
	}{
		"bare word is a string": {"2.1.0", "10", false, "2.1.0"},
		"number is a number":    {"42", "10", false, 42.0},
		"empty value refused":   {"", "10", true, nil},
		"zero rate refused":     {"2.1.0", "0", true, nil},
		"rate not a number":     {"2.1.0", "fast", true, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := setup(t, 8)
			m = typeIn(m, tc.value)
			m = press(m, "tab", "backspace", "backspace")
			m = typeIn(m, tc.rate)
			m = press(m, "enter")
			if tc.wantErr {
				if m.err == "" || m.phase != phasePlan {
					t.Fatalf("bad input accepted: phase %d err %q", m.phase, m.err)
				}
				return
			}
			if m.phase != phaseConfirm || !twin.Equal(m.value, tc.wantValue) {
				t.Fatalf("phase %d value %#v err %q", m.phase, m.value, m.err)
			}
		})
	}
}

func TestRolloutWritesAtRatePauseAbort(t *testing.T) {
	m, be := setup(t, 40)
	m = typeIn(m, "2.0.0")
	m = press(m, "tab", "backspace", "backspace")
	m = typeIn(m, "20") // 20/s: 2 writes per 100 ms tick
	m = press(m, "enter")
	if got := len(m.affected()); got != 40 {
		t.Fatalf("%d devices affected, want 40", got)
	}
	m = press(typeIn(m, "40"), "enter")
	if m.phase != phaseRunning {
		t.Fatalf("phase %d after typing 40 and enter, want running", m.phase)
	}
	var cmd tea.Cmd
	m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
	done := writes(cmd)
	if len(done) != 2 {
		t.Fatalf("one tick at 20/s wrote %d devices, want 2", len(done))
	}
	for _, d := range done {
		m, _ = m.Update(d)
	}
	for _, p := range be.Patches {
		if p.Etag != "*" || !twin.Equal(p.Patch.Desired, map[string]any{"firmware": map[string]any{"version": "2.0.0"}}) {
			t.Fatalf("unexpected write %+v", p)
		}
	}
	m = press(m, "p")
	m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
	if n := len(writes(cmd)); n != 0 || m.phase != phasePaused {
		t.Fatalf("paused rollout wrote %d devices (phase %d)", n, m.phase)
	}
	m = press(m, "A")
	m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
	if n := len(writes(cmd)); n != 0 || m.phase != phaseAborted || len(m.queue) != 0 {
		t.Fatalf("aborted rollout wrote %d devices (phase %d, %d queued)", n, m.phase, len(m.queue))
	}
	if len(be.Patches) != 2 {
		t.Fatalf("%d writes in all, want 2", len(be.Patches))
	}
	// The hub's change events bring the written devices into the store.
	b := common.Batch{Twins: map[string]*twin.Doc{}}
	for _, p := range be.Patches {
		d, _ := be.GetTwin(context.Background(), p.ID)
		b.Twins[p.ID] = d
	}
	m, _ = m.Update(m.c.Store.Apply(b))
	p := m.prog
	if p.counts[stNotStarted] != 38 {
		t.Fatalf("not started %d, want 38 (counts %v)", p.counts[stNotStarted], p.counts)
	}
}

func TestRolloutStaleWriteResultIgnored(t *testing.T) {
	m, _ := setup(t, 4)
	m.runID = 3
	m.phase = phaseRunning
	m.inFlight = 1
	m, _ = m.Update(writeDoneMsg{runID: 2, id: "dev-00000"})
	if m.inFlight != 1 || m.written != 0 {
		t.Fatal("a result from an earlier rollout was counted")
	}
}

func TestGoldenRolloutProgress(t *testing.T) {
	for _, size := range []struct{ w, h int }{{80, 24}, {160, 48}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			m, be := setup(t, 40)
			m.SetSize(size.w, size.h-1)
			m = typeIn(m, "1.5.0")
			m = press(m, "enter")
			m = press(typeIn(m, "yes"), "enter")
			var cmd tea.Cmd
			for range 3 {
				m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
				for _, d := range writes(cmd) {
					m, _ = m.Update(d)
				}
			}
			// The devices answer: some succeed, one fails, one is offline.
			m = answer(t, m, be, func(i int) map[string]any {
				switch i % 3 {
				case 0:
					return map[string]any{"status": "succeeded", "version": "1.5.0"}
				case 1:
					return map[string]any{"status": "failed", "lastError": "download of 1.5.0 failed: checksum mismatch"}
				}
				return map[string]any{"status": "installing"}
			})
			golden.RequireEqual(t, m.View())
		})
	}
}

func TestRolloutConfirmIsDeliberate(t *testing.T) {
	tests := map[string]struct {
		typed       string
		wantRunning bool
		wantErr     bool
	}{
		"empty enter does nothing":     {"", false, false},
		"a single y does not start":    {"y", false, true},
		"a wrong count does not start": {"7", false, true},
		"yes starts":                   {"yes", true, false},
		"YES starts":                   {"YES", true, false},
		"the device count starts":      {"8", true, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, be := setup(t, 8)
			m = typeIn(m, "3.0.0")
			m = press(m, "enter")
			if m.phase != phaseConfirm || !m.Capturing() {
				t.Fatalf("phase %d capturing %v after enter, want the review taking input", m.phase, m.Capturing())
			}
			m = press(typeIn(m, tc.typed), "enter")
			if got := m.phase == phaseRunning; got != tc.wantRunning {
				t.Fatalf("running %v after %q, want %v (phase %d)", got, tc.typed, tc.wantRunning, m.phase)
			}
			if (m.err != "") != tc.wantErr {
				t.Fatalf("error %q after %q", m.err, tc.typed)
			}
			if !tc.wantRunning {
				m, cmd := m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
				if n := len(writes(cmd)) + len(be.Patches); n != 0 || m.phase != phaseConfirm {
					t.Fatalf("%d writes, phase %d: an unconfirmed rollout wrote", n, m.phase)
				}
			}
		})
	}
}

func TestRolloutReviewWarnings(t *testing.T) {
	tests := map[string]struct {
		value    string
		label    string
		n        int // devices chosen of 8
		wantWarn bool
		wantAll  bool
	}{
		"plain version, a few devices": {"2.1.0", "marked devices", 3, false, false},
		"query text as the value":      {"g = 'canary'", "all devices", 8, true, true},
		"quoted word":                  {`"x"y`, "marked devices", 3, true, false},
		"whole fleet under a query":    {"2.1.0", "tags.ring = 'canary'", 8, false, true},
		"number":                       {"42", "marked devices", 2, false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := setup(t, 8)
			m, _ = m.Plan(m.IDs()[:tc.n], tc.label)
			m = press(typeIn(m, tc.value), "enter")
			if m.phase != phaseConfirm {
				t.Fatalf("phase %d err %q", m.phase, m.err)
			}
			out := ansi.Strip(m.View())
			if got := strings.Contains(out, "typo?"); got != tc.wantWarn {
				t.Fatalf("typo warning %v, want %v:\n%s", got, tc.wantWarn, out)
			}
			if got := strings.Contains(out, "ALL 8 devices"); got != tc.wantAll {
				t.Fatalf("ALL banner %v, want %v:\n%s", got, tc.wantAll, out)
			}
		})
	}
}

func TestRolloutClassifiesRebooting(t *testing.T) {
	tests := map[string]struct {
		status, conn string
		want         int
	}{
		"rebooting and offline is rebooting":  {"rebooting", "Disconnected", stRebooting},
		"rebooting and online is rebooting":   {"rebooting", "Connected", stRebooting},
		"installing and offline is offline":   {"installing", "Disconnected", stOffline},
		"installing and online is installing": {"installing", "Connected", stInstalling},
		"failed while offline is failed":      {"failed", "Disconnected", stFailed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, be := setup(t, 1)
			m = press(typeIn(m, "7.0.0"), "enter")
			m = press(typeIn(m, "yes"), "enter")
			m, cmd := m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
			for _, d := range writes(cmd) {
				m, _ = m.Update(d)
			}
			if len(be.Patches) != 1 {
				t.Fatalf("%d writes, want 1", len(be.Patches))
			}
			d, _ := be.GetTwin(context.Background(), be.Patches[0].ID)
			if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": tc.status}}, uitest.Clock.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			d.ConnectionState = tc.conn
			m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}))
			if got := m.prog.counts[tc.want]; got != 1 {
				t.Fatalf("counts %v: want the device as %s", m.prog.counts, stateNames[tc.want])
			}
		})
	}
}

// TestRolloutTypingReplacesTheSelectedValue: a field that gets the focus holding a value
// (the default rate 10, the last rollout's value) shows it selected, and the first
// character typed replaces it: typing 20 into the rate plans 20 devices/s, not 1020.
// Editing keys (backspace, arrows) edit the value in place instead.
func TestRolloutTypingReplacesTheSelectedValue(t *testing.T) {
	m, _ := setup(t, 8)
	m = typeIn(m, "2.1.0")
	m = press(m, "tab")
	if !strings.Contains(m.View(), m.c.Styles.Selected.S("10")) {
		t.Fatalf("the default rate is not shown selected:\n%s", m.View())
	}
	m = typeIn(m, "20")
	m = press(m, "enter")
	if m.phase != phaseConfirm || m.rate != 20 {
		t.Fatalf("typed 20 over the default 10: phase %d rate %v err %q", m.phase, m.rate, m.err)
	}

	// Back from the review to the plan: the field's text is selected again (QA: typing
	// appended, giving a rate of 2.1.02).
	m = press(m, "esc")
	m = typeIn(m, "30")
	if got := m.fields[2].Value(); got != "30" {
		t.Fatalf("rate after esc from the review and typing 30: %q", got)
	}
	// A field at fault gets the focus, its text selected.
	m = press(m, "tab")
	m = typeIn(m, "lots")
	m = press(m, "enter")
	if m.phase != phasePlan || m.focus != 3 || !strings.Contains(m.err, "failure limit") {
		t.Fatalf("bad limit: phase %d focus %d err %q", m.phase, m.focus, m.err)
	}
	m.fields[2].SetValue("x")
	m = press(m, "enter")
	if m.focus != 2 {
		t.Fatalf("bad rate: focus %d, want the rate field (2)", m.focus)
	}
	m = typeIn(m, "20")
	m = press(m, "tab")
	m = typeIn(m, "5%")
	m = press(m, "enter")
	if m.phase != phaseConfirm || m.rate != 20 {
		t.Fatalf("after fixing the rate: phase %d rate %v err %q", m.phase, m.rate, m.err)
	}

	// Back to the plan, then a new plan on the same screen: the value field holds the
	// previous value, selected; typing replaces it.
	m = press(m, "esc")
	m, _ = m.Plan(m.ids, "again")
	m = typeIn(m, "2.2.0")
	if got := m.fields[1].Value(); got != "2.2.0" {
		t.Fatalf("value field after typing over the previous value: %q", got)
	}

	// Backspace edits the focused field's value in place.
	m = press(m, "up") // the path field, fresh again
	m = press(m, "backspace")
	if got := m.fields[0].Value(); got != "firmware.versio" {
		t.Fatalf("path field after backspace: %q", got)
	}
	m = typeIn(m, "n")
	if got := m.fields[0].Value(); got != "firmware.version" {
		t.Fatalf("path field after backspace and n: %q", got)
	}
}

// TestRolloutPauseResumeKeepsOneTickChain: pause and resume within one tick start a new
// chain of write ticks; the old chain's tick, still on its way, must not write as well
// (two chains wrote at twice the rate).
func TestRolloutPauseResumeKeepsOneTickChain(t *testing.T) {
	m, be := setup(t, 40)
	m = press(typeIn(m, "2.0.0"), "enter")
	m = press(typeIn(m, "yes"), "enter")
	old := tickMsg{runID: m.runID, gen: m.tickGen}
	m = press(m, "p", "p") // paused and resumed before the old tick arrived
	if m.phase != phaseRunning {
		t.Fatalf("phase %d after p p, want running", m.phase)
	}
	m, cmd := m.Update(old)
	if n := len(writes(cmd)); n != 0 {
		t.Fatalf("the retired chain's tick wrote %d devices", n)
	}
	m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
	if n := len(writes(cmd)); n != 1 || len(be.Patches) != 1 {
		t.Fatalf("the live chain's tick wrote %d (in all %d), want 1 at 10/s", n, len(be.Patches))
	}
}

// TestRolloutReviewPromptOnShortTerminals: at 70x12 the review's prompt (type the count
// or yes) was below the screen, though typing still started the rollout (QA, session 6):
// on a short terminal the review drops the form, whose values it repeats, and then its
// least important lines, never the prompt.
func TestRolloutReviewPromptOnShortTerminals(t *testing.T) {
	for _, h := range []int{11, 8, 6} {
		t.Run(strconv.Itoa(h), func(t *testing.T) {
			m, _ := setup(t, 40)
			m.SetSize(70, h)
			m = press(typeIn(m, "2.1"), "enter") // a number where devices hold strings: two warning lines more
			view := ansi.Strip(m.View())
			if !strings.Contains(view, "type 40 or yes then enter to start") {
				t.Fatalf("no prompt at 70x%d:\n%s", h, view)
			}
			if n := len(strings.Split(view, "\n")); n != h {
				t.Fatalf("%d lines at height %d", n, h)
			}
		})
	}
}
