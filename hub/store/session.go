package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// SessionPrefix is the key prefix of persistent MQTT sessions. A session is the client
// record under "s/{clientID}\x00" and one record per subscription under
// "s/{clientID}\x00{filter}" (values: see session_codec.go; compact binary, or mochi's
// JSON for clients with MQTT 5 properties or a will).
const SessionPrefix = "s/"

// subscribeTimeout bounds how long OnSubscribed waits for its write to be durable.
const subscribeTimeout = 10 * time.Second

// SessionHook is a mochi-mqtt storage hook that keeps persistent sessions (MQTT 3.1.1
// CleanSession=0, or MQTT 5 with a session expiry) in the Store across hub restarts: the
// client record and its granted subscriptions, exactly as mochi holds them (filters as
// rewritten by earlier hooks' OnSubscribe). Retained and inflight messages are not kept:
// the Azure device protocol does not retain, and twin topics are QoS 0.
//
// A subscription is durable before its SUBACK is sent (OnSubscribed waits for fsync);
// other writes are queued without waiting. Add it with Server.AddHook after the hooks
// that rewrite filters; close the mochi server before the Store. Its methods are called
// by mochi on client goroutines (Stored* during Serve) and are safe for concurrent use.
type SessionHook struct {
	mqtt.HookBase
	st  *Store
	log *slog.Logger

	mu     sync.Mutex
	loaded []storage.Subscription // read by StoredClients' scan, handed out once by StoredSubscriptions
	cached bool

	srv *mqtt.Server // lazy restore (NewLazySessionHook); nil: mochi restores all in Serve
	// present: client id -> *mqtt.Client lazily restored whose CONNACK is not yet sent.
	// Keyed by id, so a connection that fails before its CONNACK (no hook sees that)
	// leaves at most one entry per id, replaced by the next restore.
	present sync.Map

	pendMu  sync.Mutex
	pending map[string]int          // client id -> queued writes not yet durable (see queueLocked)
	current map[string]*mqtt.Client // client id -> its last connection, until that ends (see session_seq.go)
	locks   map[string]*idLock      // client id -> its session lock, while held or awaited

	started    time.Time        // a record without a disconnect time expires counting from here
	now        func() time.Time // the clock for session expiry
	sweepEvery time.Duration    // lazy restore: how often to delete expired sessions (0: never)
	sweep      sweeper
}

var _ mqtt.Hook = (*SessionHook)(nil)

// NewSessionHook returns a session hook writing to st; log nil discards.
func NewSessionHook(st *Store, log *slog.Logger) *SessionHook {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SessionHook{st: st, log: log, started: time.Now(), now: time.Now}
}

// ID implements mqtt.Hook.
func (h *SessionHook) ID() string { return "twinops-sessions" }

// Provides implements mqtt.Hook.
func (h *SessionHook) Provides(b byte) bool {
	if h.srv != nil {
		if provides, decided := h.lazyProvides(b); decided {
			return provides
		}
	}
	return bytes.Contains([]byte{
		mqtt.OnSessionEstablish,
		mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
		mqtt.OnSubscribed,
		mqtt.OnUnsubscribed,
		mqtt.OnClientExpired,
		mqtt.OnStarted,
		mqtt.StoredClients,
		mqtt.StoredSubscriptions,
	}, []byte{b})
}

// persistent reports whether cl's session outlives its connection (mochi's rule).
func persistent(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

// sessionKey is the key of a client's record; a subscription key appends its filter.
func sessionKey(clientID string) []byte {
	return []byte(SessionPrefix + clientID + "\x00")
}

// storable reports whether clientID can be keyed (MQTT forbids U+0000 in it anyway).
func storable(clientID string) bool {
	return clientID != "" && !strings.Contains(clientID, "\x00")
}

// OnSessionEstablished records a persistent client (unless another connection of its id
// has connected since). A clean session's stored one was forgotten by OnSessionEstablish.
func (h *SessionHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if !storable(cl.ID) || !persistent(cl) {
		return
	}
	h.recordClient(cl, 0)
}

// recordClient queues cl's client record, with its disconnect time (unix seconds) if not
// 0, if cl is still its id's current connection.
func (h *SessionHook) recordClient(cl *mqtt.Client, disconnected int64) {
	v, err := encodeClientAt(clientRecord(cl), disconnected)
	if err != nil {
		h.log.Error("session: encode client", "client", cl.ID, "err", err)
		return
	}
	h.writeFor(cl, []Record{{Key: sessionKey(cl.ID), Value: v}}, "record client", nil)
}

// clientRecord is mochi's storable form of cl.
func clientRecord(cl *mqtt.Client) storage.Client {
	p := cl.Properties.Props.Copy(false)
	return storage.Client{
		ID:              cl.ID,
		T:               storage.ClientKey,
		Remote:          cl.Net.Remote,
		Listener:        cl.Net.Listener,
		Username:        cl.Properties.Username,
		Clean:           cl.Properties.Clean,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval:     p.SessionExpiryInterval,
			SessionExpiryIntervalFlag: p.SessionExpiryIntervalFlag,
			AuthenticationMethod:      p.AuthenticationMethod,
			AuthenticationData:        p.AuthenticationData,
			RequestProblemInfo:        p.RequestProblemInfo,
			RequestProblemInfoFlag:    p.RequestProblemInfoFlag,
			RequestResponseInfo:       p.RequestResponseInfo,
			ReceiveMaximum:            p.ReceiveMaximum,
			TopicAliasMaximum:         p.TopicAliasMaximum,
			User:                      p.User,
			MaximumPacketSize:         p.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	}
}

// OnSubscribed stores the granted subscriptions of a persistent client (refused ones,
// reason code 0x80 or above, are not stored) and waits until they are durable, so that
// a SUBACK always means the subscription survives a hub restart.
func (h *SessionHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	if !storable(cl.ID) || !persistent(cl) {
		return
	}
	recs := make([]Record, 0, len(pk.Filters))
	for i, f := range pk.Filters {
		if i >= len(reasonCodes) || reasonCodes[i] >= packets.ErrUnspecifiedError.Code {
			continue
		}
		v := encodeSub(storage.Subscription{
			Filter:            f.Filter,
			Identifier:        f.Identifier,
			RetainHandling:    f.RetainHandling,
			Qos:               reasonCodes[i],
			RetainAsPublished: f.RetainAsPublished,
			NoLocal:           f.NoLocal,
		})
		recs = append(recs, Record{Key: append(sessionKey(cl.ID), f.Filter...), Value: v})
	}
	if len(recs) == 0 {
		return
	}
	done := make(chan error, 1)
	if !h.writeFor(cl, recs, "store subscriptions", func(err error) { done <- err }) {
		return // a newer connection of the id has taken over: it decides the session
	}
	select {
	case <-done: // an error is logged by the write
	case <-time.After(subscribeTimeout):
		h.log.Error("session: store subscriptions: timed out waiting for the store", "client", cl.ID)
	}
}

// OnUnsubscribed removes the client's stored subscriptions for the filters (called by
// mochi for UNSUBSCRIBE and when a session is cleaned).
func (h *SessionHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if !storable(cl.ID) || len(pk.Filters) == 0 {
		return
	}
	recs := make([]Record, len(pk.Filters))
	for i, f := range pk.Filters {
		recs[i] = Record{Key: append(sessionKey(cl.ID), f.Filter...), Delete: true}
	}
	h.writeFor(cl, recs, "remove subscriptions", nil)
}

// OnDisconnect forgets the session when mochi ends it (expire), or records the disconnect
// time of a session that can expire; nothing if another connection of the id has
// connected since.
func (h *SessionHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	h.present.CompareAndDelete(cl.ID, cl)
	if !storable(cl.ID) || errors.Is(cl.StopCause(), packets.ErrSessionTakenOver) {
		return
	}
	unlock := h.lockID(cl.ID)
	defer unlock()
	if !h.isCurrent(cl.ID, cl) {
		return
	}
	switch {
	case expire:
		h.forgetLocked(cl.ID)
	case persistent(cl) && h.expiryInterval(storage.Client{
		ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval:     cl.Properties.Props.SessionExpiryInterval,
			SessionExpiryIntervalFlag: cl.Properties.Props.SessionExpiryIntervalFlag,
		},
	}) < math.MaxUint32:
		h.recordClient(cl, h.now().Unix())
	}
	h.endCurrent(cl)
}

// OnClientExpired forgets a session that mochi expired, unless its id has connected again.
func (h *SessionHook) OnClientExpired(cl *mqtt.Client) {
	if !storable(cl.ID) {
		return
	}
	unlock := h.lockID(cl.ID)
	defer unlock()
	if h.isCurrent(cl.ID, nil) {
		h.forgetLocked(cl.ID)
	}
}

// expiryInterval is how many seconds after its disconnect mochi expires c's session (its
// rule: an MQTT 5 client's session expiry interval, else the server's maximum, which is
// "never" (math.MaxUint32) unless configured).
func (h *SessionHook) expiryInterval(c storage.Client) uint32 {
	if c.ProtocolVersion == 5 && c.Properties.SessionExpiryIntervalFlag {
		return c.Properties.SessionExpiryInterval
	}
	if h.srv != nil && h.srv.Options != nil && h.srv.Options.Capabilities != nil {
		return h.srv.Options.Capabilities.MaximumSessionExpiryInterval
	}
	return math.MaxUint32
}

// expired reports whether c's session, disconnected at unix second disconnected (0: not
// recorded, e.g. written by an earlier build or while connected when the hub stopped;
// counted from this hook's creation), has expired.
func (h *SessionHook) expired(c storage.Client, disconnected int64) bool {
	if disconnected == 0 {
		disconnected = h.started.Unix()
	}
	return disconnected+int64(h.expiryInterval(c)) < h.now().Unix()
}

// Forget deletes clientID's stored session (e.g. when its device identity is deleted),
// after the writes already queued for it, and returns once that is durable. It does not
// touch mochi's in-memory session.
func (h *SessionHook) Forget(ctx context.Context, clientID string) error {
	if !storable(clientID) {
		return nil
	}
	unlock := h.lockID(clientID)
	defer unlock()
	if err := h.awaitWrites(clientID); err != nil {
		return fmt.Errorf("session: forget %q: earlier writes did not complete: %w", clientID, err)
	}
	recs, err := h.sessionDeletes(clientID)
	if err != nil || len(recs) == 0 {
		return err
	}
	return h.st.Apply(ctx, recs...)
}

// forgetAsync queues the deletion of clientID's stored session.
func (h *SessionHook) forgetAsync(clientID string) {
	recs, err := h.sessionDeletes(clientID)
	if err != nil {
		h.log.Error("session: forget", "client", clientID, "err", err)
		return
	}
	if len(recs) > 0 {
		h.writeAsync(clientID, recs, "forget session")
	}
}

// sessionDeletes lists deletions for every stored key of clientID's session.
func (h *SessionHook) sessionDeletes(clientID string) ([]Record, error) {
	if !storable(clientID) {
		return nil, nil
	}
	var recs []Record
	err := h.st.Scan(sessionKey(clientID), func(k, _ []byte) error {
		recs = append(recs, Record{Key: bytes.Clone(k), Delete: true})
		return nil
	})
	return recs, err
}

// logErr logs a failed write (ErrClosed at debug level: mochi reports disconnects while
// the hub shuts down).
func (h *SessionHook) logErr(what, clientID string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrClosed):
		h.log.Debug("session: "+what+" after the store closed", "client", clientID)
	default:
		h.log.Error("session: "+what, "client", clientID, "err", err)
	}
}

// StoredClients returns the stored persistent clients (mochi calls it once in Serve,
// then StoredSubscriptions). One scan reads both; the subscriptions wait for
// StoredSubscriptions.
func (h *SessionHook) StoredClients() ([]storage.Client, error) {
	clients, subs, err := h.load()
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.loaded, h.cached = subs, true
	h.mu.Unlock()
	return clients, nil
}

// StoredSubscriptions returns the stored subscriptions (mochi calls it once in Serve,
// after StoredClients).
func (h *SessionHook) StoredSubscriptions() ([]storage.Subscription, error) {
	h.mu.Lock()
	subs, cached := h.loaded, h.cached
	h.loaded, h.cached = nil, false
	h.mu.Unlock()
	if cached {
		return subs, nil
	}
	_, subs, err := h.load()
	return subs, err
}

// load reads every stored session, skipping (and logging) unreadable records, and
// skipping and deleting expired sessions.
func (h *SessionHook) load() ([]storage.Client, []storage.Subscription, error) {
	var clients []storage.Client
	var subs []storage.Subscription
	expired := map[string][]Record{} // keys are sorted: a client record precedes its subscriptions
	err := h.scanSessions(func(id, filter string, v []byte) {
		if dels, ok := expired[id]; ok {
			expired[id] = append(dels, Record{Key: append(sessionKey(id), filter...), Delete: true})
			return
		}
		if filter == "" {
			c, at, err := decodeClientAt(id, v)
			if err != nil {
				h.log.Warn("session: skipping unreadable client record", "client", id, "err", err)
				return
			}
			if h.expired(c, at) {
				expired[id] = []Record{{Key: sessionKey(id), Delete: true}}
				return
			}
			clients = append(clients, c)
			return
		}
		sub, err := decodeSub(id, filter, v)
		if err != nil {
			h.log.Warn("session: skipping unreadable subscription", "client", id, "filter", filter, "err", err)
			return
		}
		subs = append(subs, sub)
	})
	for id, dels := range expired {
		h.writeAsync(id, dels, "delete expired session")
	}
	return clients, subs, err
}

// scanSessions calls fn for every session key, split into client id and filter ("" for
// the client record).
func (h *SessionHook) scanSessions(fn func(id, filter string, v []byte)) error {
	err := h.st.Scan([]byte(SessionPrefix), func(k, v []byte) error {
		id, filter, ok := strings.Cut(string(k[len(SessionPrefix):]), "\x00")
		if !ok {
			h.log.Warn("session: skipping malformed key", "key", string(k))
			return nil
		}
		fn(id, filter, v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("session: load: %w", err)
	}
	return nil
}
