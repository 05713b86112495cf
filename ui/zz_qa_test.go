package ui

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

// At 80 columns the status line with an unsent edit and a rollout used to cut the quit
// confirmation to "quit t…" (and a rollout's warning to nothing): the message must stay
// whole, the hub's name and the other parts giving way.
func TestStatusLineKeepsMessageAt80Columns(t *testing.T) {
	cases := map[string]struct {
		rollout bool
		want    string
	}{
		"quit":                      {want: "quit twinops? y/n"},
		"quit while rollout writes": {rollout: true, want: "a rollout is writing: quitting stops it. quit? y/n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			be := uitest.NewBackend(uitest.Now, uitest.Fleet(40)...)
			dark := true
			drafts := map[string]common.Draft{"dev-00001": {Desired: `{}`, Tags: "{}"}}
			m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, Drafts: drafts})
			m = update(t, m, batchMsg{batch: be.InitialBatch()})
			m = size(t, m, 80, 24)
			if tc.rollout {
				m = keys(t, m, "r")
				m = typeText(t, m, "1.6.0")
				m = keys(t, m, "enter")
				m = typeText(t, m, "yes")
				m = keys(t, m, "enter", "esc")
				if !m.rollout.Active() || m.screen != screenFleet {
					t.Fatalf("setup: rollout active %v on %s, want active on the fleet", m.rollout.Active(), screenNames[m.screen])
				}
			}
			m = keys(t, m, "q")
			lines := strings.Split(stripANSI(m.Render()), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tc.want) {
				t.Fatalf("status line %q does not show %q", last, tc.want)
			}
			if w := common.Width(last); w > 80 {
				t.Fatalf("status line is %d cells wide, want at most 80: %q", w, last)
			}
		})
	}
}

// The editor's line numbers are right-aligned in one gutter: from line 10 on the text
// used to start a column further right than on lines 1-9 (the gutter was one digit wide).
func TestEditGutterAlignsPastLine9(t *testing.T) {
	for _, s := range sizes {
		t.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(t *testing.T) {
			m, _ := newTestModel(t, 5, false)
			m = size(t, m, s.w, s.h)
			m = keys(t, m, "e", "enter", "enter", "enter") // 8 lines of JSON become 11
			if m.screen != screenEdit {
				t.Fatalf("on %s, want the editor", screenNames[m.screen])
			}
			ends := map[int]int{} // line number -> column after it
			for _, l := range strings.Split(stripANSI(m.Render()), "\n") {
				f := strings.Fields(l)
				if len(f) == 0 {
					continue
				}
				n, err := strconv.Atoi(f[0])
				if err != nil {
					continue
				}
				ends[n] = strings.Index(l, f[0]) + len(f[0])
				if w := common.Width(l); w > s.w {
					t.Errorf("line %d is %d cells wide, past the screen's %d", n, w, s.w)
				}
			}
			for n := 2; n <= 11; n++ {
				if ends[n] == 0 || ends[n] != ends[1] {
					t.Fatalf("line number %d ends at column %d, line 1's at %d (all: %v)", n, ends[n], ends[1], ends)
				}
			}
		})
	}
}

// At 80 columns a long query used to push the view line's counts ("5 shown", the row)
// off the screen; the query is cut instead. An aggregate shows no "row" (it has no table).
func TestViewLineKeepsCountsAt80Columns(t *testing.T) {
	cases := map[string]struct {
		query   string
		want    []string
		notWant string
	}{
		"long where": {
			query: "properties.reported.firmware.status != 'failed' AND properties.desired.firmware.version != '9.9.9'",
			want:  []string{"37 shown", "row 1/37"},
		},
		"aggregate": {
			query:   "SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices GROUP BY properties.reported.firmware.status",
			want:    []string{"40 shown"},
			notWant: "row ",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, _ := newTestModel(t, 40, false)
			m = size(t, m, 80, 24)
			m = keys(t, m, ":")
			m = typeText(t, m, tc.query)
			m = keys(t, m, "enter")
			line := strings.Split(stripANSI(m.Render()), "\n")[1]
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("view line %q does not show %q", line, w)
				}
			}
			if tc.notWant != "" && strings.Contains(line, tc.notWant) {
				t.Errorf("view line %q shows %q", line, tc.notWant)
			}
			if w := common.Width(line); w > 80 {
				t.Errorf("view line is %d cells wide", w)
			}
		})
	}
}

// A help description too long for its column wraps under itself: at 80 columns the
// events screen's "paused: open the top event's device" used to wrap its last words
// into the key column, where they read as a key.
func TestHelpWrapsDescriptionsUnderThemselves(t *testing.T) {
	cases := map[string][]string{ // keys pressed before "?"
		"fleet":   nil,
		"twin":    {"enter"},
		"events":  {"v"},
		"rollout": {"r", "1", ".", "6", "enter", "y", "e", "s", "enter"},
	}
	for name, before := range cases {
		for _, s := range sizes {
			t.Run(fmt.Sprintf("%s/%dx%d", name, s.w, s.h), func(t *testing.T) {
				m, _ := newTestModel(t, 40, false)
				m = size(t, m, s.w, s.h)
				m = keys(t, m, before...)
				m = keys(t, m, "?")
				k := m.c.Keys
				known := map[string]bool{"": true, "R": true, strings.ToUpper(name): true, "EVERYWHERE": true}
				for _, bs := range [][]key.Binding{m.fleet.Help(), m.twin.Help(), m.events.Help(), m.rollout.Help(),
					{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown, k.Back, k.Help, k.Quit}} {
					for _, b := range bs {
						known[b.Help().Key] = true
					}
				}
				lines := strings.Split(stripANSI(m.Render()), "\n")
				if !strings.HasPrefix(lines[0], "keys · "+name) {
					t.Fatalf("setup: first line %q, want the help of %s", lines[0], name)
				}
				starts := []int{0}
				if s.w >= 76 {
					starts = append(starts, s.w/2)
				}
				for i, l := range lines[2 : len(lines)-1] {
					r := []rune(l)
					for _, at := range starts {
						if at >= len(r) {
							continue
						}
						cell := strings.TrimSpace(string(r[at:min(at+14, len(r))]))
						if !known[cell] && !known[strings.TrimSpace(string(r[at:]))] {
							t.Errorf("line %d %q: %q in the key column is not a key", i+2, l, cell)
						}
					}
				}
			})
		}
	}
}

// q or esc on a screen goes back before the next key is read: with the back sent as a
// command, "q" then "c" typed together reached the twin view (which ignores c), so the
// fleet's filter stayed; "q" then "v" opened the twin's events instead of the fleet's.
func TestBackBeforeTheNextKey(t *testing.T) {
	cases := map[string]struct {
		open []string // from the filtered fleet
		back string
	}{
		"q on the twin":     {open: []string{"enter"}, back: "q"},
		"esc on the twin":   {open: []string{"enter"}, back: "esc"},
		"q on the events":   {open: []string{"v"}, back: "q"},
		"esc on the events": {open: []string{"v"}, back: "esc"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, _ := newTestModel(t, 40, false)
			m = size(t, m, 80, 24)
			m = keys(t, m, "/")
			m = typeText(t, m, "dev-0001")
			m = keys(t, m, "enter")
			m = keys(t, m, tc.open...)
			if m.screen == screenFleet {
				t.Fatalf("setup: %v left the fleet shown", tc.open)
			}
			// the two keys arrive before any command runs, as when typed in one read
			next, cmd1 := m.Update(keyMsg(tc.back))
			next, cmd2 := next.(Model).Update(keyMsg("c"))
			m = next.(Model)
			for _, c := range append(immediate(cmd1), immediate(cmd2)...) {
				m = update(t, m, c)
			}
			if m.screen != screenFleet {
				t.Fatalf("on %s after %s, want the fleet", screenNames[m.screen], tc.back)
			}
			if n := len(m.fleet.ViewIDs()); n != 40 {
				t.Fatalf("c after %s left %d devices shown, want the filter cleared (40)", tc.back, n)
			}
		})
	}
}

// SELECT TOP n in the fleet's query used to be ignored for the table: "SELECT TOP 5 *
// ... WHERE ring = 'broad'" showed all 151 matches, and r planned a rollout on all of
// them. The view keeps the first n matches by device id (as the hub answers), follows
// live changes, and a rollout from it targets those n.
func TestQueryTopLimitsTheView(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, ":")
	m = typeText(t, m, "SELECT TOP 3 * FROM devices WHERE properties.reported.firmware.status != 'failed'")
	m = keys(t, m, "enter")
	if got, want := m.fleet.ViewIDs(), []string{"dev-00000", "dev-00001", "dev-00002"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("TOP 3 shows %v, want %v", got, want)
	}
	d := m.c.Store.Get("dev-00001").Clone()
	if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": "failed"}}, uitest.Clock.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	m = update(t, m, batchMsg{batch: common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}})
	if got, want := m.fleet.ViewIDs(), []string{"dev-00000", "dev-00002", "dev-00003"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after dev-00001 failed, TOP 3 shows %v, want %v", got, want)
	}
	m = keys(t, m, "r")
	if n := len(m.rollout.IDs()); n != 3 {
		t.Fatalf("a rollout from the TOP 3 view is planned on %d devices, want 3", n)
	}
}
