package hub

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// MQTT limits. Azure's largest device message is 256 KB; twin sections are 32 KB.
const (
	maxPacketSize       = 256*1024 + 1024
	maxWritesPending    = 64  // per client; mochi's default (8192) costs 64 KB per client
	readBufferSize      = 512 // per client; mochi's default is 2 KB
	sysTopicInterval    = 24 * 60 * 60
	tlsHandshakeTimeout = 10 * time.Second
)

// newServer creates the mochi server with the hub's hooks.
func (h *Hub) newServer() error {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = maxPacketSize
	caps.MaximumClientWritesPending = maxWritesPending
	caps.MaximumQos = 1             // IoT Hub: no QoS 2
	caps.MinimumProtocolVersion = 4 // MQTT 3.1.1
	caps.RetainAvailable = 0
	caps.SharedSubAvailable = 0
	caps.MaximumInflight = 1024
	caps.TopicAliasMaximum = 0 // an MQTT 5 feature; nothing to keep per client
	h.srv = mqtt.New(&mqtt.Options{
		Capabilities:            caps,
		Logger:                  h.log.With("component", "mqtt"),
		SysTopicResendInterval:  sysTopicInterval,
		ClientNetReadBufferSize: readBufferSize,
		InlineClient:            true,
	})
	if err := h.srv.AddHook(&hook{h: h}, nil); err != nil {
		return err
	}
	return h.addSessionHook()
}

// listen binds the configured listeners and attaches them to the server.
func (h *Hub) listen() error {
	if h.cfg.TLSAddr != "" {
		ln, err := net.Listen("tcp", h.cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("TLS listener on %s: %w", h.cfg.TLSAddr, err)
		}
		h.tlsLn = ln
		l := &listener{id: "tls", ln: ln, tls: h.tlsConfig, log: h.log, closeClients: h.closeListenerClients}
		if b, ok := findTLSBuffers(); ok {
			l.tlsBufs = &b
		} else {
			h.log.Warn("this Go's crypto/tls is not as expected: idle TLS connections keep their read buffers")
		}
		if err := h.srv.AddListener(l); err != nil {
			return err
		}
	}
	if h.cfg.PlainAddr != "" {
		ln, err := net.Listen("tcp", h.cfg.PlainAddr)
		if err != nil {
			h.closeListeners()
			return fmt.Errorf("plain listener on %s: %w", h.cfg.PlainAddr, err)
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			ln.Close()
			h.closeListeners()
			return fmt.Errorf("plain listener %s resolved to %s, which is not loopback", h.cfg.PlainAddr, ip)
		}
		h.plainLn = ln
		if err := h.srv.AddListener(&listener{id: "plain", ln: ln, log: h.log, closeClients: h.closeListenerClients}); err != nil {
			return err
		}
	}
	if h.tlsLn == nil && h.plainLn == nil {
		return errors.New("no listener configured; give a TLS address (--tls-addr) or a loopback plain address (--plain-addr)")
	}
	return nil
}

// closeListenerClients disconnects the clients of listener id. It replaces mochi's
// closeListenerClients, whose Clients.GetByListener takes the Clients read lock twice
// (GetByListener, then Len inside it): a client connecting or disconnecting in between
// (Clients.Add or Delete, waiting for the write lock) blocks the second RLock behind it
// while it waits for the first, and the server deadlocks for good (mochi #488, fixes in
// PRs #489 and #507, not in v2.7.9). GetAll takes the read lock once.
func (h *Hub) closeListenerClients(id string) {
	for _, cl := range h.srv.Clients.GetAll() {
		if cl.Net.Listener == id && !cl.Closed() {
			_ = h.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

func (h *Hub) closeListeners() {
	if h.tlsLn != nil {
		h.tlsLn.Close()
	}
	if h.plainLn != nil {
		h.plainLn.Close()
	}
}

// listener is a mochi listener over a net.Listener the hub bound itself (so the bound
// address is known), with TLS handshakes done before the MQTT layer sees the connection.
//
// It tracks the connections it has accepted until their handle goroutine (TLS handshake
// and all of mochi's EstablishConnection) returns, and Close waits for them. mochi's
// Server.Close waits on its ClientsWg after closing the listeners, but EstablishConnection
// does ClientsWg.Add itself, so a connection accepted just before Close could Add during
// that Wait (a WaitGroup misuse, and a client attached after Close: mochi #424, #541).
// Waiting here first means every Add and Done has happened before mochi's Wait starts.
//
// It disconnects its clients with closeClients (the hub's), never with the CloseFn mochi
// passes to Close (see Hub.closeListenerClients).
type listener struct {
	id           string
	ln           net.Listener
	tls          *tls.Config
	tlsBufs      *tlsBuffers // nil: idle TLS connections keep crypto/tls's buffers
	log          *slog.Logger
	closeClients func(listenerID string)
	once         sync.Once

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // accepted, handle not yet returned
	wg     sync.WaitGroup        // handle goroutines
}

var _ listeners.Listener = (*listener)(nil)

func (l *listener) ID() string       { return l.id }
func (l *listener) Address() string  { return l.ln.Addr().String() }
func (l *listener) Protocol() string { return "tcp" }

// Init is a no-op: the socket is already bound.
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until the listener is closed.
func (l *listener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			continue // Accept fails next: the listener is closed
		}
		if l.conns == nil {
			l.conns = make(map[net.Conn]struct{})
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.handle(c, establish)
	}
}

// handle does the TLS handshake of raw (TLS listener) and hands the connection to mochi.
func (l *listener) handle(raw net.Conn, establish listeners.EstablishFn) {
	if l.tls == nil {
		l.serve(raw, raw, establish)
		return
	}
	c, err := l.handshake(raw)
	if err != nil {
		l.log.Debug("TLS handshake failed", "remote", raw.RemoteAddr().String(), "err", err)
		raw.Close()
		l.untrack(raw)
		return
	}
	l.serve(raw, c, establish)
}

// handshake does the server side of the TLS handshake on raw within tlsHandshakeTimeout
// and returns the connection mochi reads: a tlsConn when raw is a socket, else the
// tls.Conn.
func (l *listener) handshake(raw net.Conn) (net.Conn, error) {
	sock, ok := newSockConn(raw)
	under := raw
	if ok {
		under = sock
	}
	tc := tls.Server(under, l.tls)
	_ = tc.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	if !ok {
		return tc, nil
	}
	sock.establish()
	return &tlsConn{Conn: tc, sock: sock, bufs: l.tlsBufs}, nil
}

// serve runs mochi's EstablishConnection for c (raw, or the TLS connection over raw).
func (l *listener) serve(raw, c net.Conn, establish listeners.EstablishFn) {
	defer l.untrack(raw)
	if err := establish(l.id, c); err != nil {
		l.log.Debug("connection ended", "listener", l.id, "remote", raw.RemoteAddr().String(), "err", err)
	}
}

// untrack forgets raw once its connection has left mochi (or failed its handshake).
func (l *listener) untrack(raw net.Conn) {
	l.mu.Lock()
	delete(l.conns, raw)
	l.mu.Unlock()
	l.wg.Done()
}

// Close stops accepting, closes the listener's clients and every connection still being
// set up, and waits until all of them have left mochi's EstablishConnection. mochi's
// CloseFn is not used: it can deadlock (see Hub.closeListenerClients).
func (l *listener) Close(listeners.CloseFn) {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.ln.Close()
		l.closeClients(l.id)
		l.mu.Lock()
		for c := range l.conns {
			c.Close() // the raw conn: ends a TLS handshake or mochi's read loop
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
}
