package hub

import (
	"context"

	"github.com/twinops/twinops/hub/store"
)

// addSessionHook adds hub/store's session hook, which keeps persistent sessions (the
// subscriptions as rewritten by our OnSubscribe) in the store across restarts. It must
// come after the hub's own hook. Sessions are restored lazily, when their client
// reconnects with CleanSession=0 (subscriptions and CONNACK sessionPresent=1), so
// start-up does not grow with the number of stored sessions (eager restore cost ≈3.8
// CPU-seconds for 100,000; docs/benchmarks/hub.md).
func (h *Hub) addSessionHook() error {
	h.sessions = store.NewLazySessionHook(h.st.st, h.srv, h.log.With("component", "sessions"))
	return h.srv.AddHook(h.sessions, nil)
}

// forgetStoredSession removes client id's stored session, whether or not mochi holds it
// in memory (with lazy restore, a session stays only in the store until its client
// reconnects); it waits for the store.
func (h *Hub) forgetStoredSession(id string) {
	if err := h.sessions.Forget(context.Background(), id); err != nil {
		h.log.Error("could not forget the stored session", "client", id, "err", err)
	}
}
