package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
	"unsafe"
)

// The load tool speaks MQTT 3.1.1 itself, with one reader goroutine and a buffered writer
// per connection, so that thousands of simulated devices cost the machine little and the
// hub, not the load generator, is what gets measured. It implements only what the load
// needs: CONNECT, SUBSCRIBE, PUBLISH at QoS 0 and 1, PUBACK, PINGREQ and DISCONNECT.

const (
	pktConnect    = 1
	pktConnack    = 2
	pktPublish    = 3
	pktPuback     = 4
	pktSubscribe  = 8
	pktSuback     = 9
	pktPingreq    = 12
	pktPingresp   = 13
	pktDisconnect = 14

	maxPacket = 1 << 20 // largest packet the load tool accepts (twin documents are < 64 KB)
)

// ConnectOptions are what a Conn puts in its CONNECT packet and how it reaches the broker.
type ConnectOptions struct {
	Addr         string      // host:port
	TLS          *tls.Config // nil for plain TCP
	LocalIP      net.IP      // source address; nil lets the kernel choose
	ClientID     string
	Username     string
	Password     string
	CleanSession bool
	KeepAlive    time.Duration // 0 disables keep-alive pings
	// OnPublish is called on the connection's reader goroutine for every PUBLISH received;
	// topic and payload are only valid during the call. It must not block.
	OnPublish func(topic string, payload []byte)
	// OnPuback is called on the reader goroutine for every PUBACK; it must not block.
	OnPuback func(id uint16)
}

// Conn is one MQTT 3.1.1 client connection. Its methods are safe for concurrent use.
type Conn struct {
	nc   net.Conn
	opts ConnectOptions

	wmu    sync.Mutex
	w      *bufio.Writer
	nextID uint16

	smu     sync.Mutex
	subacks map[uint16]chan []byte

	done    chan struct{}
	errOnce sync.Once
	err     error
}

// ErrConnClosed is returned by writes on a connection that has ended.
var ErrConnClosed = errors.New("mqtt connection closed")

// Dial connects, sends CONNECT and waits for CONNACK. A refused CONNACK is an error that
// names the return code.
func Dial(ctx context.Context, o ConnectOptions) (*Conn, error) {
	d := net.Dialer{}
	if o.LocalIP != nil {
		d.LocalAddr = &net.TCPAddr{IP: o.LocalIP}
	}
	nc, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	if o.TLS != nil {
		tc := tls.Client(nc, o.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", o.Addr, err)
		}
		nc = tc
	}
	c := &Conn{
		nc:      nc,
		opts:    o,
		w:       bufio.NewWriterSize(nc, 2048),
		subacks: map[uint16]chan []byte{},
		done:    make(chan struct{}),
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	r := bufio.NewReaderSize(nc, 2048)
	if err := c.writePacket(appendConnect(nil, o)); err != nil {
		nc.Close()
		return nil, err
	}
	typ, body, err := readPacket(r, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("waiting for CONNACK from %s: %w", o.Addr, err)
	}
	if typ>>4 != pktConnack || len(body) != 2 {
		nc.Close()
		return nil, fmt.Errorf("expected CONNACK from %s, got packet type %d", o.Addr, typ)
	}
	if body[1] != 0 {
		nc.Close()
		return nil, fmt.Errorf("CONNACK from %s refused %q: return code %d", o.Addr, o.ClientID, body[1])
	}
	nc.SetDeadline(time.Time{})
	go c.readLoop(r)
	if o.KeepAlive > 0 {
		go c.pingLoop()
	}
	return c, nil
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended (nil while it is up).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

func (c *Conn) fail(err error) {
	c.errOnce.Do(func() {
		c.err = err
		c.nc.Close()
		close(c.done)
	})
}

// Close sends DISCONNECT and closes the connection.
func (c *Conn) Close() error {
	c.writePacket([]byte{pktDisconnect << 4, 0})
	c.fail(ErrConnClosed)
	return nil
}

// Subscribe subscribes to one filter and waits for the SUBACK; it returns the granted QoS
// (0x80 is failure).
func (c *Conn) Subscribe(ctx context.Context, filter string, qos byte) (byte, error) {
	ch := make(chan []byte, 1)
	c.wmu.Lock()
	id := c.id()
	c.smu.Lock()
	c.subacks[id] = ch
	c.smu.Unlock()
	body := binary.BigEndian.AppendUint16(nil, id)
	body = appendString(body, filter)
	body = append(body, qos)
	b := appendPacket(nil, pktSubscribe<<4|2, body)
	err := c.writeLocked(b)
	c.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	select {
	case p := <-ch:
		if len(p) < 3 {
			return 0, fmt.Errorf("short SUBACK for %q", filter)
		}
		return p[2], nil
	case <-c.done:
		return 0, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Publish sends a PUBLISH. For QoS 1 it returns the packet id; the PUBACK arrives through
// OnPuback.
func (c *Conn) Publish(topic string, qos byte, payload []byte) (uint16, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var id uint16
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		id = c.id()
		n += 2
	}
	b := appendHeader(c.scratch(n+5), pktPublish<<4|qos<<1, n)
	b = appendString(b, topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	b = append(b, payload...)
	return id, c.writeLocked(b)
}

// Message is one QoS 0 PUBLISH for PublishBatch.
type Message struct {
	Topic, Payload []byte
}

// PublishBatch sends msgs as QoS 0 PUBLISHes with a single flush (one write for what fits
// the connection's buffer).
func (c *Conn) PublishBatch(msgs []Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, m := range msgs {
		n := 2 + len(m.Topic) + len(m.Payload)
		b := appendHeader(c.scratch(n+5), pktPublish<<4, n)
		b = binary.BigEndian.AppendUint16(b, uint16(len(m.Topic)))
		b = append(b, m.Topic...)
		if err := c.bufferLocked(append(b, m.Payload...)); err != nil {
			return err
		}
	}
	return c.flushLocked()
}

func (c *Conn) scratch(n int) []byte {
	if c.w.Available() >= n {
		return c.w.AvailableBuffer()
	}
	return make([]byte, 0, n)
}

// id returns the next non-zero packet id; the caller holds wmu.
func (c *Conn) id() uint16 {
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	return c.nextID
}

func (c *Conn) writePacket(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

func (c *Conn) writeLocked(b []byte) error {
	if err := c.bufferLocked(b); err != nil {
		return err
	}
	return c.flushLocked()
}

// bufferLocked adds b to the write buffer (writing out what no longer fits).
func (c *Conn) bufferLocked(b []byte) error {
	select {
	case <-c.done:
		return ErrConnClosed
	default:
	}
	if _, err := c.w.Write(b); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

func (c *Conn) flushLocked() error {
	if err := c.w.Flush(); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

func (c *Conn) pingLoop() {
	t := time.NewTicker(c.opts.KeepAlive / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.writePacket([]byte{pktPingreq << 4, 0})
		}
	}
}

func (c *Conn) readLoop(r *bufio.Reader) {
	var buf []byte
	for {
		typ, body, err := readPacket(r, buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			c.fail(err)
			return
		}
		buf = body[:0]
		flags := typ & 0x0f
		switch typ >> 4 {
		case pktPublish:
			c.handlePublish(flags, body)
		case pktPuback:
			if len(body) >= 2 && c.opts.OnPuback != nil {
				c.opts.OnPuback(binary.BigEndian.Uint16(body))
			}
		case pktSuback:
			if len(body) >= 2 {
				id := binary.BigEndian.Uint16(body)
				c.smu.Lock()
				ch := c.subacks[id]
				delete(c.subacks, id)
				c.smu.Unlock()
				if ch != nil {
					ch <- append([]byte(nil), body...)
				}
			}
		}
	}
}

func (c *Conn) handlePublish(flags byte, body []byte) {
	if len(body) < 2 {
		c.fail(errors.New("malformed PUBLISH"))
		return
	}
	tl := int(binary.BigEndian.Uint16(body))
	if len(body) < 2+tl {
		c.fail(errors.New("malformed PUBLISH topic"))
		return
	}
	topic := body[2 : 2+tl]
	rest := body[2+tl:]
	qos := (flags >> 1) & 3
	if qos > 0 {
		if len(rest) < 2 {
			c.fail(errors.New("malformed PUBLISH packet id"))
			return
		}
		id := rest[:2]
		rest = rest[2:]
		c.writePacket([]byte{pktPuback << 4, 2, id[0], id[1]})
	}
	if c.opts.OnPublish != nil {
		c.opts.OnPublish(bytesToString(topic), rest)
	}
}

// readPacket reads one packet; the first return is the whole fixed-header byte.
func readPacket(r *bufio.Reader, buf []byte) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("malformed remaining length")
		}
		mult *= 128
	}
	if n > maxPacket {
		return 0, nil, fmt.Errorf("packet of %d bytes is over the load tool's limit of %d", n, maxPacket)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return h, buf, nil
}

func appendConnect(dst []byte, o ConnectOptions) []byte {
	var flags byte
	if o.CleanSession {
		flags |= 0x02
	}
	if o.Username != "" {
		flags |= 0x80
	}
	if o.Password != "" {
		flags |= 0x40
	}
	body := appendString(nil, "MQTT")
	body = append(body, 4, flags)
	body = binary.BigEndian.AppendUint16(body, uint16(o.KeepAlive/time.Second))
	body = appendString(body, o.ClientID)
	if o.Username != "" {
		body = appendString(body, o.Username)
	}
	if o.Password != "" {
		body = appendString(body, o.Password)
	}
	return appendPacket(dst, pktConnect<<4, body)
}

func appendPacket(dst []byte, header byte, body []byte) []byte {
	return append(appendHeader(dst, header, len(body)), body...)
}

func appendHeader(dst []byte, header byte, n int) []byte {
	dst = append(dst, header)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst
		}
	}
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// bytesToString views b as a string without copying; the string is valid only while b is.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
