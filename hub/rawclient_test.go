package hub

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// rawClient is a minimal MQTT 3.1.1 client for benchmarks: hand-encoded packets, no
// goroutines of its own, so that a thousand of them cost the benchmark process little.
type rawClient struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func appendStr(b []byte, s string) []byte {
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

func appendLen(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// dialRaw connects (CleanSession=0, keepalive 180 s) and waits for a successful CONNACK.
func dialRaw(addr, clientID, username, password string) (*rawClient, error) {
	return dialRawTLS(addr, nil, clientID, username, password)
}

// dialRawTLS is dialRaw over TLS when tc is not nil.
func dialRawTLS(addr string, tc *tls.Config, clientID, username, password string) (*rawClient, error) {
	var c net.Conn
	var err error
	if tc != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: waitTimeout}, "tcp", addr, tc)
	} else {
		c, err = net.DialTimeout("tcp", addr, waitTimeout)
	}
	if err != nil {
		return nil, err
	}
	rc := &rawClient{c: c, r: bufio.NewReaderSize(c, 512), w: bufio.NewWriterSize(c, 512)}
	var body []byte
	body = appendStr(body, "MQTT")
	body = append(body, 4, 0xC0, 0, 180)
	body = appendStr(body, clientID)
	body = appendStr(body, username)
	body = appendStr(body, password)
	rc.write(0x10, body)
	if err := rc.w.Flush(); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	typ, b, err := rc.read()
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, err
	}
	if typ != 2 || len(b) != 2 || b[1] != 0 {
		c.Close()
		return nil, fmt.Errorf("CONNACK %x %x", typ, b)
	}
	return rc, nil
}

func (rc *rawClient) write(header byte, body []byte) {
	hdr := appendLen([]byte{header}, len(body))
	rc.w.Write(hdr)
	rc.w.Write(body)
}

// subscribe sends SUBSCRIBE (QoS 0) and waits for the SUBACK.
func (rc *rawClient) subscribe(filter string) error {
	body := appendStr([]byte{0, 1}, filter)
	body = append(body, 0)
	rc.write(0x82, body)
	if err := rc.w.Flush(); err != nil {
		return err
	}
	typ, _, err := rc.read()
	if err == nil && typ != 9 {
		err = fmt.Errorf("expected SUBACK, got packet type %d", typ)
	}
	return err
}

// publish queues a QoS 0 PUBLISH (call flush to send).
func (rc *rawClient) publish(topic string, payload []byte) {
	body := appendStr(make([]byte, 0, len(topic)+len(payload)+2), topic)
	body = append(body, payload...)
	rc.write(0x30, body)
}

func (rc *rawClient) flush() error { return rc.w.Flush() }

// read reads one packet: its type (high nibble) and body.
func (rc *rawClient) read() (byte, []byte, error) {
	h, err := rc.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := rc.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		mul *= 128
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("bad remaining length")
		}
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rc.r, b); err != nil {
		return 0, nil, err
	}
	return h >> 4, b, nil
}

// readPublish reads packets until a PUBLISH and returns its topic and payload.
func (rc *rawClient) readPublish() (string, []byte, error) {
	for {
		typ, b, err := rc.read()
		if err != nil {
			return "", nil, err
		}
		if typ != 3 || len(b) < 2 {
			continue
		}
		n := int(b[0])<<8 | int(b[1])
		if len(b) < 2+n {
			return "", nil, errors.New("short PUBLISH")
		}
		return string(b[2 : 2+n]), b[2+n:], nil
	}
}

func (rc *rawClient) close() { rc.c.Close() }
