package store

import (
	"context"
	"sync"
	"time"
)

// sweepInterval is how often a lazy session hook deletes the stored sessions that expired
// while their clients stayed away (a session is otherwise only checked when its client
// reconnects).
const sweepInterval = time.Hour

// sweeper runs the lazy hook's expiry sweeps from OnStarted until Stop.
type sweeper struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// OnStarted (lazy restore only) starts deleting expired stored sessions: once now, then
// every h.sweepEvery (none if 0).
func (h *SessionHook) OnStarted() {
	if h.srv == nil || h.sweepEvery <= 0 {
		return
	}
	h.sweep.mu.Lock()
	defer h.sweep.mu.Unlock()
	if h.sweep.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.sweep.cancel, h.sweep.done = cancel, make(chan struct{})
	go h.sweepLoop(ctx, h.sweep.done)
}

// Stop implements mqtt.Hook: it stops the expiry sweeps (mochi calls it in Close).
func (h *SessionHook) Stop() error {
	h.sweep.mu.Lock()
	cancel, done := h.sweep.cancel, h.sweep.done
	h.sweep.cancel, h.sweep.done = nil, nil
	h.sweep.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

func (h *SessionHook) sweepLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(h.sweepEvery)
	defer tick.Stop()
	for {
		if n, err := h.sweepExpired(ctx); err != nil {
			h.logErr("sweep expired sessions", "", err)
		} else if n > 0 {
			h.log.Info("session: deleted expired sessions", "sessions", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweepExpired deletes the stored sessions that have expired and whose client is neither
// connected nor held by mochi, and returns how many it deleted.
func (h *SessionHook) sweepExpired(ctx context.Context) (int, error) {
	var ids []string
	err := h.scanSessions(func(id, filter string, v []byte) {
		if filter != "" || ctx.Err() != nil {
			return
		}
		if c, at, err := decodeClientAt(id, v); err == nil && h.expired(c, at) {
			ids = append(ids, id)
		}
	})
	n := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		if h.forgetIfExpired(id) {
			n++
		}
	}
	return n, err
}

// forgetIfExpired deletes clientID's stored session if it has still expired (read again
// under the id's lock, after its queued writes) and no connection of the id is current.
func (h *SessionHook) forgetIfExpired(clientID string) bool {
	unlock := h.lockID(clientID)
	defer unlock()
	if !h.isCurrent(clientID, nil) {
		return false // connected: the connection decides
	}
	if _, inMemory := h.srv.Clients.Get(clientID); inMemory {
		return false // mochi holds the session and expires it itself
	}
	if err := h.awaitWrites(clientID); err != nil {
		h.logErr("sweep expired session", clientID, err)
		return false
	}
	v, err := h.st.Get(sessionKey(clientID))
	if err != nil {
		return false // gone meanwhile (ErrNotFound), or unreadable: leave it to a restore
	}
	if c, at, err := decodeClientAt(clientID, v); err != nil || !h.expired(c, at) {
		return false
	}
	h.forgetAsync(clientID)
	return true
}
