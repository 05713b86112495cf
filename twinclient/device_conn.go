package twinclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/twinops/twinops/sas"
)

// deviceAPIVersion is the api-version the Azure SDKs put in the MQTT username.
const deviceAPIVersion = "2021-04-12"

// devGapWait is how long a desired notification newer than the next expected one is held
// for the missing ones before the device re-reads the whole twin.
const devGapWait = 2 * time.Second

// writeTimeout bounds writing one packet, and how long paho's Publish may block when the
// connection goes away under it.
const writeTimeout = 5 * time.Second

// devEndpoint is where a Device connects.
type devEndpoint struct {
	addr string      // host:port
	tls  *tls.Config // nil for plain MQTT (loopback only)
}

// deviceEndpoint resolves opts.URL (or the connection string's host) and the TLS config.
func deviceEndpoint(opts DeviceOptions, cs sas.ConnectionString) (devEndpoint, error) {
	scheme, hostport := "mqtts", cs.HostName
	if cs.GatewayHostName != "" {
		hostport = cs.GatewayHostName
	}
	if opts.URL != "" {
		u, err := url.Parse(opts.URL)
		if err != nil || u.Host == "" {
			return devEndpoint{}, fmt.Errorf("twinclient: URL %q is not mqtts://host:port or mqtt://127.0.0.1:port", opts.URL)
		}
		scheme, hostport = u.Scheme, u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), ""
	}
	switch scheme {
	case "mqtts", "ssl", "tls", "tcps":
		if port == "" {
			port = "8883"
		}
		conf, err := deviceTLS(opts, host)
		if err != nil {
			return devEndpoint{}, err
		}
		return devEndpoint{addr: net.JoinHostPort(host, port), tls: conf}, nil
	case "mqtt", "tcp":
		if !devIsLoopback(host) {
			return devEndpoint{}, fmt.Errorf("twinclient: plain MQTT to %q refused: SAS tokens would cross the network in clear; use mqtts:// (plain is for loopback only)", host)
		}
		if port == "" {
			port = "1883"
		}
		return devEndpoint{addr: net.JoinHostPort(host, port)}, nil
	}
	return devEndpoint{}, fmt.Errorf("twinclient: URL scheme %q not supported; use mqtts://host:port (or mqtt:// on loopback)", scheme)
}

// deviceTLS builds the TLS config: the hub's CA (or the system roots) and SNI = host.
func deviceTLS(opts DeviceOptions, host string) (*tls.Config, error) {
	roots := opts.RootCAs
	if roots == nil && opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("twinclient: reading the hub CA: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("twinclient: CA file %s holds no PEM certificate; give the hub's ca.pem", opts.CAFile)
		}
	}
	if opts.ServerName != "" {
		host = opts.ServerName
	}
	cache := opts.TLSSessionCache
	if cache == nil {
		cache = tls.NewLRUClientSessionCache(2)
	}
	return &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12, ClientSessionCache: cache}, nil
}

// devIsLoopback reports whether host is localhost or a loopback IP.
func devIsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// devConn is one MQTT connection (a new paho client per connection, so that nothing of
// an old connection's state leaks into the next).
type devConn struct {
	client mqtt.Client
	gen    uint64
	expiry time.Time
	lost   chan error         // capacity 1: paho reported the connection lost
	ctx    context.Context    // ends when the Device stops using the connection
	cancel context.CancelFunc // ends ctx

	netMu sync.Mutex
	net   net.Conn
}

// closeNet closes the socket under paho (Drop).
func (c *devConn) closeNet() {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	if c.net != nil {
		_ = c.net.Close()
	}
}

// connectOnce makes one connection attempt: a fresh token, CONNECT (CleanSession=false),
// and the two twin subscriptions. It returns a ready connection or why not.
func (d *Device) connectOnce(ctx context.Context) (*devConn, error) {
	expiry := devTokenExpiry(d.opts.Now(), d.opts.TokenLifetime)
	token, err := d.cs.NewToken(expiry)
	if err != nil {
		return nil, fmt.Errorf("twinclient: device %s: signing a token: %w", d.cs.DeviceID, err)
	}
	c := &devConn{gen: d.nextGen.Add(1), expiry: expiry, lost: make(chan error, 1)}
	c.ctx, c.cancel = context.WithCancel(d.ctx)
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + d.ep.addr).
		SetClientID(d.cs.DeviceID).
		SetUsername(d.cs.HostName + "/" + d.cs.DeviceID + "/?api-version=" + deviceAPIVersion).
		SetPassword(token).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(false).
		SetKeepAlive(d.opts.KeepAlive).
		SetConnectTimeout(d.opts.ConnectTimeout).
		SetWriteTimeout(writeTimeout).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { d.onMessage(c, m) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case c.lost <- err:
			default:
			}
		}).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
			return d.dial(c)
		})
	c.client = mqtt.NewClient(o)
	ctok := c.client.Connect()
	if err := devWaitToken(ctx, ctok, d.opts.ConnectTimeout); err != nil {
		c.cancel()
		go func() { // an attempt we gave up on may still succeed: never leave it connected
			ctok.Wait()
			c.client.Disconnect(0)
		}()
		return nil, fmt.Errorf("twinclient: device %s: connecting to %s: %w", d.cs.DeviceID, d.ep.addr, devConnectHint(err))
	}
	sub := c.client.SubscribeMultiple(map[string]byte{devTopicResFilter: 0, devTopicDesiredFilter: 0}, nil)
	if err := devWaitToken(ctx, sub, d.opts.ConnectTimeout); err != nil {
		c.cancel()
		c.client.Disconnect(0)
		return nil, fmt.Errorf("twinclient: device %s: subscribing to the twin topics: %w", d.cs.DeviceID, err)
	}
	for filter, qos := range sub.(*mqtt.SubscribeToken).Result() {
		if qos > 1 {
			c.cancel()
			c.client.Disconnect(0)
			return nil, fmt.Errorf("twinclient: device %s: the hub refused the subscription %s", d.cs.DeviceID, filter)
		}
	}
	return c, nil
}

// devTokenExpiry is now + lifetime rounded up to a whole second (SAS expiry is in seconds).
func devTokenExpiry(now time.Time, lifetime time.Duration) time.Time {
	e := now.Add(lifetime)
	if t := e.Truncate(time.Second); t.Before(e) {
		return t.Add(time.Second)
	}
	return e
}

// dial opens the socket (TLS unless the endpoint is plain loopback) and remembers it on c.
func (d *Device) dial(c *devConn) (net.Conn, error) {
	nd := &net.Dialer{Timeout: d.opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.ConnectTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if d.ep.tls != nil {
		conn, err = (&tls.Dialer{NetDialer: nd, Config: d.ep.tls}).DialContext(ctx, "tcp", d.ep.addr)
	} else {
		conn, err = nd.DialContext(ctx, "tcp", d.ep.addr)
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*tls.Conn); ok && tc.ConnectionState().DidResume {
		d.mu.Lock()
		d.status.TLSResumed++
		d.mu.Unlock()
	}
	c.netMu.Lock()
	c.net = conn
	c.netMu.Unlock()
	return conn, nil
}

// devConnectHint adds what to do to a CONNACK refusal.
func devConnectHint(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "not Authorized") || strings.Contains(msg, "bad user name or password") {
		return fmt.Errorf("%w (the hub refused the credentials: check the connection string's key, that the device exists and is enabled, and the clock)", err)
	}
	return err
}

// devWaitToken waits for a paho token, ctx or the timeout.
func devWaitToken(ctx context.Context, tok mqtt.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no answer within %v", timeout)
	}
}

// supervise runs on the Device's connection goroutine: it keeps a connection up until
// Close, renewing the token and reconnecting after losses.
func (d *Device) supervise(c *devConn) {
	defer close(d.done)
	for c != nil {
		d.activate(c)
		offline, why, stop := d.hold(c)
		d.deactivate(c, why)
		if stop {
			return
		}
		c = d.reconnect(offline)
	}
}

// activate makes c the current connection: resend what is pending and start the
// reconnection flow's whole-twin read.
func (d *Device) activate(c *devConn) {
	d.mu.Lock()
	d.conn = c
	d.status.Connected = true
	d.status.Connects++
	d.status.TokenExpiry = c.expiry
	d.gate.startSync()
	resend := make([]*devRequest, 0, len(d.pending))
	for _, r := range d.pending {
		if r.bound == nil {
			resend = append(resend, r)
		}
	}
	d.mu.Unlock()
	d.log.Debug("connected", "gen", c.gen, "resend", len(resend))
	if d.opts.OnConnection != nil {
		d.opts.OnConnection(true, nil)
	}
	for _, r := range resend {
		d.publish(c, r)
	}
	d.goSync(c)
}

// goSync starts a whole-twin read on c on a worker goroutine that Close waits for.
func (d *Device) goSync(c *devConn) {
	d.workers.Add(1)
	go func() {
		defer d.workers.Done()
		d.syncDesired(c)
	}()
}

// hold waits while c is up. It returns how long to stay offline, why the connection ended
// (nil for a renewal or Close) and whether the Device is closing.
func (d *Device) hold(c *devConn) (offline time.Duration, why error, stop bool) {
	renew := time.NewTimer(c.expiry.Add(-d.opts.RenewBefore).Sub(d.opts.Now()))
	defer renew.Stop()
	select {
	case err := <-c.lost:
		d.log.Info("connection lost; reconnecting", "err", err)
		return 0, fmt.Errorf("connection lost: %w", err), false
	case <-renew.C:
		d.log.Debug("renewing the SAS token")
		c.client.Disconnect(100)
		d.mu.Lock()
		d.status.Renewals++
		d.mu.Unlock()
		return 0, nil, false
	case offline := <-d.dropCh:
		// Close the socket first so that the hub sees an abrupt loss, not a DISCONNECT;
		// paho does not report a loss it reads as its own close, so stop it as well.
		c.closeNet()
		c.client.Disconnect(0)
		return offline, errors.New("link dropped"), false
	case <-d.ctx.Done():
		c.client.Disconnect(250)
		return 0, nil, true
	}
}

// deactivate retires c: requests bound to it fail, the rest wait for the next connection.
func (d *Device) deactivate(c *devConn, why error) {
	d.mu.Lock()
	if d.conn == c {
		d.conn = nil
	}
	d.status.Connected = false
	if why != nil {
		d.status.LastError = why
	}
	for rid, r := range d.pending {
		if r.bound == c {
			delete(d.pending, rid)
			r.res <- devResponse{err: errDevConnGone}
		}
	}
	if d.gapTimer != nil {
		d.gapTimer.Stop()
		d.gapTimer = nil
	}
	d.mu.Unlock()
	c.cancel()
	if d.opts.OnConnection != nil {
		d.opts.OnConnection(false, why)
	}
}

// reconnect waits offline, then tries until a connection is up (nil after Close). The
// first attempt is immediate; then the wait doubles from 250ms up to RetryMax, jittered.
func (d *Device) reconnect(offline time.Duration) *devConn {
	wait, backoff := offline, 250*time.Millisecond
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-d.ctx.Done():
				t.Stop()
				return nil
			}
		}
		c, err := d.connectOnce(d.ctx)
		if err == nil {
			return c
		}
		if d.ctx.Err() != nil {
			return nil
		}
		d.mu.Lock()
		d.status.LastError = err
		d.mu.Unlock()
		d.log.Warn("reconnection failed; retrying", "err", err, "in", backoff)
		wait = backoff/2 + rand.N(backoff/2+1)
		backoff = min(backoff*2, d.opts.RetryMax)
	}
}
