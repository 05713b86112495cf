package rollout

import (
	"strconv"
	"testing"

	"github.com/twinops/twinops/ui/common"
)

// BenchmarkRolloutRecount is one recount of a running rollout (progress, the gone-dark
// watch over the written devices, the failure limit): at most every refreshEvery above
// 2,000 devices, on the console's update goroutine. Every device counts as written.
func BenchmarkRolloutRecount(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			m, _ := setup(b, n)
			m.c.Store.Apply(common.Batch{Status: common.Status{State: common.StateSynced}})
			m = press(typeIn(m, "2.0.0"), "enter")
			m = press(typeIn(m, "yes"), "enter")
			for _, id := range m.ids {
				m.answered[id] = true
			}
			b.ReportAllocs()
			for b.Loop() {
				m.refresh(true)
			}
		})
	}
}
