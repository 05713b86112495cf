package hub

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// An idle TLS connection parks its reader outside crypto/tls, and crypto/tls's read
// buffers are dropped meanwhile (tlsconn_idle.go).
//
// mochi reads each connection with a goroutine of its own that sits in Conn.Read while
// the device is idle. Over a plain tls.Conn that goroutine parks inside crypto/tls's
// record reader, whose record buffer is then in use (grown for the next record) and so
// cannot be dropped. tlsConn instead asks crypto/tls for data only when it can be had
// without waiting, and waits for the socket to become readable itself:
//
//	mochi ── tlsConn.Read ── tls.Conn.Read ── sockConn.Read (never waits once established)
//	           └─ nothing yet: drop the buffers, sockConn.waitReadable (MSG_PEEK probe, then the poller)
//
// Correctness: crypto/tls may hold a whole further record (or decrypted bytes) that it
// has not handed out yet, so "the socket has nothing" does not mean "nothing to read".
// tlsConn therefore never looks at the socket first: it always calls tls.Conn.Read, which
// serves whatever crypto/tls holds and reads the socket only when it needs more bytes. The
// socket read underneath answers errWouldBlock instead of waiting; only then, when
// crypto/tls has just asked the socket for more and got nothing, does tlsConn wait for
// readability. crypto/tls treats a net.Error that is Temporary() as resumable: it keeps a
// partial record and does not poison the connection (it is how read deadlines behave), so
// the next Read carries on where this one stopped. Every test in tlsconn*_test.go fails
// if a Go release stops doing so.

// errWouldBlock is what sockConn.Read returns, once the connection is established, when
// the socket has nothing to read. Only crypto/tls and tlsConn see it.
var errWouldBlock error = wouldBlockError{}

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "hub: TLS socket has nothing to read yet" }
func (wouldBlockError) Temporary() bool { return true } // crypto/tls: resumable, not fatal
func (wouldBlockError) Timeout() bool   { return true } // the same, should it look at this one instead

var _ net.Error = wouldBlockError{}

// sockConn is the TCP connection under a tls.Conn. During the handshake it reads like the
// TCP connection; after establish() its Read never waits. Only the connection's one
// reading goroutine calls Read and waitReadable (the scratch fields are theirs); writes,
// deadlines and Close go straight to the TCP connection.
type sockConn struct {
	net.Conn
	rc       syscall.RawConn
	nonblock bool

	buf    []byte // readNow's arguments and results
	n      int
	errno  error
	probe  [1]byte // waitPeek's MSG_PEEK buffer
	probed bool    // waitPeek has probed once in this wait

	readNow, waitPeek func(fd uintptr) bool // the methods below, bound once per connection
}

// newSockConn wraps raw; ok is false when raw gives no access to its socket (not TCP),
// and the connection is then served by a plain tls.Conn.
func newSockConn(raw net.Conn) (*sockConn, bool) {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	s := &sockConn{Conn: raw, rc: rc}
	s.readNow, s.waitPeek = s.readNowFn, s.waitPeekFn
	return s, true
}

// establish switches Read to not waiting. Call it after the handshake, on the goroutine
// that then reads the connection.
func (s *sockConn) establish() { s.nonblock = true }

// Read reads what the socket holds now; with nothing there it returns errWouldBlock
// (once established). A closed connection or a passed read deadline give their usual
// errors.
func (s *sockConn) Read(p []byte) (int, error) {
	if !s.nonblock {
		return s.Conn.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	s.buf = p
	err := s.rc.Read(s.readNow)
	n, errno := s.n, s.errno
	s.buf, s.errno = nil, nil
	switch {
	case err != nil:
		return 0, s.opError(err)
	case errno == syscall.EAGAIN:
		return 0, errWouldBlock
	case errno != nil:
		return 0, s.opError(os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readNowFn is the callback of Read: one read(2) of the non-blocking socket.
func (s *sockConn) readNowFn(fd uintptr) bool {
	for {
		s.n, s.errno = syscall.Read(int(fd), s.buf)
		if s.errno != syscall.EINTR {
			return true
		}
	}
}

// waitReadable returns when the socket has bytes to read, its peer closed it or it
// failed; or with the error of a passed read deadline or a closed connection.
func (s *sockConn) waitReadable() error {
	s.probed = false
	if err := s.rc.Read(s.waitPeek); err != nil {
		return s.opError(err)
	}
	return nil
}

// waitPeekFn is the callback of waitReadable. The first call probes the socket with a
// non-blocking MSG_PEEK (bytes may have arrived since crypto/tls last read; the poller
// only reports what arrives after this wait began); "nothing" lets the poller wait. A
// later call means the poller saw the socket readable: the next Read finds out what is
// there (a spurious wake-up gives errWouldBlock and another wait).
func (s *sockConn) waitPeekFn(fd uintptr) bool {
	if s.probed {
		return true
	}
	s.probed = true
	for {
		_, _, errno := syscall.Recvfrom(int(fd), s.probe[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true // bytes, end of stream or an error: Read reports it
	}
}

// opError presents errors like net.Conn.Read does ("read tcp a->b: ..."), also those of
// the raw socket access ("raw-read").
func (s *sockConn) opError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		if oe.Op != "raw-read" {
			return err
		}
		err = oe.Err
	}
	return &net.OpError{Op: "read", Net: "tcp", Source: s.LocalAddr(), Addr: s.RemoteAddr(), Err: err}
}

// tlsConn is the connection mochi gets from the TLS listener: the tls.Conn, whose Read
// waits for the socket outside crypto/tls (see above). Writes, deadlines and Close are the
// tls.Conn's. It must not implement syscall.Conn: the outbox writes straight to sockets
// that do, which would bypass TLS.
type tlsConn struct {
	*tls.Conn
	sock *sockConn
	bufs *tlsBuffers // nil: keep crypto/tls's buffers while idle
}

// Read reads application data like tls.Conn.Read. Only mochi's reading goroutine calls it.
func (c *tlsConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if !errors.Is(err, errWouldBlock) {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		if c.bufs != nil {
			c.bufs.release(c.Conn)
		}
		if err := c.sock.waitReadable(); err != nil {
			return 0, err
		}
	}
}
