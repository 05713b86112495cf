package store

import (
	"log/slog"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// NewLazySessionHook returns a session hook that restores a stored session when its
// client reconnects instead of when the server starts: mochi's Serve then loads nothing,
// so start-up and memory do not grow with the number of stored sessions (eager restore
// costs ~4 CPU seconds and a full mochi client per session for 100,000 sessions; see
// docs/benchmarks/hub.md). The difference a client can see: while it is away after a
// restart, nothing is queued for it (twin topics are QoS 0, and IoT Hub does not queue
// desired notifications for offline devices either). On reconnect with CleanSession=0 it
// gets its stored subscriptions and CONNACK sessionPresent=1, as with eager restore.
// Sessions that expire while their clients stay away are deleted by a sweep at start-up
// and every hour (sessionPresent is never set for an expired one). srv is the server the
// hook is added to.
func NewLazySessionHook(st *Store, srv *mqtt.Server, log *slog.Logger) *SessionHook {
	h := NewSessionHook(st, log)
	h.srv, h.sweepEvery = srv, sweepInterval
	return h
}

// lazyProvides reports the hook methods that lazy restore adds or drops.
func (h *SessionHook) lazyProvides(b byte) (provides, decided bool) {
	switch b {
	case mqtt.StoredClients, mqtt.StoredSubscriptions:
		return false, true
	case mqtt.OnPacketEncode:
		return true, true
	}
	return false, false
}

// OnSessionEstablish makes cl its id's current connection (earlier connections' writes
// are dropped from now on) and, for a clean session, queues the deletion of the stored
// one after the writes already queued for the id. With lazy restore, it gives a client
// that resumes a session with CleanSession=0, and that mochi holds no session for, its
// stored subscriptions before mochi sends CONNACK, unless the session has expired (then it
// deletes it). mochi calls it on the client's goroutine after authentication and before it
// takes any of its locks for the connection (inheritClientSession, Clients.Add), so
// calling into the server here (Clients.Get, Topics.Subscribe) cannot deadlock. It reads
// the store (no fsync, unless writes of this session are still queued).
func (h *SessionHook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	if !storable(cl.ID) {
		return
	}
	unlock := h.lockID(cl.ID)
	defer unlock()
	h.setCurrent(cl)
	if !persistent(cl) || pk.Connect.Clean {
		h.forgetLocked(cl.ID)
		return
	}
	if h.srv == nil {
		return // mochi restored every session in Serve
	}
	if _, inMemory := h.srv.Clients.Get(cl.ID); inMemory {
		return // mochi inherits the in-memory session itself
	}
	if err := h.awaitWrites(cl.ID); err != nil {
		h.log.Error("session: restore: earlier writes of the session did not complete", "client", cl.ID, "err", err)
		return
	}
	if h.restore(cl) {
		h.present.Store(cl.ID, cl)
	}
}

// restore subscribes cl to its stored subscriptions and reports whether it had a stored
// session; an expired one is deleted instead (hold the id lock).
func (h *SessionHook) restore(cl *mqtt.Client) bool {
	var subs []packets.Subscription
	var keys []string // filters, "" for the client record
	expired := false
	err := h.scanClient(cl.ID, func(filter string, v []byte) {
		keys = append(keys, filter)
		if filter == "" {
			c, at, err := decodeClientAt(cl.ID, v)
			if err != nil {
				h.log.Warn("session: unreadable client record; restoring its subscriptions", "client", cl.ID, "err", err)
				return
			}
			expired = h.expired(c, at)
			return
		}
		s, err := decodeSub(cl.ID, filter, v)
		if err != nil {
			h.log.Warn("session: skipping unreadable subscription", "client", cl.ID, "filter", filter, "err", err)
			return
		}
		subs = append(subs, packets.Subscription{
			Filter:            s.Filter,
			RetainHandling:    s.RetainHandling,
			Qos:               s.Qos,
			RetainAsPublished: s.RetainAsPublished,
			NoLocal:           s.NoLocal,
			Identifier:        s.Identifier,
		})
	})
	if err != nil {
		h.log.Error("session: restore", "client", cl.ID, "err", err)
		return false
	}
	if expired {
		dels := make([]Record, len(keys))
		for i, f := range keys {
			dels[i] = Record{Key: append(sessionKey(cl.ID), f...), Delete: true}
		}
		h.writeAsync(cl.ID, dels, "delete expired session")
		return false
	}
	for _, sub := range subs {
		if h.srv.Topics.Subscribe(cl.ID, sub) {
			atomic.AddInt64(&h.srv.Info.Subscriptions, 1)
		}
		cl.State.Subscriptions.Add(sub.Filter, sub)
	}
	return len(keys) > 0 // the session exists, even with no subscriptions
}

// OnPacketEncode (lazy restore only) sets sessionPresent on the CONNACK of a client
// whose session OnSessionEstablish restored. Called on the client's goroutine.
func (h *SessionHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Connack {
		return pk
	}
	if h.present.CompareAndDelete(cl.ID, cl) && pk.ReasonCode == packets.CodeSuccess.Code {
		pk.SessionPresent = true
	}
	return pk
}

// scanClient calls fn for each stored record of clientID's session (filter "" for the
// client record).
func (h *SessionHook) scanClient(clientID string, fn func(filter string, v []byte)) error {
	key := sessionKey(clientID)
	return h.st.Scan(key, func(k, v []byte) error {
		fn(string(k[len(key):]), v)
		return nil
	})
}
