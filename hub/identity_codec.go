package hub

import (
	"encoding/binary"
	"errors"
	"time"
)

// Identities are stored in a compact binary form (start-up decodes 100,000 of them):
// a version byte, then length-prefixed strings and the status time in Unix nanoseconds.
const identityCodecV1 = 1

// marshalIdentity encodes the stored fields of x (not the live ones: connection state
// and last activity are kept on the twin).
func marshalIdentity(x *Identity) []byte {
	k := x.Authentication.SymmetricKey
	strs := [...]string{x.DeviceID, x.GenerationID, x.Etag, x.Status, x.StatusReason, k.PrimaryKey, k.SecondaryKey}
	n := 1 + binary.MaxVarintLen64
	for _, s := range strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, identityCodecV1)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	var ns int64
	if !x.StatusUpdatedTime.IsZero() {
		ns = x.StatusUpdatedTime.UnixNano()
	}
	return binary.AppendVarint(b, ns)
}

var errIdentityCodec = errors.New("not a stored identity (bad version or truncated)")

// unmarshalIdentity decodes what marshalIdentity wrote.
func unmarshalIdentity(b []byte) (*Identity, error) {
	if len(b) == 0 || b[0] != identityCodecV1 {
		return nil, errIdentityCodec
	}
	b = b[1:]
	var strs [7]string
	for i := range strs {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return nil, errIdentityCodec
		}
		strs[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	ns, w := binary.Varint(b)
	if w <= 0 || w != len(b) {
		return nil, errIdentityCodec
	}
	x := &Identity{DeviceID: strs[0], GenerationID: strs[1], Etag: strs[2], Status: strs[3], StatusReason: strs[4],
		ConnectionState: "Disconnected",
		Authentication:  Authentication{Type: "sas", SymmetricKey: SymmetricKey{PrimaryKey: strs[5], SecondaryKey: strs[6]}}}
	if ns != 0 {
		x.StatusUpdatedTime = time.Unix(0, ns).UTC()
	}
	return x, nil
}
