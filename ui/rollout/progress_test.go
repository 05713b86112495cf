package rollout

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// TestRolloutProgressKeptUpToDate: the progress kept change by change is, after every
// step of a random rollout (writes sent and later answered, refused writes, devices reporting every firmware
// status, going on and off line, other writers changing desired, devices deleted,
// pause, resume, abort), what counting every device again gives.
func TestRolloutProgressKeptUpToDate(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel() // each waits out its write ticks (100 ms) more than it computes
			rng := rand.New(rand.NewPCG(seed, 1))
			m, be := setup(t, 60)
			m.c.Store.Apply(common.Batch{Status: common.Status{State: common.StateSynced}})
			m = planLimit(t, m, "2.0.0", "10", "off") // a write a tick: the queue lasts most of the run
			deleted := map[string]bool{}
			var inFlight []writeDoneMsg
			for step := range 300 {
				id := m.ids[rng.IntN(len(m.ids))]
				switch r := rng.IntN(10); {
				case r < 2: // a tick's writes go out
					var cmd tea.Cmd
					m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
					inFlight = append(inFlight, writes(cmd)...)
				case r < 3: // the hub answers the writes in flight, one in five refused
					for _, w := range inFlight {
						if rng.IntN(5) == 0 {
							w.err = errors.New("refused")
						}
						m, _ = m.Update(w)
					}
					inFlight = nil
				case r < 8 && !deleted[id]: // the device reports, or connects, or another writer changes desired
					var d *twin.Doc
					switch rng.IntN(4) {
					case 0:
						d = be.Mutate(id, twin.Desired, map[string]any{"firmware": map[string]any{"version": []any{"2.0.0", "1.0.0"}[rng.IntN(2)]}})
					case 1:
						d, _ = be.GetTwin(context.Background(), id)
						d.ConnectionState = []string{"Connected", "Disconnected"}[rng.IntN(2)]
					default:
						fw := map[string]any{"status": []string{"downloading", "installing", "rebooting", "failed", "succeeded"}[rng.IntN(5)]}
						if fw["status"] == "succeeded" {
							fw["version"] = "2.0.0"
						}
						d = be.Mutate(id, twin.Reported, map[string]any{"firmware": fw})
					}
					m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{id: d}}))
				case r == 8: // deleted
					deleted[id] = true
					m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{id: nil}}))
				default:
					m = press(m, []string{"p", "p", "A"}[rng.IntN(3)])
				}
				want := m
				want.prog = nil
				want.recountAll()
				if m.prog.counts != want.prog.counts || !slices.Equal(m.prog.failed, want.prog.failed) ||
					!slices.Equal(m.prog.busy, want.prog.busy) {
					t.Fatalf("step %d: kept %v failed %v busy %v, counted %v failed %v busy %v", step,
						m.prog.counts, m.prog.failed, m.prog.busy, want.prog.counts, want.prog.failed, want.prog.busy)
				}
				for id, s := range want.prog.state {
					if m.prog.state[id] != s {
						t.Fatalf("step %d: %s kept as %s, counted %s", step, id, stateNames[m.prog.state[id]], stateNames[s])
					}
				}
			}
		})
	}
}
