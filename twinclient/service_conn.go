package twinclient

import (
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The life of the connection: subscribe after every connect, fail what is pending when it
// drops, renew the token by reconnecting before it expires.

// onConnect runs on its own goroutine after every (re)connect: subscribe, then open the
// gate for requests and tell the fleet.
func (s *Service) onConnect(c mqtt.Client) {
	s.mu.Lock()
	fleet := s.fleet
	s.mu.Unlock()
	filters := map[string]byte{topicResAll: 0}
	if fleet != nil {
		filters[topicEventsBatch] = 0
	}
	tok := c.SubscribeMultiple(filters, s.route)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		err := tok.Error()
		if err == nil {
			err = errors.New("no SUBACK within 10 s")
		}
		s.setErr(fmt.Errorf("subscribing after connect: %w", err))
		s.dropConn()
		return
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for f, q := range st.Result() {
			if q == 0x80 {
				s.setErr(fmt.Errorf("the hub refused the subscription to %s: the policy %q lacks the right for it", f, s.cs.SharedAccessKeyName))
			}
		}
	}
	s.opened(fleet)
}

// opened opens the gate for requests once the connection is subscribed, and tells the
// fleet; fleet is the cache whose events the subscription included (nil if none).
func (s *Service) opened(fleet *Fleet) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.gen++
	gen := s.gen
	select { // a late onConnect of an earlier connection may have opened the gate already
	case <-s.ready:
	default:
		close(s.ready)
	}
	s.armRenewal()
	// Fleet may have been called after onConnect read s.fleet but before the gate opened:
	// it saw no connection and left the event subscription to us.
	late := s.fleet
	if fleet != nil {
		late = nil
	}
	s.mu.Unlock()
	s.log.Info("connected to hub", "url", s.broker.Redacted(), "generation", gen)
	if fleet != nil {
		fleet.connected(gen)
	}
	if late != nil {
		go late.subscribe(gen)
	}
}

// onLost runs when the connection drops, concurrently with paho's first reconnect attempt
// (which may even finish first), so it only records and logs: onReconnecting does the rest.
func (s *Service) onLost(_ mqtt.Client, err error) {
	s.setErr(err)
	s.log.Warn("connection to hub lost; reconnecting", "err", err)
}

// onReconnecting runs before each reconnect attempt, and so always before the onConnect
// of the next connection: close the gate and fail what is pending.
func (s *Service) onReconnecting(mqtt.Client, *mqtt.ClientOptions) {
	s.disconnected()
}

func (s *Service) disconnected() {
	s.mu.Lock()
	select {
	case <-s.ready:
		s.ready = make(chan struct{})
	default:
	}
	if s.renew != nil {
		s.renew.Stop()
	}
	failed := s.pending
	s.pending = map[string]*call{}
	fleet := s.fleet
	s.mu.Unlock()
	for _, c := range failed {
		c.ch <- response{err: ErrDisconnected}
	}
	if fleet != nil {
		fleet.disconnected()
	}
}

// armRenewal schedules the reconnect that renews the token. Called with s.mu held.
func (s *Service) armRenewal() {
	if s.renew != nil {
		s.renew.Stop()
	}
	// renew when 80 % of the lifetime has gone, counted back from the token's real expiry
	d := s.tokenExp.Sub(s.opts.Now()) - s.opts.TokenLifetime/5
	s.renew = time.AfterFunc(max(d, 0), s.renewToken)
}

// renewToken reconnects with a fresh token: it holds new requests back, lets the ones out
// get their answers (for up to 5 s), then breaks the socket; paho reconnects at once and
// asks credentials for a new token.
func (s *Service) renewToken() {
	s.log.Info("renewing the service token by reconnecting")
	s.mu.Lock()
	select {
	case <-s.ready:
		s.ready = make(chan struct{}) // requests wait for the new connection
	default:
	}
	s.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n := len(s.pending)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.dropConn()
}

// dropConn breaks the socket; paho notices and reconnects with a fresh token. It expires
// the socket's deadline rather than closing it: paho takes "use of closed network
// connection" for a disconnect of its own and would not reconnect (net.go startIncoming).
func (s *Service) dropConn() {
	s.mu.Lock()
	c := s.netConn
	s.mu.Unlock()
	if c != nil {
		_ = c.SetDeadline(time.Now())
	}
}

func (s *Service) setErr(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}
