package store

import (
	"reflect"
	"testing"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestClientCodec(t *testing.T) {
	cases := map[string]struct {
		c       storage.Client
		compact bool
	}{
		"node device": {storage.Client{ID: "dev1", T: storage.ClientKey, ProtocolVersion: 4, Listener: "tls",
			Username: []byte("localhost/dev1/?api-version=2021-04-12"), Remote: "127.0.0.1:5555"}, true},
		"bare": {storage.Client{ID: "d", T: storage.ClientKey, ProtocolVersion: 4}, true},
		"will": {storage.Client{ID: "d", T: storage.ClientKey, ProtocolVersion: 4,
			Will: storage.ClientWill{TopicName: "w", Payload: []byte("bye"), Flag: 1}}, false},
		"mqtt5": {storage.Client{ID: "d", T: storage.ClientKey, ProtocolVersion: 5,
			Properties: storage.ClientProperties{SessionExpiryInterval: 60, SessionExpiryIntervalFlag: true,
				User: []packets.UserProperty{{Key: "k", Val: "v"}}}}, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := encodeClient(c.c)
			if err != nil {
				t.Fatal(err)
			}
			if (v[0] == fmtCompactClient) != c.compact {
				t.Fatalf("format byte %d", v[0])
			}
			got, err := decodeClient(c.c.ID, v)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.c) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, c.c)
			}
		})
	}
}

func TestSubCodec(t *testing.T) {
	cases := map[string]storage.Subscription{
		"qos0":    {Qos: 0},
		"options": {Qos: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, Identifier: 300},
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := decodeSub("c", "a/#", encodeSub(s))
			if err != nil {
				t.Fatal(err)
			}
			s.T, s.ID, s.Client, s.Filter = storage.SubscriptionKey, "c\x00a/#", "c", "a/#"
			if !reflect.DeepEqual(got, s) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, s)
			}
		})
	}
}

func FuzzSessionValues(f *testing.F) {
	v, _ := encodeClient(storage.Client{ID: "d", ProtocolVersion: 4, Listener: "tls", Username: []byte("u")})
	f.Add(v)
	f.Add(encodeSub(storage.Subscription{Qos: 1, Identifier: 5}))
	f.Add([]byte(`{"id":"d","filter":"f","client":"d"}`))
	f.Add([]byte{1, 4, 0, 200})
	f.Fuzz(func(t *testing.T, v []byte) {
		if c, err := decodeClient("d", v); err == nil {
			again, err := encodeClient(c)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeClient("d", again)
			if err != nil || !reflect.DeepEqual(back, c) {
				t.Fatalf("client re-encoding differs: %+v vs %+v (%v)", back, c, err)
			}
		}
		if s, err := decodeSub("d", "f", v); err == nil && v[0] == fmtCompactSub {
			back, err := decodeSub("d", "f", encodeSub(s))
			if err != nil || !reflect.DeepEqual(back, s) {
				t.Fatalf("subscription re-encoding differs: %+v vs %+v (%v)", back, s, err)
			}
		}
	})
}
