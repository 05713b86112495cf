package ui

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

// loadingBatches splits docs, shuffled, into n batches as a streamed first listing hands
// them out: every batch but the last says syncing.
func loadingBatches(docs []*twin.Doc, n int, seed uint64) []common.Batch {
	docs = slices.Clone(docs)
	rand.New(rand.NewPCG(seed, 7)).Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	out := make([]common.Batch, n)
	for i := range out {
		out[i] = common.Batch{Twins: map[string]*twin.Doc{}, Status: common.Status{State: common.StateSyncing}}
	}
	out[n-1].Status.State = common.StateSynced
	for i, d := range docs {
		out[i*n/len(docs)].Twins[d.DeviceID] = d
	}
	return out
}

// A fleet that arrives in batches (new rows merged into the view) is shown in the same
// order as one that arrives at once (the view sorted whole), for every sort column and
// direction, with and without a filter; the cursor stays on the device it was on.
func TestFleetArrivingInBatchesSortsLikeOneBatch(t *testing.T) {
	docs := uitest.Fleet(1500)
	tests := map[string][]string{
		"by device":                {},
		"by connection":            {">"},
		"by sync":                  {">", ">", ">"},
		"by firmware, reversed":    {">", ">", ">", ">", "s"},
		"by last activity":         {"<", "<"},
		"by tags":                  {"<"},
		"by device, reversed":      {"s"},
		"filtered, by fw status":   {"/", "e", "u", "enter", ">", ">", ">", ">", ">"},
		"filtered, device reverse": {"/", "c", "a", "n", "a", "r", "y", "enter", "s"},
	}
	for name, ks := range tests {
		t.Run(name, func(t *testing.T) {
			dark := true
			open := func() Model {
				m := New(Options{Backend: uitest.NewBackend(uitest.Now), Now: uitest.Now, Dark: &dark, Context: context.Background()})
				return keys(t, size(t, m, 160, 48), ks...)
			}
			whole := update(t, open(), batchMsg{batch: uitest.NewBackend(uitest.Now, docs...).InitialBatch()})
			parts := open()
			var sel string
			for i, b := range loadingBatches(docs, 7, 1) {
				parts = update(t, parts, batchMsg{batch: b})
				if i == 0 {
					parts = keys(t, parts, "j", "j", "j")
					sel = parts.fleet.Selected()
				}
			}
			want, got := whole.fleet.ViewIDs(), parts.fleet.ViewIDs()
			if len(want) == 0 || len(want) == len(docs) && len(ks) > 0 && ks[0] == "/" {
				t.Fatalf("the filter kept %d of %d devices: the case tests nothing", len(want), len(docs))
			}
			if !slices.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("batched view differs from the whole view at row %d of %d/%d", i, len(got), len(want))
			}
			if parts.fleet.Selected() != sel {
				t.Fatalf("cursor moved from %s to %s while the fleet arrived", sel, parts.fleet.Selected())
			}
		})
	}
}

// While the fleet arrives, the counts say it is loading and how far (at 80 columns too),
// a rollout of the partial view is refused (of marked devices it is not), and an
// aggregate query says its counts are partial; once synced, all of it is gone.
func TestFleetLoadingIsHonest(t *testing.T) {
	docs := uitest.Fleet(1500)
	batches := loadingBatches(docs, 3, 2)
	for i := range batches[:len(batches)-1] {
		batches[i].Status.Expected = len(docs) // as twinclient sets it while the listing arrives
	}
	be := uitest.NewBackend(uitest.Now)
	be.Push(batches[0])
	msg := waitForBatch(context.Background(), be, 0)()
	dark := true
	m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, Context: context.Background()})
	m = update(t, size(t, m, 80, 24), msg)
	in := len(batches[0].Twins)
	screen := stripANSI(m.Render())
	if want := fmt.Sprintf("loading %d of 1500 devices…", in); !strings.Contains(screen, want) {
		t.Fatalf("loading screen lacks %q:\n%s", want, screen)
	}
	lost := update(t, m, batchMsg{batch: common.Batch{Status: common.Status{State: common.StateReconnecting}}})
	lost = size(t, lost, 160, 48) // at 80 columns the status line says it (reconnecting…)
	if screen := stripANSI(lost.Render()); !strings.Contains(screen, fmt.Sprintf("loading %d devices…", in)) ||
		!strings.Contains(screen, "hub connection lost while loading") {
		t.Fatalf("connection lost while loading:\n%s", screen)
	}
	if r := keys(t, m, "r"); r.screen != screenFleet || !strings.Contains(r.flash, "still loading") {
		t.Fatalf("r while loading: screen %s, flash %q; want the fleet and a refusal", screenNames[r.screen], r.flash)
	}
	if r := keys(t, m, "space", "r"); r.screen != screenRollout {
		t.Fatalf("r on a marked device while loading: screen %s, flash %q", screenNames[r.screen], r.flash)
	}
	agg := keys(t, m, ":")
	for _, c := range "SELECT COUNT() AS n FROM devices" {
		agg = keys(t, agg, string(c))
	}
	agg = keys(t, agg, "enter")
	if screen := stripANSI(agg.Render()); !strings.Contains(screen, "partial: the fleet is still loading") {
		t.Fatalf("aggregate while loading does not say it is partial:\n%s", screen)
	}
	for _, b := range batches[1:] {
		m = update(t, m, batchMsg{batch: b})
		agg = update(t, agg, batchMsg{batch: b})
	}
	screen = stripANSI(m.Render())
	if !strings.Contains(screen, "1500 devices") || strings.Contains(screen, "loading") {
		t.Fatalf("synced screen:\n%s", screen)
	}
	if screen := stripANSI(agg.Render()); strings.Contains(screen, "partial") || !strings.Contains(screen, `{"n":1500}`) {
		t.Fatalf("synced aggregate:\n%s", screen)
	}
}

// The fleet while its first listing arrives: 100 of 250 devices in.
func TestGoldenFleetLoading(t *testing.T) {
	eachSize(t, func(t *testing.T, m0 Model) Model {
		dark := true
		m := New(Options{Backend: uitest.NewBackend(uitest.Now), Now: uitest.Now, Dark: &dark})
		m = update(t, m, tea.WindowSizeMsg{Width: m0.c.Width, Height: m0.c.Height})
		b := common.Batch{Twins: map[string]*twin.Doc{}, Status: common.Status{State: common.StateSyncing, Expected: 250}}
		for _, d := range uitest.Fleet(100) {
			b.Twins[d.DeviceID] = d
		}
		return update(t, m, batchMsg{batch: b})
	})
}

// While the fleet loads, batches come at most every loadingFrame, until its last 5 %.
func TestLoadingFrameInterval(t *testing.T) {
	tests := map[string]struct {
		in, expected int
		state        string
		want         time.Duration
	}{
		"loading":            {100, 1000, common.StateSyncing, loadingFrame},
		"last 5 %":           {950, 1000, common.StateSyncing, 16 * time.Millisecond},
		"expected not known": {100, 0, common.StateSyncing, 16 * time.Millisecond},
		"synced":             {1000, 0, common.StateSynced, 16 * time.Millisecond},
	}
	docs := uitest.Fleet(1000)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dark := true
			m := New(Options{Backend: uitest.NewBackend(uitest.Now), Now: uitest.Now, Dark: &dark, Context: context.Background()})
			b := common.Batch{Twins: map[string]*twin.Doc{}, Status: common.Status{State: tc.state, Expected: tc.expected}}
			for _, d := range docs[:tc.in] {
				b.Twins[d.DeviceID] = d
			}
			m = update(t, m, batchMsg{batch: b})
			if got := m.frameInterval(); got != tc.want {
				t.Fatalf("frame interval %v, want %v", got, tc.want)
			}
		})
	}
}

// Pages may arrive out of order (the cache decodes them on several goroutines): until the
// operator moves the cursor, the fleet shows the start of the list.
func TestFleetLoadingStaysAtTheTop(t *testing.T) {
	docs := uitest.Fleet(3000)
	page := func(lo, hi int, state string) batchMsg {
		b := common.Batch{Twins: map[string]*twin.Doc{}, Status: common.Status{State: state, Expected: len(docs)}}
		for _, d := range docs[lo:hi] {
			b.Twins[d.DeviceID] = d
		}
		return batchMsg{batch: b}
	}
	dark := true
	m := New(Options{Backend: uitest.NewBackend(uitest.Now), Now: uitest.Now, Dark: &dark, Context: context.Background()})
	m = size(t, m, 80, 24)
	m = update(t, m, page(1000, 2000, common.StateSyncing))
	moved := keys(t, m, "j")
	for _, p := range []batchMsg{page(0, 1000, common.StateSyncing), page(2000, 3000, common.StateSynced)} {
		m, moved = update(t, m, p), update(t, moved, p)
	}
	if got, want := m.fleet.Selected(), docs[0].DeviceID; got != want || !strings.Contains(stripANSI(m.Render()), "row 1/3000") {
		t.Fatalf("untouched cursor on %s, want %s at row 1:\n%s", got, want, stripANSI(m.Render()))
	}
	if got, want := moved.fleet.Selected(), docs[1001].DeviceID; got != want {
		t.Fatalf("moved cursor on %s, want it kept on %s", got, want)
	}
}
