package store

import (
	"context"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// Ordering of a client id's session writes. Two connections of one id can overlap: the
// first one's post-CONNACK hooks (OnSessionEstablished, OnSubscribed) may run after the
// next one has connected. The hook therefore tracks, per client id, the connection that
// connected last (current, set in OnSessionEstablish), and:
//   - a connection's writes (client record, subscriptions, disconnect time) are queued only
//     while it is the current one; the check, the pending count and the queueing happen
//     under pendMu, so a newer connection either sees the write as pending or the write
//     sees the newer connection and is dropped;
//   - the session operations of an id that read the store and then write (a clean connect's
//     forget, a lazy restore, the forget or disconnect time written when a connection ends,
//     mochi's expiry) hold the id's lock, and first wait for the id's pending writes, so
//     they read everything queued before them and run one at a time, in order.

// idLock is a mutex for one client id, shared by the goroutines that hold or wait for it.
type idLock struct {
	mu    sync.Mutex
	users int // goroutines holding or waiting; the entry is removed at 0 (under pendMu)
}

// lockID takes clientID's session lock; call the returned function to release it.
func (h *SessionHook) lockID(clientID string) (unlock func()) {
	h.pendMu.Lock()
	if h.locks == nil {
		h.locks = make(map[string]*idLock)
	}
	l := h.locks[clientID]
	if l == nil {
		l = new(idLock)
		h.locks[clientID] = l
	}
	l.users++
	h.pendMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		h.pendMu.Lock()
		if l.users--; l.users == 0 {
			delete(h.locks, clientID)
		}
		h.pendMu.Unlock()
	}
}

// setCurrent records cl as its id's current connection (hold the id lock), so that the
// writes of earlier connections of the id are dropped from now on.
func (h *SessionHook) setCurrent(cl *mqtt.Client) {
	h.pendMu.Lock()
	if h.current == nil {
		h.current = make(map[string]*mqtt.Client)
	}
	h.current[cl.ID] = cl
	h.pendMu.Unlock()
}

// isCurrent reports whether cl is its id's current connection; with cl nil, whether the
// id has no connection (e.g. when mochi expires a disconnected session).
func (h *SessionHook) isCurrent(id string, cl *mqtt.Client) bool {
	h.pendMu.Lock()
	defer h.pendMu.Unlock()
	return h.current[id] == cl
}

// endCurrent forgets cl as its id's current connection, if it still is (hold the id lock).
func (h *SessionHook) endCurrent(cl *mqtt.Client) {
	h.pendMu.Lock()
	if h.current[cl.ID] == cl {
		delete(h.current, cl.ID)
	}
	h.pendMu.Unlock()
}

// writeFor queues recs of cl's session without waiting if cl is its id's current
// connection, and reports whether it did; done (if not nil) gets the write's result.
func (h *SessionHook) writeFor(cl *mqtt.Client, recs []Record, what string, done func(error)) bool {
	h.pendMu.Lock()
	defer h.pendMu.Unlock()
	if h.current[cl.ID] != cl {
		return false
	}
	h.queueLocked(cl.ID, recs, what, done)
	return true
}

// writeAsync queues recs of clientID's session without waiting (hold the id lock, or
// write for a session no connection can have, e.g. at start-up).
func (h *SessionHook) writeAsync(clientID string, recs []Record, what string) {
	h.pendMu.Lock()
	h.queueLocked(clientID, recs, what, nil)
	h.pendMu.Unlock()
}

// queueLocked queues recs and counts them as pending until they are durable (hold pendMu;
// the store calls done callbacks without its own lock, so this cannot deadlock).
func (h *SessionHook) queueLocked(clientID string, recs []Record, what string, done func(error)) {
	if h.pending == nil {
		h.pending = make(map[string]int)
	}
	h.pending[clientID]++
	h.st.ApplyAsync(recs, func(err error) {
		h.pendMu.Lock()
		if h.pending[clientID]--; h.pending[clientID] <= 0 {
			delete(h.pending, clientID)
		}
		h.pendMu.Unlock()
		h.logErr(what, clientID, err)
		if done != nil {
			done(err)
		}
	})
}

// hasPendingWrites reports whether writes of clientID's session are queued, not durable.
func (h *SessionHook) hasPendingWrites(clientID string) bool {
	h.pendMu.Lock()
	defer h.pendMu.Unlock()
	return h.pending[clientID] > 0
}

// awaitWrites waits until the queued writes of clientID's session are durable, so that a
// scan reads what the id's earlier connections left. Without queued writes it returns at
// once; otherwise it waits for one group commit (an empty write is committed after
// everything queued before it). Hold the id lock.
func (h *SessionHook) awaitWrites(clientID string) error {
	if !h.hasPendingWrites(clientID) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	return h.st.Apply(ctx)
}

// forgetLocked waits for clientID's queued writes and queues the deletion of every stored
// key of its session (hold the id lock).
func (h *SessionHook) forgetLocked(clientID string) {
	if err := h.awaitWrites(clientID); err != nil {
		h.log.Error("session: forget: earlier writes of the session did not complete", "client", clientID, "err", err)
	}
	h.forgetAsync(clientID)
}
