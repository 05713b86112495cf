package hub

import (
	"strings"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Devices' twin subscriptions are kept out of mochi's topic index. The hub writes twin
// answers and desired notifications to a device's connection itself (outbox.go),
// checking the client's own subscription list (mochi's Client.State.Subscriptions), and
// nothing else is ever published to a device topic, so the index entries would only cost
// memory: five trie nodes and two subscription maps per device, ≈4 KB of an idle
// device's ≈31 KB (docs/benchmarks/hub.md), and a bigger trie for every event publish
// to walk. The subscriptions stay in the client's list, so persistent sessions, take-overs
// and the outbox see them as before.
//
// mochi adds a granted filter to the index before OnSubscribed, and a session's filters
// before OnSessionEstablished (take-over, or hub/store's lazy restore); the hook (hook.go)
// removes the device ones right after, with these two. Neither runs under a mochi lock.

// unindexGranted takes the device filters just granted in pk out of the index.
func (k *hook) unindexGranted(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] < packets.ErrUnspecifiedError.Code {
			k.unindex(cl, f.Filter)
		}
	}
}

// unindexSession takes the device filters of a resumed session out of the index.
func (k *hook) unindexSession(cl *mqtt.Client) {
	if cl.State.Subscriptions.Len() == 0 {
		return
	}
	for f := range cl.State.Subscriptions.GetAll() {
		k.unindex(cl, f)
	}
}

// unindex removes cl's subscription to filter from the index if it is a device filter.
func (k *hook) unindex(cl *mqtt.Client, filter string) {
	if !strings.HasPrefix(filter, devicePrefix) {
		return
	}
	if k.h.srv.Topics.Unsubscribe(filter, cl.ID) {
		atomic.AddInt64(&k.h.srv.Info.Subscriptions, -1)
	}
}
