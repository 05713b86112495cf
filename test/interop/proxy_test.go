package interop

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// proxy forwards TCP connections from its own loopback port to the hub, and can cut every
// connection it carries: to the device that is a network drop (the socket closes under
// it), the case the Azure SDK reconnects from without re-subscribing.
type proxy struct {
	ln net.Listener

	mu       sync.Mutex
	target   string        // "" holds new connections until a target is set
	changed  chan struct{} // closed when target changes
	conns    map[net.Conn]struct{}
	accepted chan struct{} // one value per accepted connection
	done     chan struct{} // closed by close
	wg       sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, changed: make(chan struct{}), conns: map[net.Conn]struct{}{},
		accepted: make(chan struct{}, 64), done: make(chan struct{})}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// Port is the proxy's port, for HostName=localhost:<port>.
func (p *proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up := p.dial()
		if up == nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		select {
		case p.accepted <- struct{}{}:
		default:
		}
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// setTarget points new connections at addr; "" makes them wait (a hub restarting).
func (p *proxy) setTarget(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = addr
	close(p.changed)
	p.changed = make(chan struct{})
}

// dial connects to the current target, waiting up to 30 s for one that answers (while
// the target is unset or refuses, it waits for the next setTarget).
func (p *proxy) dial() net.Conn {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		target, changed := p.target, p.changed
		p.mu.Unlock()
		if target != "" {
			if up, err := net.Dial("tcp", target); err == nil {
				return up
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil
		case <-p.done:
			return nil
		}
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut closes every connection the proxy carries now; returns how many pairs it cut.
func (p *proxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns) / 2
	for c := range p.conns {
		c.Close()
	}
	return n
}

func (p *proxy) close() {
	close(p.done)
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}
