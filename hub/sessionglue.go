package hub

import (
	"context"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/twinops/twinops/hub/store"
)

// addSessionHook adds hub/store's session hook, which keeps persistent sessions (the
// subscriptions as rewritten by our OnSubscribe) in the store across restarts. It must
// come after the hub's own hook.
func (h *Hub) addSessionHook() error {
	h.sessions = store.NewSessionHook(h.st.st, h.log.With("component", "sessions"))
	return h.srv.AddHook(h.sessions, nil)
}

// forgetStoredSession removes a client's stored session; it waits for the store.
func (h *Hub) forgetStoredSession(cl *mqtt.Client) {
	if err := h.sessions.Forget(context.Background(), cl.ID); err != nil {
		h.log.Error("could not forget the stored session", "client", cl.ID, "err", err)
	}
}
