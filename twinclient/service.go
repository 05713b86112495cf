// Package twinclient is the only package that speaks MQTT as a client (paho): Service is
// what a console or a back end uses to reach a twinops hub over the service protocol
// (docs/PROTOCOL.md), Device speaks Azure IoT Hub's device-twin protocol.
package twinclient

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/twinops/twinops/sas"
)

// ServiceOptions says how to reach a hub as a service client.
type ServiceOptions struct {
	// URL is mqtts://host:port (TLS, verified with CAFile or RootCAs) or mqtt://host:port,
	// which is accepted only for a loopback host. Empty means mqtts://{HostName}:8883.
	URL string
	// ConnectionString is a service connection string:
	// HostName=...;SharedAccessKeyName=...;SharedAccessKey=...
	ConnectionString string
	// CAFile is a PEM file of the CA that signed the hub's certificate (the hub's
	// pki/ca.pem); RootCAs is used instead when set; neither means the system roots.
	CAFile  string
	RootCAs *x509.CertPool
	// ServerName overrides the TLS server name (default: the URL's host).
	ServerName string
	// ClientID is sent as service/{ClientID}; default a random one.
	ClientID string
	// TokenLifetime is how long each SAS token is valid (default 1 h). The client
	// reconnects with a fresh token after 80 % of it.
	TokenLifetime time.Duration
	// RequestTimeout bounds a request whose context has no deadline (default 30 s).
	RequestTimeout time.Duration
	// Logger receives connection events; nil discards them. Never stdout.
	Logger *slog.Logger
	// Now is the clock used for token expiry (default time.Now).
	Now func() time.Time
}

// Service is a connection to a hub's service side. Its methods are safe for concurrent
// use; each request waits (within its context) while the connection is being restored.
type Service struct {
	opts   ServiceOptions
	cs     sas.ConnectionString
	broker *url.URL
	tls    *tls.Config
	log    *slog.Logger
	client mqtt.Client

	mu        sync.Mutex
	ready     chan struct{} // closed while connected and subscribed
	netConn   net.Conn      // the current socket (closed to force a reconnect)
	gen       uint64        // connection generation, +1 per successful (re)connect
	tokenExp  time.Time     // expiry of the token of the current connection
	closed    bool
	lastErr   error
	pending   map[string]*call
	nextRID   uint64
	fleet     *Fleet
	renew     *time.Timer
	closeOnce sync.Once
	done      chan struct{}
}

// call is one request waiting for its answer.
type call struct {
	gen uint64
	ch  chan response
}

// response is an answer, or err when none will come.
type response struct {
	status int
	body   []byte
	err    error
}

// DialService connects to the hub and returns once the connection is up and subscribed to
// its responses. It fails with the hub's refusal (bad credentials, wrong host) rather than
// retrying; later drops are retried by itself.
func DialService(ctx context.Context, o ServiceOptions) (*Service, error) {
	s, err := newService(o)
	if err != nil {
		return nil, err
	}
	tok := s.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		s.client.Disconnect(0)
		return nil, fmt.Errorf("connecting to %s: %w", s.broker.Redacted(), ctx.Err())
	}
	if err := tok.Error(); err != nil {
		hint := "check the URL, the CA and the connection string"
		if errors.Is(err, packets.ErrorRefusedNotAuthorised) || errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
			hint = "not authorized: check the connection string's key and policy"
		}
		return nil, fmt.Errorf("connecting to %s as policy %q: %w (%s)",
			s.broker.Redacted(), s.cs.SharedAccessKeyName, err, hint)
	}
	select {
	case <-s.readyChan():
		return s, nil
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("subscribing to responses on %s: %w", s.broker.Redacted(), ctx.Err())
	case <-s.done:
		return nil, ErrClosed
	}
}

// CheckServiceOptions reports what DialService would refuse without connecting: a
// malformed or device connection string, a hub URL it does not accept, an unreadable CA
// file. Such mistakes do not go away by dialling again; a caller that retries dials
// (the console) checks first.
func CheckServiceOptions(o ServiceOptions) error {
	_, err := newService(o)
	return err
}

func newService(o ServiceOptions) (*Service, error) {
	cs, err := sas.ParseConnectionString(o.ConnectionString)
	if err != nil {
		return nil, err
	}
	if cs.SharedAccessKeyName == "" || cs.DeviceID != "" {
		return nil, errors.New("a service connection string is needed (HostName=...;SharedAccessKeyName=...;SharedAccessKey=...), not a device one; print one with twinops hub connection-string --policy iothubowner")
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = time.Hour
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.ClientID = hex.EncodeToString(b[:])
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Service{opts: o, cs: cs, log: log, ready: make(chan struct{}),
		pending: map[string]*call{}, done: make(chan struct{})}
	if s.broker, err = brokerURL(o.URL, cs); err != nil {
		return nil, err
	}
	if s.broker.Scheme == "mqtts" {
		if s.tls, err = serviceTLS(o, s.broker.Hostname()); err != nil {
			return nil, err
		}
	}
	s.client = mqtt.NewClient(s.clientOptions())
	return s, nil
}

// brokerURL checks the hub URL: mqtts anywhere, mqtt only on loopback.
func brokerURL(raw string, cs sas.ConnectionString) (*url.URL, error) {
	if raw == "" {
		host := cs.HostName
		if cs.GatewayHostName != "" {
			host = cs.GatewayHostName
		}
		raw = "mqtts://" + host
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("hub URL %q is not mqtts://host:port or mqtt://127.0.0.1:port", raw)
	}
	switch u.Scheme {
	case "mqtts", "ssl", "tls":
		u.Scheme = "mqtts"
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "8883")
		}
	case "mqtt", "tcp":
		u.Scheme = "mqtt"
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "1883")
		}
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("hub URL %q: plain mqtt:// is only allowed to a loopback address; use mqtts:// with the hub's CA", raw)
		}
	default:
		return nil, fmt.Errorf("hub URL %q: scheme must be mqtts:// (or mqtt:// to loopback)", raw)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serviceTLS builds the TLS configuration: the hub's CA, the URL's host as server name.
func serviceTLS(o ServiceOptions, host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: o.RootCAs}
	if o.ServerName != "" {
		cfg.ServerName = o.ServerName
	}
	if cfg.RootCAs == nil && o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the hub's CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate; give the hub's pki/ca.pem", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func (s *Service) clientOptions() *mqtt.ClientOptions {
	o := mqtt.NewClientOptions()
	o.AddBroker(s.broker.String())
	o.SetClientID("service/" + s.opts.ClientID)
	o.SetCredentialsProvider(s.credentials)
	o.SetCleanSession(true)
	// MQTT 3.1.1 only: without it paho retries a refused CONNECT as 3.1, and a wrong key
	// shows as "unacceptable protocol version" instead of "not authorized".
	o.SetProtocolVersion(4)
	o.SetResumeSubs(false)
	// Order matters: the fleet cache applies events in version order. Our handlers only
	// append to a queue under a mutex and never call paho, so they cannot block the
	// router (paho issues #453, #593).
	o.SetOrderMatters(true)
	o.SetAutoReconnect(true)
	o.SetConnectRetry(false)
	o.SetMaxReconnectInterval(5 * time.Second)
	o.SetKeepAlive(30 * time.Second)
	o.SetPingTimeout(10 * time.Second)
	o.SetConnectTimeout(10 * time.Second)
	o.SetWriteTimeout(10 * time.Second)
	o.SetMessageChannelDepth(1024)
	o.SetCustomOpenConnectionFn(s.openConn)
	o.SetOnConnectHandler(s.onConnect)
	o.SetConnectionLostHandler(s.onLost)
	o.SetReconnectingHandler(s.onReconnecting)
	return o
}

// credentials is called by paho before every CONNECT: a fresh token each time.
func (s *Service) credentials() (string, string) {
	exp := s.opts.Now().Add(s.opts.TokenLifetime).Truncate(time.Second) // se is whole seconds
	tok, err := sas.NewToken(s.cs.HostName, s.cs.SharedAccessKey, s.cs.SharedAccessKeyName, exp)
	if err != nil {
		s.log.Error("signing the service token", "err", err)
	}
	s.mu.Lock()
	s.tokenExp = exp
	s.mu.Unlock()
	return s.cs.HostName + "/service", tok
}

// openConn dials the socket itself so that the client can close it to renew its token.
func (s *Service) openConn(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	var c net.Conn
	var err error
	if s.tls != nil {
		c, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).Dial("tcp", u.Host)
	} else {
		c, err = d.Dial("tcp", u.Host)
	}
	if err != nil {
		s.setErr(err)
		return nil, err
	}
	s.mu.Lock()
	s.netConn = c
	s.mu.Unlock()
	return c, nil
}

// LastError is the most recent connection error (nil if none happened).
func (s *Service) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Hostname is the hub's host name from the connection string.
func (s *Service) Hostname() string { return s.cs.HostName }

// Policy is the shared access policy the client connects with.
func (s *Service) Policy() string { return s.cs.SharedAccessKeyName }

// URL is the hub URL the client dials.
func (s *Service) URL() string { return s.broker.String() }

func (s *Service) readyChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}

// Close disconnects, fails pending requests with ErrClosed and stops the fleet cache.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		if s.renew != nil {
			s.renew.Stop()
		}
		failed := s.pending
		s.pending = map[string]*call{}
		fleet := s.fleet
		close(s.done)
		s.mu.Unlock()
		for _, c := range failed {
			c.ch <- response{err: ErrClosed}
		}
		if fleet != nil {
			fleet.stop()
		}
		s.client.Disconnect(250)
	})
	return nil
}

// topic helpers
const (
	topicReqPrefix   = "$twinops/req/"
	topicResPrefix   = "$twinops/res/"
	topicResAll      = "$twinops/res/#"
	topicEventsBatch = "$twinops/events/batch"
	topicEvents      = "$twinops/events/"
)

// route receives every publish of our subscriptions, on paho's router goroutine. It
// never blocks: responses go to a buffered channel of one, events to the fleet's queue.
func (s *Service) route(_ mqtt.Client, m mqtt.Message) {
	topic := m.Topic()
	switch {
	case strings.HasPrefix(topic, topicResPrefix):
		s.deliver(topic, m.Payload())
	case strings.HasPrefix(topic, topicEvents):
		s.mu.Lock()
		f := s.fleet
		s.mu.Unlock()
		if f != nil {
			f.enqueue(topic[len(topicEvents):], m.Payload())
		}
	}
}

// generation is the number of successful connects so far.
func (s *Service) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}
