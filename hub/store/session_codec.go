package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
)

// Session value formats. The first byte says which; JSON values (mochi's own storage
// encoding) start with '{'. The compact forms exist because a hub restores every
// session at start-up: 100,000 devices are 300,000 records.
const (
	fmtCompactClient byte = 1   // MQTT 3.1.1 client without will or v5 properties
	fmtCompactSub    byte = 2   // subscription
	fmtTimedClient   byte = 3   // uvarint disconnect time (unix seconds), then a client record in another format
	fmtJSON          byte = '{' // storage.Client / storage.Subscription as JSON
)

var errShortValue = errors.New("truncated session value")

// encodeClient encodes c compactly when it carries nothing beyond what a 3.1.1 client
// has, and as JSON otherwise.
func encodeClient(c storage.Client) ([]byte, error) {
	if c.Will.Flag != 0 || len(c.Will.Payload) > 0 || c.Will.TopicName != "" ||
		c.Properties.SessionExpiryInterval != 0 || c.Properties.SessionExpiryIntervalFlag ||
		len(c.Properties.User) > 0 || c.Properties.AuthenticationMethod != "" ||
		len(c.Properties.AuthenticationData) > 0 || c.Properties.MaximumPacketSize != 0 ||
		c.Properties.ReceiveMaximum != 0 || c.Properties.TopicAliasMaximum != 0 ||
		c.Properties.RequestProblemInfoFlag || c.Properties.RequestProblemInfo != 0 ||
		c.Properties.RequestResponseInfo != 0 {
		return c.MarshalBinary()
	}
	b := make([]byte, 0, 8+len(c.Listener)+len(c.Username)+len(c.Remote))
	b = append(b, fmtCompactClient, c.ProtocolVersion, boolByte(c.Clean))
	b = appendBytes(b, []byte(c.Listener))
	b = appendBytes(b, c.Username)
	b = appendBytes(b, []byte(c.Remote))
	return b, nil
}

// encodeClientAt encodes c with its disconnect time (unix seconds; 0: none recorded, the
// format earlier builds wrote).
func encodeClientAt(c storage.Client, disconnected int64) ([]byte, error) {
	v, err := encodeClient(c)
	if err != nil || disconnected <= 0 {
		return v, err
	}
	b := binary.AppendUvarint([]byte{fmtTimedClient}, uint64(disconnected))
	return append(b, v...), nil
}

// decodeClientAt decodes a client record stored for id and its disconnect time (0 if the
// record has none).
func decodeClientAt(id string, v []byte) (storage.Client, int64, error) {
	if len(v) == 0 || v[0] != fmtTimedClient {
		c, err := decodeClient(id, v)
		return c, 0, err
	}
	at, n := binary.Uvarint(v[1:])
	if n <= 0 || at == 0 || at > 1<<62 {
		return storage.Client{}, 0, errShortValue
	}
	if rest := v[1+n:]; len(rest) == 0 || rest[0] != fmtTimedClient {
		c, err := decodeClient(id, rest)
		return c, int64(at), err
	}
	return storage.Client{}, 0, fmt.Errorf("nested disconnect times in client record")
}

// decodeClient decodes a client record stored for id without a disconnect time.
func decodeClient(id string, v []byte) (storage.Client, error) {
	if len(v) == 0 {
		return storage.Client{}, errShortValue
	}
	if v[0] == fmtJSON {
		var c storage.Client
		err := c.UnmarshalBinary(v)
		if err == nil && c.ID != id {
			err = fmt.Errorf("record names client %q", c.ID)
		}
		return normalizeClient(c), err
	}
	if v[0] != fmtCompactClient || len(v) < 3 {
		return storage.Client{}, fmt.Errorf("unknown client record format %d", v[0])
	}
	c := storage.Client{ID: id, T: storage.ClientKey, ProtocolVersion: v[1], Clean: v[2] == 1}
	rest := v[3:]
	var listener, user, remote []byte
	var err error
	if listener, rest, err = readBytes(rest); err != nil {
		return c, err
	}
	if user, rest, err = readBytes(rest); err != nil {
		return c, err
	}
	if remote, _, err = readBytes(rest); err != nil {
		return c, err
	}
	c.Listener, c.Remote = string(listener), string(remote)
	if len(user) > 0 {
		c.Username = user
	}
	return c, nil
}

// normalizeClient gives a JSON-decoded client the form the compact decoder produces
// (type set, empty slices nil), so that both decode paths agree.
func normalizeClient(c storage.Client) storage.Client {
	c.T = storage.ClientKey
	if len(c.Username) == 0 {
		c.Username = nil
	}
	if len(c.Will.Payload) == 0 {
		c.Will.Payload = nil
	}
	if len(c.Will.User) == 0 {
		c.Will.User = nil
	}
	if len(c.Properties.User) == 0 {
		c.Properties.User = nil
	}
	if len(c.Properties.AuthenticationData) == 0 {
		c.Properties.AuthenticationData = nil
	}
	return c
}

// encodeSub encodes a subscription's options; the client and filter are in the key.
func encodeSub(s storage.Subscription) []byte {
	flags := boolByte(s.NoLocal) | boolByte(s.RetainAsPublished)<<1 | (s.RetainHandling&3)<<2
	b := []byte{fmtCompactSub, s.Qos, flags}
	return binary.AppendUvarint(b, uint64(max(s.Identifier, 0)))
}

// decodeSub decodes the subscription of client id to filter.
func decodeSub(id, filter string, v []byte) (storage.Subscription, error) {
	s := storage.Subscription{T: storage.SubscriptionKey, ID: id + "\x00" + filter, Client: id, Filter: filter}
	if len(v) > 0 && v[0] == fmtJSON {
		var j storage.Subscription
		if err := j.UnmarshalBinary(v); err != nil {
			return s, err
		}
		if j.Client != id || j.Filter != filter {
			return s, fmt.Errorf("record names client %q filter %q", j.Client, j.Filter)
		}
		return j, nil
	}
	if len(v) < 4 || v[0] != fmtCompactSub {
		return s, fmt.Errorf("unknown subscription record format")
	}
	ident, n := binary.Uvarint(v[3:])
	if n <= 0 || ident > 1<<28 {
		return s, errShortValue
	}
	s.Qos, s.NoLocal, s.RetainAsPublished, s.RetainHandling = v[1], v[2]&1 != 0, v[2]&2 != 0, (v[2]>>2)&3
	s.Identifier = int(ident)
	return s, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// appendBytes appends p with a uvarint length prefix.
func appendBytes(b, p []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(p))), p...)
}

// readBytes reads a uvarint-length-prefixed byte string.
func readBytes(b []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errShortValue
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}
