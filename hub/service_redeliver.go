package hub

import (
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mochi keeps a few pending writes per client and drops a publish that finds them full.
// An event so lost shows as a gap in seq and the client resynchronises; an answer so
// lost would leave a request waiting for its timeout. The redeliver hook sees every drop
// and publishes a dropped answer again, backing off, a few times.

const (
	redeliverAttempts = 8                   // 1+2+4+...+128 ms: a quarter of a second
	redeliverFirst    = time.Millisecond    // first delay, doubled each time
	redeliverForget   = 10 * time.Second    // drop bookkeeping of answers that got through
	svcResScoped      = "/" + svcResPrefix  // a scoped answer topic holds this
	redeliverHookID   = "twinops-redeliver" // mochi hook id
)

// redeliverHook is a mochi hook providing OnPublishDropped only.
type redeliverHook struct {
	mqtt.HookBase
	h *Hub

	mu      sync.Mutex
	pending map[string]redelivery // scoped topic of a dropped answer -> its retries
}

type redelivery struct {
	attempts int
	first    time.Time
}

// ID names the hook.
func (k *redeliverHook) ID() string { return redeliverHookID }

// Provides says the hook implements OnPublishDropped.
func (k *redeliverHook) Provides(b byte) bool { return b == mqtt.OnPublishDropped }

// OnPublishDropped runs on the publishing goroutine when mochi drops a publish for a
// client whose queue is full. It never blocks: a retry is scheduled on a timer.
func (k *redeliverHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	topic := pk.TopicName
	if !strings.Contains(topic, svcResScoped) {
		return // events: the client sees the gap in seq
	}
	now := time.Now()
	k.mu.Lock()
	if k.pending == nil {
		k.pending = map[string]redelivery{}
	}
	for t, r := range k.pending {
		if now.Sub(r.first) > redeliverForget {
			delete(k.pending, t)
		}
	}
	r, ok := k.pending[topic]
	if !ok {
		r.first = now
	}
	r.attempts++
	give := r.attempts > redeliverAttempts
	if give {
		delete(k.pending, topic)
	} else {
		k.pending[topic] = r
	}
	k.mu.Unlock()
	if give {
		k.h.log.Warn("service answer dropped: the client's queue stayed full; its request will time out",
			"client", cl.ID, "topic", stripScope(topic))
		return
	}
	payload := pk.Payload
	time.AfterFunc(redeliverFirst<<(r.attempts-1), func() {
		select {
		case <-k.h.quit:
		default:
			k.h.publish(topic, payload)
		}
	})
}

// addRedeliverHook registers the hook (once, from service()).
func (h *Hub) addRedeliverHook() {
	if err := h.srv.AddHook(&redeliverHook{h: h}, nil); err != nil {
		h.log.Warn("service answers will not be redelivered after a drop", "err", err)
	}
}
