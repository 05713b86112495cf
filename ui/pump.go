package ui

import (
	"context"
	"errors"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/ui/common"
)

// batchMsg carries one batch from the back end (or the error Next returned).
type batchMsg struct {
	batch common.Batch
	err   error
}

// waitForBatch blocks in Backend.Next from a command goroutine; it captures only the
// context and the back end. delay paces batches to at most one per frame.
func waitForBatch(ctx context.Context, be common.Backend, delay time.Duration) tea.Cmd {
	if be == nil {
		return nil
	}
	return func() tea.Msg {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
		}
		b, err := be.Next(ctx)
		if err != nil && ctx.Err() != nil {
			return nil // shutting down
		}
		return batchMsg{batch: b, err: err}
	}
}

func tickClock() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return common.TickMsg{Time: t} })
}

// applyBatch folds a batch into the store, tells every screen, and re-arms the pump.
func (m Model) applyBatch(msg batchMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		release := m.gc.end(true, time.Now())
		m.c.Store.Status.LastError = msg.err.Error()
		m.c.Store.Status.ErrorTime = m.c.Now()
		if errors.Is(msg.err, context.Canceled) {
			return m, release
		}
		return m, tea.Batch(release, waitForBatch(m.c.Ctx, m.c.Backend, time.Second))
	}
	m.batches++
	changed := m.c.Store.Apply(msg.batch)
	release := m.gc.end(m.c.Store.Synced || m.c.Store.Status.State == "failed", time.Now())
	m, cmd := m.broadcast(changed)
	now := time.Now()
	delay := m.frameInterval() - now.Sub(m.frameAt)
	m.frameAt = now
	return m, tea.Batch(cmd, waitForBatch(m.c.Ctx, m.c.Backend, max(delay, 0)), release)
}

// loadingFrame is the least time between two batches while the first listing arrives
// (and its end is not near): ten frames a second show the count growing, where one per
// page (≈100 for 100,000 twins) would each cost a View and a redraw of the whole screen
// on the cores the listing needs.
const loadingFrame = 100 * time.Millisecond

// frameInterval is the least time between two batches: loadingFrame while the fleet is
// loading with more than 5 % of its expected devices still to come, the configured
// FrameInterval otherwise (so that the batch that completes it is not held back).
func (m Model) frameInterval() time.Duration {
	st := m.c.Store
	exp := st.Status.Expected
	if st.Synced || exp == 0 || st.Len() >= exp-exp/20 {
		return m.opts.FrameInterval
	}
	return max(m.opts.FrameInterval, loadingFrame)
}
