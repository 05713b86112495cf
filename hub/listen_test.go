package hub

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestCloseEndsConnectionsBeingSetUp checks that Close closes connections still in their
// TLS handshake (they would otherwise reach mochi's EstablishConnection after its Close,
// mochi #424/#541) and that connections arriving during Close are handled without a race.
func TestCloseEndsConnectionsBeingSetUp(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	tlsAddr := h.TLSAddr().String()
	plainAddr := h.PlainAddr().String()

	// Connections that never start their TLS handshake.
	var stuck []net.Conn
	for range 5 {
		c, err := net.DialTimeout("tcp", tlsAddr, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		stuck = append(stuck, c)
	}

	// Clients connecting and disconnecting while the hub closes.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, err := dialRaw(plainAddr, "dev1", "localhost/dev1/?api-version=2021-04-12",
					deviceToken(t, "dev1", x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour)))
				if err != nil {
					continue // refused or closed by the closing hub
				}
				rc.close()
			}
		})
	}
	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return")
	}
	close(stop)
	wg.Wait()

	// By the time Close returned, the hub had closed the half-open connections: a read
	// sees the end of the stream, not a timeout (the handshake timeout is 10 s).
	for i, c := range stuck {
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout / 2))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("connection %d still open after Close", i)
		} else if err == nil || !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
			t.Errorf("connection %d: read after Close: %v; want end of stream", i, err)
		}
	}
}

// isReset reports whether err is a connection reset by the peer.
func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read"
}

// TestCloseListenersClosesPlain checks that closeListeners (used when a later listener
// fails to bind) releases the plain listener too.
func TestCloseListenersClosesPlain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &Hub{plainLn: ln}
	h.closeListeners()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after closeListeners: %v; want net.ErrClosed", err)
	}
}
