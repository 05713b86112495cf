package hub

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/twinops/twinops/hub/pki"
)

// heldConn is the client's TCP connection: after hold, what the client's tls.Conn writes
// (whole records) is kept until send writes it to the socket in chosen pieces.
type heldConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  bytes.Buffer
}

func (h *heldConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.hold {
		return h.Conn.Write(p)
	}
	return h.buf.Write(p)
}

// send writes the held bytes in pieces of the given sizes (cycled; the rest in one).
func (h *heldConn) send(t *testing.T, chunks ...int) {
	t.Helper()
	h.mu.Lock()
	b := bytes.Clone(h.buf.Bytes())
	h.buf.Reset()
	h.mu.Unlock()
	for i := 0; len(b) > 0; i++ {
		n := len(b)
		if len(chunks) > 0 {
			n = min(n, chunks[i%len(chunks)])
		}
		if _, err := h.Conn.Write(b[:n]); err != nil {
			t.Fatalf("client socket write: %v", err)
		}
		b = b[n:]
	}
}

// tlsPair connects a TLS client to a server connection made by the TLS listener's
// handshake (what mochi reads), over loopback TCP. The client's records are held (see
// heldConn) from the end of the handshake.
func tlsPair(t *testing.T) (srv net.Conn, cli *tls.Conn, held *heldConn, bufs *tlsBuffers) {
	t.Helper()
	r, err := pki.Ensure(pki.Options{Dir: t.TempDir(), Names: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	b, ok := findTLSBuffers()
	if !ok {
		t.Fatal("crypto/tls's read buffers not found")
	}
	l := &listener{tls: r.TLS, tlsBufs: &b, log: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		c, err := l.handshake(raw)
		done <- result{c, err}
	}()
	raw, err := net.DialTimeout("tcp", ln.Addr().String(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	held = &heldConn{Conn: raw}
	cli = tls.Client(held, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	t.Cleanup(func() { res.c.Close(); raw.Close() })
	if _, ok := res.c.(*tlsConn); !ok {
		t.Fatalf("server connection is a %T, want *tlsConn", res.c)
	}
	held.mu.Lock()
	held.hold = true
	held.mu.Unlock()
	return res.c, cli, held, &b
}

// readN reads n bytes from c with reads of at most bufSize bytes, on another goroutine; it
// fails the test if they do not arrive within waitTimeout (a connection that hangs).
func readN(t *testing.T, c net.Conn, n, bufSize int) []byte {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		got := make([]byte, 0, n)
		buf := make([]byte, bufSize)
		for len(got) < n {
			k, err := c.Read(buf[:min(bufSize, n-len(got))])
			got = append(got, buf[:k]...)
			if err != nil {
				done <- result{got, err}
				return
			}
		}
		done <- result{got, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("read %d of %d bytes, then: %v", len(r.b), n, r.err)
		}
		return r.b
	case <-time.After(waitTimeout):
		c.Close()
		<-done
		t.Fatalf("read hung: %d bytes sent and not all read", n)
		return nil
	}
}

// writeRecords writes one TLS record per size (the client's tls.Conn writes each Write
// of up to 16 KB as one record) and returns all the bytes written.
func writeRecords(t *testing.T, cli *tls.Conn, rng *rand.Rand, sizes ...int) []byte {
	t.Helper()
	var all []byte
	for _, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		if _, err := cli.Write(b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func repeat(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

func TestTLSConnDeliversEveryRecord(t *testing.T) {
	cases := map[string]struct {
		records []int // plaintext bytes per record
		chunks  []int // socket writes of the held records (none: one write)
		readBuf int   // the server's read size
	}{
		"many records in one socket write":        {records: []int{1, 2, 3, 50, 100, 200, 300, 7, 1000, 5}, readBuf: 512},
		"second record waits inside crypto/tls":   {records: []int{10, 10}, readBuf: 10},
		"records split byte by byte":              {records: repeat(20, 100), chunks: []int{1}, readBuf: 512},
		"record header split from its body":       {records: repeat(8, 300), chunks: []int{3, 2, 200, 117}, readBuf: 512},
		"big records in odd pieces":               {records: []int{16384, 16384, 20000, 3, 16384}, chunks: []int{1000, 7, 3333}, readBuf: 512},
		"big records, tiny reads":                 {records: []int{16384, 16384}, readBuf: 7},
		"big record then small ones in one write": {records: []int{4000, 5, 6, 7}, readBuf: 512},
		"one byte reads of small records":         {records: repeat(30, 3), chunks: []int{64}, readBuf: 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv, cli, held, _ := tlsPair(t)
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			want := writeRecords(t, cli, rng, tc.records...)
			held.send(t, tc.chunks...)
			if got := readN(t, srv, len(want), tc.readBuf); !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes that differ from the %d sent", len(got), len(want))
			}
		})
	}
}

// TestTLSConnRandomTraffic sends random records in random pieces, in several rounds with
// the server idle (parked on its socket) in between, and reads them with random sizes.
func TestTLSConnRandomTraffic(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			srv, cli, held, _ := tlsPair(t)
			for range 4 {
				sizes := make([]int, 1+rng.IntN(30))
				for i := range sizes {
					sizes[i] = 1 + rng.IntN([]int{40, 700, 20000}[rng.IntN(3)])
				}
				want := writeRecords(t, cli, rng, sizes...)
				chunks := make([]int, 1+rng.IntN(5))
				for i := range chunks {
					chunks[i] = 1 + rng.IntN([]int{5, 300, 9000}[rng.IntN(3)])
				}
				held.send(t, chunks...)
				if got := readN(t, srv, len(want), 1+rng.IntN(4096)); !bytes.Equal(got, want) {
					t.Fatalf("read %d bytes that differ from the %d sent", len(got), len(want))
				}
			}
		})
	}
}

func TestTLSConnDeadline(t *testing.T) {
	srv, cli, held, _ := tlsPair(t)
	buf := make([]byte, 512)
	expectTimeout := func(what string) {
		t.Helper()
		_ = srv.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		n, err := srv.Read(buf)
		var ne net.Error
		if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("%s: Read = %d, %v; want 0 and a timeout", what, n, err)
		}
		_ = srv.SetReadDeadline(time.Time{})
	}
	expectTimeout("idle")

	want := writeRecords(t, cli, rand.New(rand.NewPCG(2, 2)), 1000)
	held.mu.Lock()
	all := bytes.Clone(held.buf.Bytes())
	held.buf.Reset()
	held.mu.Unlock()
	if _, err := held.Conn.Write(all[:600]); err != nil { // half a record
		t.Fatal(err)
	}
	expectTimeout("half a record received")
	if _, err := held.Conn.Write(all[600:]); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, srv, len(want), 512); !bytes.Equal(got, want) {
		t.Fatal("the record completed after a timeout was not read intact")
	}
}

func TestTLSConnClose(t *testing.T) {
	cases := map[string]struct {
		close func(srv net.Conn, cli *tls.Conn, held *heldConn)
		check func(err error) bool
	}{
		"server closes while its read waits": {
			close: func(srv net.Conn, _ *tls.Conn, _ *heldConn) { srv.Close() },
			check: func(err error) bool { return errors.Is(err, net.ErrClosed) },
		},
		"client sends close_notify": {
			close: func(_ net.Conn, cli *tls.Conn, held *heldConn) {
				held.mu.Lock()
				held.hold = false
				held.mu.Unlock()
				cli.Close()
			},
			check: func(err error) bool { return err == io.EOF },
		},
		"client drops the socket": {
			close: func(_ net.Conn, _ *tls.Conn, held *heldConn) { held.Conn.Close() },
			check: func(err error) bool { return err == io.EOF },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv, cli, held, _ := tlsPair(t)
			errc := make(chan error, 1)
			go func() {
				_, err := srv.Read(make([]byte, 512))
				errc <- err
			}()
			tc.close(srv, cli, held)
			select {
			case err := <-errc:
				if !tc.check(err) {
					t.Fatalf("Read ended with %v", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("Read did not return after the close")
			}
		})
	}
}

// TestTLSConnWritesWhileReading writes from one goroutine while another reads (mochi's
// reader and writer); run with -race.
func TestTLSConnWritesWhileReading(t *testing.T) {
	srv, cli, held, _ := tlsPair(t)
	held.mu.Lock()
	held.hold = false
	held.mu.Unlock()
	const msgs, size = 200, 300
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range msgs {
			if _, err := srv.Write(bytes.Repeat([]byte{byte(i)}, size)); err != nil {
				t.Errorf("server write: %v", err)
				return
			}
		}
	})
	got := make(chan []byte, 1)
	wg.Go(func() { got <- readN(t, srv, msgs*size, 512) })
	for i := range msgs {
		if _, err := cli.Write(bytes.Repeat([]byte{byte(i)}, size)); err != nil {
			t.Fatal(err)
		}
	}
	back := make([]byte, msgs*size)
	_ = cli.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.ReadFull(cli, back); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	b := <-got
	for i := range msgs {
		want := bytes.Repeat([]byte{byte(i)}, size)
		if !bytes.Equal(b[i*size:(i+1)*size], want) || !bytes.Equal(back[i*size:(i+1)*size], want) {
			t.Fatalf("message %d garbled", i)
		}
	}
}

// TestTLSConnReleasesBuffersWhileIdle checks that a connection waiting for its socket
// holds none of crypto/tls's read buffers, even after a 16 KB record, and that the next
// small record reallocates only a small one.
func TestTLSConnReleasesBuffersWhileIdle(t *testing.T) {
	srv, cli, held, bufs := tlsPair(t)
	tc := srv.(*tlsConn).Conn
	want := writeRecords(t, cli, rand.New(rand.NewPCG(3, 3)), 16384)
	held.send(t)
	if got := readN(t, srv, len(want), 512); !bytes.Equal(got, want) {
		t.Fatal("big record garbled")
	}
	// readN's goroutine has returned; this goroutine reads from here on.
	_ = srv.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := srv.Read(make([]byte, 512)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle Read: %v, want a timeout", err)
	}
	_ = srv.SetReadDeadline(time.Time{})
	raw, hand, _ := bufs.caps(tc)
	if raw != 0 || hand != 0 {
		t.Fatalf("idle connection holds crypto/tls buffers of %d and %d bytes, want none", raw, hand)
	}
	want = writeRecords(t, cli, rand.New(rand.NewPCG(4, 4)), 20)
	held.send(t)
	if got := readN(t, srv, len(want), 512); !bytes.Equal(got, want) {
		t.Fatal("small record garbled")
	}
	if raw, _, _ := bufs.caps(tc); raw > 1024 {
		t.Fatalf("record buffer is %d bytes after a 20-byte record", raw)
	}
}

func TestTLSConnIsNotASyscallConn(t *testing.T) {
	srv, _, _, _ := tlsPair(t)
	if _, ok := srv.(syscall.Conn); ok {
		t.Fatal("the TLS connection implements syscall.Conn: the outbox would write plaintext to its socket")
	}
}

func TestTLSBuffersFound(t *testing.T) {
	if _, ok := findTLSBuffers(); !ok {
		t.Fatal("crypto/tls.Conn no longer has rawInput, hand (bytes.Buffer) and input (bytes.Reader): " +
			"idle TLS connections keep their buffers; update tlsconn_idle.go for this Go release")
	}
}

// caps returns the capacities of c's record buffer, handshake buffer and the length of its
// decrypted input.
func (b *tlsBuffers) caps(c *tls.Conn) (raw, hand, input int) {
	p := unsafe.Pointer(c)
	return (*bytes.Buffer)(unsafe.Add(p, b.rawInput)).Cap(),
		(*bytes.Buffer)(unsafe.Add(p, b.hand)).Cap(),
		(*bytes.Reader)(unsafe.Add(p, b.input)).Len()
}

// TestTLSConnPartialRecordsAcrossWaits sends records in small pieces and, after each
// piece, lets the server read until it has to wait for its socket (a short deadline ends
// each wait): every wait then begins with part of a record inside crypto/tls, which must
// survive it (and must not be dropped with the idle buffers).
func TestTLSConnPartialRecordsAcrossWaits(t *testing.T) {
	srv, cli, held, _ := tlsPair(t)
	want := writeRecords(t, cli, rand.New(rand.NewPCG(5, 5)), 3, 700, 1, 2000, 40)
	held.mu.Lock()
	wire := bytes.Clone(held.buf.Bytes())
	held.buf.Reset()
	held.mu.Unlock()
	var got []byte
	buf := make([]byte, 512)
	for i, pieces := 0, []int{1, 2, 3, 5, 8, 13, 21, 100}; len(wire) > 0; i++ {
		n := min(len(wire), pieces[i%len(pieces)])
		if _, err := held.Conn.Write(wire[:n]); err != nil {
			t.Fatal(err)
		}
		wire = wire[n:]
		for {
			_ = srv.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
			k, err := srv.Read(buf)
			got = append(got, buf[:k]...)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("after %d of %d bytes: %v", len(got), len(want), err)
			}
		}
	}
	_ = srv.SetReadDeadline(time.Time{})
	if rest := len(want) - len(got); rest > 0 {
		got = append(got, readN(t, srv, rest, 512)...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes that differ from the %d sent", len(got), len(want))
	}
}
