package hub

import (
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/twinops/twinops/sas"
)

// dialService connects a raw service client with the iothubowner policy and subscribes
// it to its answers.
func dialService(t *testing.T, h *Hub, name string) *rawClient {
	t.Helper()
	var key string
	for _, p := range h.Policies() {
		if p.Name == "iothubowner" {
			key = p.PrimaryKey
		}
	}
	tok, err := sas.NewToken(h.Hostname(), key, "iothubowner", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := dialRaw(h.PlainAddr().String(), "service/"+name, "localhost/service", tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.close)
	if err := rc.subscribe("$twinops/res/#"); err != nil {
		t.Fatal(err)
	}
	return rc
}

// A dropped answer is published again; events are left to the client's gap detection,
// and an answer is given up after redeliverAttempts.
func TestRedeliverDroppedAnswer(t *testing.T) {
	h := startHub(t, t.TempDir())
	rc := dialService(t, h, "redeliver")
	h.service()
	k := &redeliverHook{h: h}
	cl := &mqtt.Client{ID: "service/redeliver"}
	topic := scopePrefix(kindService, "service/redeliver") + "$twinops/res/200/?$rid=77"
	k.OnPublishDropped(cl, packets.Packet{TopicName: topic, Payload: []byte(`{"ok":true}`)})
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	got, body, err := rc.readPublish()
	if err != nil {
		t.Fatal(err)
	}
	if got != "$twinops/res/200/?$rid=77" || string(body) != `{"ok":true}` {
		t.Fatalf("redelivered %s %s", got, body)
	}
	k.OnPublishDropped(cl, packets.Packet{TopicName: "$twinops/events/twin/x", Payload: []byte(`{}`)})
	if len(k.pending) != 1 {
		t.Fatalf("bookkeeping %v: an event must not be redelivered", k.pending)
	}
	for range redeliverAttempts {
		k.OnPublishDropped(cl, packets.Packet{TopicName: topic})
	}
	if _, still := k.pending[topic]; still {
		t.Fatalf("after %d drops the answer is still being retried", redeliverAttempts+1)
	}
}

// Requests that are not $twinops/req/{op}/?$rid={rid} with a usable rid are not
// answered (there is nowhere to answer); a good one is.
func TestParseServiceTopic(t *testing.T) {
	cases := map[string]struct {
		topic, op, rid string
		ok             bool
	}{
		"good":          {"$twinops/req/twin.get/?$rid=1", "twin.get", "1", true},
		"more params":   {"$twinops/req/query/?x=1&$rid=ab", "query", "ab", true},
		"no rid":        {"$twinops/req/twin.get/?x=1", "", "", false},
		"empty rid":     {"$twinops/req/twin.get/?$rid=", "", "", false},
		"wildcard rid":  {"$twinops/req/twin.get/?$rid=a+b", "", "", false},
		"long rid":      {"$twinops/req/twin.get/?$rid=" + strings.Repeat("r", 65), "", "", false},
		"no query part": {"$twinops/req/twin.get", "", "", false},
		"other prefix":  {"$iothub/twin/GET/?$rid=1", "", "", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			op, rid, ok := parseServiceTopic(c.topic)
			if ok != c.ok || op != c.op || rid != c.rid {
				t.Fatalf("got %q %q %v", op, rid, ok)
			}
		})
	}
}

func FuzzParseServiceTopic(f *testing.F) {
	f.Add("$twinops/req/twin.get/?$rid=1")
	f.Add("$twinops/req//?$rid=&$rid=2")
	f.Fuzz(func(t *testing.T, topic string) {
		op, rid, ok := parseServiceTopic(topic)
		if !ok {
			return
		}
		if rid == "" || len(rid) > 64 || strings.ContainsAny(rid, "/+#") || !strings.HasPrefix(topic, svcReqPrefix+op+"/?") {
			t.Fatalf("accepted %q as op %q rid %q", topic, op, rid)
		}
	})
}

func TestTopicLevel(t *testing.T) {
	cases := map[string]string{"plain": "plain", "a+b": "a%2Bb", "#x": "%23x", "50%": "50%25"}
	for in, want := range cases {
		if got := topicLevel(in); got != want {
			t.Errorf("topicLevel(%q) = %q, want %q", in, got, want)
		}
	}
}
