package rollout

import (
	"context"
	"strconv"
	"testing"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

// BenchmarkRolloutRecount is the full count of a rollout's devices, done once when it
// starts (every device classified).
func BenchmarkRolloutRecount(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			m := started(b, n)
			b.ReportAllocs()
			for b.Loop() {
				m.recountAll()
			}
		})
	}
}

// BenchmarkRolloutFleetChange is what a running rollout does with one fleet change that
// names 1,000 of its devices (each reclassified, watched if written, then the limit
// checked), at 10,000 and 100,000 devices: the cost must follow the change, not the fleet.
// Every device counts as written.
func BenchmarkRolloutFleetChange(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			m := started(b, n)
			for _, id := range m.ids {
				m.answered[id] = true
			}
			be := m.c.Backend.(*uitest.Backend)
			batch := common.Batch{Twins: map[string]*twin.Doc{}}
			for _, id := range m.ids[:1000] {
				d, _ := be.GetTwin(context.Background(), id)
				batch.Twins[id] = d
			}
			msg := m.c.Store.Apply(batch)
			b.ReportAllocs()
			for b.Loop() {
				m, _ = m.Update(msg)
			}
		})
	}
}

// started is a rollout of firmware.version 2.0.0 on n devices, started, with the store
// in sync.
func started(b *testing.B, n int) Model {
	m, _ := setup(b, n)
	m.c.Store.Apply(common.Batch{Status: common.Status{State: common.StateSynced}})
	m = press(typeIn(m, "2.0.0"), "enter")
	return press(typeIn(m, "yes"), "enter")
}
