package hub

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// tlsBuffers lets an idle tlsConn give back crypto/tls's read buffers.
//
// A tls.Conn keeps, for its whole life, the record buffer (rawInput) and the handshake
// buffer (hand) at the largest size they ever needed: the ClientHello (0.3 KB from the
// Azure Node SDK on OpenSSL 3.0, 1.5 KB from clients sending a post-quantum key share)
// and the largest record the device ever sent (up to 16 KB, e.g. after one big reported
// patch). crypto/tls has no way to release them (golang/go#43563, #81348). While a
// tlsConn waits for its socket, crypto/tls holds no bytes at all in them (it has just
// asked the socket for more and got nothing), so they can be dropped: the next record
// allocates what it needs (576 bytes for a small one).
//
// The fields are crypto/tls's unexported ones, found by name and type when the TLS
// listener is made; if a Go release renames or retypes them, nothing is released (and
// TestTLSBuffersFound fails, so the upgrade is noticed). They are touched only by the
// connection's reading goroutine, between two tls.Conn.Read calls: the only code that
// uses them is crypto/tls's read path, which runs on that same goroutine.
type tlsBuffers struct {
	rawInput, hand, input uintptr // offsets in tls.Conn
}

// findTLSBuffers locates the buffers in tls.Conn; ok is false if this Go's crypto/tls
// does not have them as expected.
func findTLSBuffers() (b tlsBuffers, ok bool) {
	t := reflect.TypeFor[tls.Conn]()
	for _, f := range []struct {
		name string
		typ  reflect.Type
		off  *uintptr
	}{
		{"rawInput", reflect.TypeFor[bytes.Buffer](), &b.rawInput},
		{"hand", reflect.TypeFor[bytes.Buffer](), &b.hand},
		{"input", reflect.TypeFor[bytes.Reader](), &b.input},
	} {
		sf, found := t.FieldByName(f.name)
		if !found || sf.Type != f.typ || len(sf.Index) != 1 {
			return tlsBuffers{}, false
		}
		*f.off = sf.Offset
	}
	return b, true
}

// release drops c's read buffers if they hold nothing. Only c's reading goroutine may
// call it, and not while a tls.Conn.Read of c runs.
func (b *tlsBuffers) release(c *tls.Conn) {
	p := unsafe.Pointer(c)
	raw := (*bytes.Buffer)(unsafe.Add(p, b.rawInput))
	hand := (*bytes.Buffer)(unsafe.Add(p, b.hand))
	in := (*bytes.Reader)(unsafe.Add(p, b.input))
	if raw.Len() != 0 || hand.Len() != 0 || in.Len() != 0 {
		return // a partial record or message: kept for the next Read
	}
	if raw.Cap() != 0 {
		*raw = bytes.Buffer{}
		*in = bytes.Reader{} // it pointed into rawInput's array
	}
	if hand.Cap() != 0 {
		*hand = bytes.Buffer{}
	}
}
