package bench

import (
	"bufio"
	"bytes"
	"sync/atomic"
	"testing"
)

// FuzzReadPacket: any byte stream from a broker gives packets or an error, never a panic
// or an allocation over the limit, and well-formed packets read back as written.
func FuzzReadPacket(f *testing.F) {
	f.Add(appendPacket(nil, pktPublish<<4|2, append(appendString(nil, "a/b"), 0, 1, 'x')))
	f.Add([]byte{pktConnack << 4, 2, 0, 0})
	f.Add([]byte{pktPuback << 4, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for i := 0; i < 16; i++ {
			h, body, err := readPacket(r, nil)
			if err != nil {
				return
			}
			if len(body) > maxPacket {
				t.Fatalf("read a %d-byte packet", len(body))
			}
			again := appendPacket(nil, h, body)
			h2, body2, err := readPacket(bufio.NewReader(bytes.NewReader(again)), nil)
			if err != nil || h2 != h || !bytes.Equal(body, body2) {
				t.Fatalf("packet %x %x did not round-trip: %x %x %v", h, body, h2, body2, err)
			}
		}
	})
}

// FuzzResponseTopic: the twin response parser and the JSON number scanner accept any
// topic or body without panicking.
func FuzzResponseTopic(f *testing.F) {
	f.Add("204/?$rid=s12&$version=3", []byte(`{"bench":{"seq":5}}`))
	f.Add("400/?$rid=e7", []byte(`{"errorCode":400004}`))
	f.Add("200/?$rid=", []byte(`"seq":`))
	f.Fuzz(func(t *testing.T, rest string, body []byte) {
		r := newTwinRun()
		d := &twinDev{id: "d", window: make(chan struct{}, 1), sent: make([]atomic.Int64, 1), desDone: make(chan struct{}, 1)}
		r.onResponse(d, rest, body)
		jsonInt(body, `"seq":`)
	})
}
