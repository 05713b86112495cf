package store

import (
	"context"
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
// srv is the server the hook is added to.
func NewLazySessionHook(st *Store, srv *mqtt.Server, log *slog.Logger) *SessionHook {
	h := NewSessionHook(st, log)
	h.srv = srv
	return h
}

// lazyProvides reports the hook methods that lazy restore adds or drops.
func (h *SessionHook) lazyProvides(b byte) (provides, decided bool) {
	switch b {
	case mqtt.StoredClients, mqtt.StoredSubscriptions:
		return false, true
	case mqtt.OnSessionEstablish, mqtt.OnPacketEncode:
		return true, true
	}
	return false, false
}

// OnSessionEstablish (lazy restore only) gives a client that resumes a session with
// CleanSession=0, and that mochi holds no session for, its stored subscriptions before
// mochi sends CONNACK; for a clean session it queues the deletion of the stored one.
// mochi calls it on the client's goroutine after authentication and before it takes any
// of its locks for the connection (inheritClientSession, Clients.Add), so calling into
// the server here (Clients.Get, Topics.Subscribe) cannot deadlock. It reads the store (no
// fsync, unless writes of this session are still queued).
func (h *SessionHook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	if h.srv == nil || !storable(cl.ID) {
		return
	}
	if !persistent(cl) || pk.Connect.Clean {
		// Queued before CONNACK, so a reconnect after it waits for it (awaitWrites).
		h.forgetAsync(cl.ID)
		return
	}
	if _, inMemory := h.srv.Clients.Get(cl.ID); inMemory {
		return // mochi inherits the in-memory session itself
	}
	if err := h.awaitWrites(cl.ID); err != nil {
		h.log.Error("session: restore: earlier writes of the session did not complete", "client", cl.ID, "err", err)
		return
	}
	restored := false
	err := h.scanClient(cl.ID, func(filter string, v []byte) {
		if filter == "" {
			restored = true // the session exists, even with no subscriptions
			return
		}
		s, err := decodeSub(cl.ID, filter, v)
		if err != nil {
			h.log.Warn("session: skipping unreadable subscription", "client", cl.ID, "filter", filter, "err", err)
			return
		}
		sub := packets.Subscription{
			Filter:            s.Filter,
			RetainHandling:    s.RetainHandling,
			Qos:               s.Qos,
			RetainAsPublished: s.RetainAsPublished,
			NoLocal:           s.NoLocal,
			Identifier:        s.Identifier,
		}
		if h.srv.Topics.Subscribe(cl.ID, sub) {
			atomic.AddInt64(&h.srv.Info.Subscriptions, 1)
		}
		cl.State.Subscriptions.Add(sub.Filter, sub)
		restored = true
	})
	if err != nil {
		h.log.Error("session: restore", "client", cl.ID, "err", err)
		return
	}
	if restored {
		h.present.Store(cl.ID, cl)
	}
}

// awaitWrites waits until the queued writes of clientID's session are durable, so that a
// restore reads what the client's last connection left (e.g. not a session it ended with
// a clean connect a moment ago, or a filter it unsubscribed). Without queued writes it
// returns at once; otherwise it waits for one group commit (an empty write is committed
// after everything queued before it).
func (h *SessionHook) awaitWrites(clientID string) error {
	if !h.hasPendingWrites(clientID) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	return h.st.Apply(ctx)
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
