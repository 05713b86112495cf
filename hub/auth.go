package hub

import (
	"errors"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/twinops/twinops/sas"
)

// connKind tells a device connection from a service (console, back end) connection.
type connKind uint8

const (
	kindDevice connKind = iota + 1
	kindService
)

// serviceClientPrefix starts the client id of every service connection. Device ids cannot
// contain '/', so the two never collide.
const serviceClientPrefix = "service/"

// conn is the hub's record of one authenticated MQTT connection. It is created by
// OnConnectAuthenticate and never changed afterwards except for the expiry timer.
type conn struct {
	ID       string // MQTT client id
	Kind     connKind
	DeviceID string // devices only
	Policy   string // the skn of the token, "" for a device-key token
	Rights   Rights // service connections (and device-policy tokens): the policy's rights
	Expires  time.Time

	cl       *mqtt.Client
	prefix   string        // scoping prefix of this client's private topics, e.g. "$d/6465763031/"
	timer    *time.Timer   // disconnects the client when its token expires
	inflight chan struct{} // devices: one token per request not yet answered
	out      outbox        // devices: twin messages being written (outbox.go)
}

// maxDeviceInflight bounds a device's unanswered twin requests. A device that sends more
// waits (its own reads stall): its answers must fit in its write queue (maxWritesPending)
// or mochi would drop them, and the SDKs wait forever for a lost answer.
const maxDeviceInflight = maxWritesPending / 2

// authenticate checks a CONNECT packet and returns the connection record, or an error
// saying why it is refused (logged, never sent: the client gets CONNACK 5 and nothing else).
func (h *Hub) authenticate(cl *mqtt.Client, pk packets.Packet) (*conn, error) {
	if pk.ProtocolVersion != 4 {
		return nil, fmt.Errorf("MQTT protocol level %d; the hub speaks MQTT 3.1.1 (level 4) only", pk.ProtocolVersion)
	}
	id := pk.Connect.ClientIdentifier
	if id == "" || id == reservedClientID {
		return nil, fmt.Errorf("client id %q is empty or reserved; a device uses its device id, a service client service/<name>", id)
	}
	tok, err := sas.ParseToken(string(pk.Connect.Password))
	if err != nil {
		return nil, err
	}
	now := h.now()
	if strings.HasPrefix(id, serviceClientPrefix) {
		return h.authService(id, tok, now)
	}
	return h.authDevice(id, string(pk.Connect.Username), tok, now)
}

// authService authenticates a service client: sr = the hub's host name, skn = a policy
// with at least one service right, signed with one of its keys.
func (h *Hub) authService(id string, tok sas.Token, now time.Time) (*conn, error) {
	if !h.hostMatches(tok.Resource) {
		return nil, fmt.Errorf("service token for resource %q; expected the hub's host name %q", tok.Resource, h.cfg.Hostname)
	}
	if tok.Policy == "" {
		return nil, errors.New("service token has no skn (policy name)")
	}
	p, ok := h.policy(tok.Policy)
	if !ok {
		return nil, fmt.Errorf("service token names unknown policy %q", tok.Policy)
	}
	if p.Rights&(RegistryRead|RegistryWrite|ServiceConnect) == 0 {
		return nil, fmt.Errorf("policy %q has no service rights", p.Name)
	}
	if err := verifyEither(tok, p.PrimaryKey, p.SecondaryKey, now); err != nil {
		return nil, err
	}
	return &conn{ID: id, Kind: kindService, Policy: p.Name, Rights: p.Rights, Expires: tok.Expiry,
		prefix: scopePrefix(kindService, id)}, nil
}

// authDevice authenticates a device: client id = device id, the identity exists and is
// enabled, sr = {host}/devices/{id}, signed with a device key or (skn) with the key of a
// policy that has DeviceConnect.
func (h *Hub) authDevice(id, username string, tok sas.Token, now time.Time) (*conn, error) {
	ident, ok := h.reg.get(id)
	if !ok {
		return nil, fmt.Errorf("device %q does not exist", id)
	}
	if ident.Status != StatusEnabled {
		return nil, fmt.Errorf("device %q is disabled", id)
	}
	if username != "" && !h.usernameMatches(username, id) {
		return nil, fmt.Errorf("username %q is not {hostname}/{deviceId}/?api-version=...", username)
	}
	host, rest, _ := strings.Cut(tok.Resource, "/")
	if !h.hostMatches(host) || rest != "devices/"+id {
		return nil, fmt.Errorf("token for resource %q; expected %q", tok.Resource, sas.DeviceResource(h.cfg.Hostname, id))
	}
	c := &conn{ID: id, Kind: kindDevice, DeviceID: id, Expires: tok.Expiry, prefix: scopePrefix(kindDevice, id),
		inflight: make(chan struct{}, maxDeviceInflight)}
	if tok.Policy != "" {
		p, ok := h.policy(tok.Policy)
		if !ok || !p.Rights.Has(DeviceConnect) {
			return nil, fmt.Errorf("token names policy %q, which does not exist or lacks DeviceConnect", tok.Policy)
		}
		c.Policy, c.Rights = p.Name, p.Rights
		return c, verifyEither(tok, p.PrimaryKey, p.SecondaryKey, now)
	}
	return c, verifyEither(tok, ident.Authentication.SymmetricKey.PrimaryKey, ident.Authentication.SymmetricKey.SecondaryKey, now)
}

// verifyEither accepts a token signed with either key.
func verifyEither(tok sas.Token, primary, secondary string, now time.Time) error {
	err := tok.Verify(primary, now)
	if err == nil || secondary == "" || errors.Is(err, sas.ErrExpired) {
		return err
	}
	return tok.Verify(secondary, now)
}

// hostMatches reports whether host names this hub: its host name, case-insensitively,
// optionally with a port (the Node SDK puts HostName=localhost:8884 into sr as is).
func (h *Hub) hostMatches(host string) bool {
	name := h.cfg.Hostname
	if len(host) < len(name) || !strings.EqualFold(host[:len(name)], name) {
		return false
	}
	port := host[len(name):]
	if port == "" {
		return true
	}
	if port[0] != ':' || len(port) == 1 {
		return false
	}
	for _, r := range port[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// usernameMatches checks an Azure device username: {host}/{deviceId}/?api-version=...
// (any api-version, any further parameters).
func (h *Hub) usernameMatches(username, id string) bool {
	host, rest, ok := strings.Cut(username, "/")
	if !ok || !h.hostMatches(host) {
		return false
	}
	after, ok := strings.CutPrefix(rest, id)
	return ok && (after == "" || after == "/" || strings.HasPrefix(after, "/?"))
}
