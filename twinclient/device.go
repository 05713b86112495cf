package twinclient

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinops/twinops/sas"
)

// ErrDeviceClosed is returned by requests on a Device that was closed (and by requests that
// were waiting when it was).
var ErrDeviceClosed = errors.New("twinclient: device closed")

// DeviceOptions configures DialDevice. Only ConnectionString is required.
type DeviceOptions struct {
	// ConnectionString is a device connection string:
	// HostName=...;DeviceId=...;SharedAccessKey=...[;SharedAccessKeyName=...][;GatewayHostName=...].
	// The socket goes to GatewayHostName when set; tokens and the username use HostName.
	ConnectionString string
	// URL overrides where to connect: mqtts://host:port (TLS) or mqtt://host:port (plain,
	// loopback hosts only). Default mqtts://{GatewayHostName or HostName}:8883.
	URL string
	// CAFile (PEM) or RootCAs is the hub's CA; both empty means the system roots.
	CAFile  string
	RootCAs *x509.CertPool
	// ServerName overrides the name the hub's certificate is checked against (default:
	// the host dialled).
	ServerName string
	// TLSSessionCache lets reconnections resume TLS sessions instead of full handshakes
	// (default: one cache per Device; share one among many devices to save more).
	TLSSessionCache tls.ClientSessionCache
	// TokenLifetime is how long each SAS token is valid (default 1h, minimum 2s).
	// RenewBefore is how long before expiry the device reconnects with a fresh token
	// (default a quarter of the lifetime, as the Azure Node SDK's 45 of 60 minutes).
	TokenLifetime time.Duration
	RenewBefore   time.Duration
	// KeepAlive is the MQTT keep-alive (default 60s). ConnectTimeout bounds one
	// connection attempt: TCP, TLS and CONNACK (default 30s).
	KeepAlive      time.Duration
	ConnectTimeout time.Duration
	// RetryMax caps the back-off between reconnection attempts (default 30s). The first
	// attempt after a lost connection is immediate.
	RetryMax time.Duration
	// OnDesired receives desired-property updates: first the whole desired section read
	// after connecting, then every change, in $version order, without duplicates. It is
	// called on the Device's own delivery goroutine, one call at a time; it may block
	// for a while (updates arriving meanwhile are coalesced into one), but Close waits
	// for a call in progress, so it must return and must not call Close.
	OnDesired func(DesiredUpdate)
	// OnConnection is told about every connect (err == nil) and every disconnect (err says
	// why; nil for a token renewal or Close). It is called on the Device's connection
	// goroutine and must not block or call Close.
	OnConnection func(connected bool, err error)
	// Logger receives connection events (default: discard).
	Logger *slog.Logger
	// Now is the clock for token expiry (default time.Now).
	Now func() time.Time
}

// DeviceTwin is the device's view of its twin: the desired and reported sections (without
// $version and $metadata) and their versions, as the twin GET answers them.
type DeviceTwin struct {
	Desired         map[string]any
	DesiredVersion  int64
	Reported        map[string]any
	ReportedVersion int64
}

// DeviceStatus is a snapshot of a Device's connection.
type DeviceStatus struct {
	Connected      bool
	Connects       int       // successful connections, the first included
	Renewals       int       // reconnections made to renew the token
	TLSResumed     int       // connections that resumed a TLS session (no full handshake)
	LastError      error     // the last connection error, nil if none yet
	TokenExpiry    time.Time // expiry of the current (or last) connection's token
	DesiredVersion int64     // the desired $version delivered so far
}

// Device is one device's connection to a hub speaking the Azure IoT Hub device-twin
// protocol over MQTT 3.1.1 (paho): twin GET, reported PATCH and desired notifications.
// It reconnects by itself (persistent session, fresh SAS token before the old expires),
// follows the Azure reconnection flow (read the whole twin after every connect, drop
// notifications older than it) and resends requests that a lost connection left
// unanswered. Safe for concurrent use.
type Device struct {
	opts      DeviceOptions
	cs        sas.ConnectionString
	ep        devEndpoint
	log       *slog.Logger
	ridPrefix string
	nextRID   atomic.Uint64
	nextGen   atomic.Uint64

	mu       sync.Mutex
	conn     *devConn               // the ready connection; nil while (re)connecting
	pending  map[string]*devRequest // unanswered requests by $rid
	gate     *desiredGate
	gapTimer *time.Timer
	status   DeviceStatus
	closed   bool

	workers     sync.WaitGroup // twin reads and gap timers; Close waits for them
	inbox       *desiredInbox
	dropCh      chan time.Duration
	ctx         context.Context    // ends at Close
	cancel      context.CancelFunc // ends ctx
	done        chan struct{}      // the connection goroutine has exited
	deliverDone chan struct{}      // the delivery goroutine has exited
}

// devRequest is a twin request waiting for its response.
type devRequest struct {
	rid, topic string
	body       []byte
	res        chan devResponse // capacity 1
	bound      *devConn         // non-nil: only valid on this connection (the reconnection read)
}

// devResponse is a twin response, or the reason there will be none.
type devResponse struct {
	status  int
	version int64
	body    []byte
	err     error
}

// DialDevice connects a device and returns once the hub has accepted the connection and
// the twin subscriptions; the first whole-twin read follows in the background and is
// delivered to OnDesired. A refused connection (bad key, disabled or unknown device) or an
// unreachable hub is returned as an error; later losses are retried by the Device.
func DialDevice(ctx context.Context, opts DeviceOptions) (*Device, error) {
	d, err := newDevice(opts)
	if err != nil {
		return nil, err
	}
	c, err := d.connectOnce(ctx)
	if err != nil {
		d.cancel()
		return nil, err
	}
	go d.supervise(c)
	go d.deliver()
	return d, nil
}

// newDevice validates opts and builds an unconnected Device.
func newDevice(opts DeviceOptions) (*Device, error) {
	cs, err := sas.ParseConnectionString(opts.ConnectionString)
	if err != nil {
		return nil, fmt.Errorf("twinclient: device connection string: %w", err)
	}
	if cs.DeviceID == "" {
		return nil, errors.New("twinclient: the connection string has no DeviceId; use a device connection string (twinops device connection-string ID)")
	}
	if err := applyDeviceDefaults(&opts); err != nil {
		return nil, err
	}
	ep, err := deviceEndpoint(opts, cs)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var prefix [3]byte
	_, _ = rand.Read(prefix[:])
	d := &Device{
		opts: opts, cs: cs, ep: ep,
		log:         opts.Logger.With("device", cs.DeviceID),
		ridPrefix:   hex.EncodeToString(prefix[:]) + "-",
		pending:     map[string]*devRequest{},
		gate:        newDesiredGate(),
		inbox:       newDesiredInbox(),
		dropCh:      make(chan time.Duration, 1),
		done:        make(chan struct{}),
		deliverDone: make(chan struct{}),
		ctx:         ctx,
		cancel:      cancel,
	}
	return d, nil
}

// applyDeviceDefaults fills zero options and checks the others.
func applyDeviceDefaults(o *DeviceOptions) error {
	if o.TokenLifetime == 0 {
		o.TokenLifetime = time.Hour
	}
	if o.TokenLifetime < 2*time.Second {
		return fmt.Errorf("twinclient: TokenLifetime %v is too short; give at least 2s", o.TokenLifetime)
	}
	if o.RenewBefore == 0 {
		o.RenewBefore = o.TokenLifetime / 4
	}
	if o.RenewBefore < 0 || o.RenewBefore >= o.TokenLifetime {
		return fmt.Errorf("twinclient: RenewBefore %v must be positive and less than TokenLifetime %v", o.RenewBefore, o.TokenLifetime)
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 60 * time.Second
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// ID is the device id from the connection string.
func (d *Device) ID() string { return d.cs.DeviceID }

// Status returns a snapshot of the connection state.
func (d *Device) Status() DeviceStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	s.DesiredVersion = d.gate.version
	return s
}

// GetTwin reads the desired and reported sections with their versions. It waits for a
// connection if there is none, and resends after a reconnect, until ctx ends. A hub error
// is returned as *Error.
func (d *Device) GetTwin(ctx context.Context) (*DeviceTwin, error) {
	r, err := d.roundTrip(ctx, devTopicGetPrefix, "", nil, nil)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, devResponseError(r)
	}
	return parseDeviceTwin(r.body)
}

// PatchReported merges patch into the reported properties (null deletes a key) and
// returns the new reported $version. It waits for a connection if there is none, and
// resends after a reconnect if the first attempt went unanswered, until ctx ends (so a
// patch may be applied twice; merge patches make that harmless). A hub refusal (invalid
// key, over a limit) is returned as *Error and nothing is changed.
func (d *Device) PatchReported(ctx context.Context, patch map[string]any) (int64, error) {
	return d.patchReported(ctx, patch, "")
}

// PatchReportedIf is PatchReported applied only if the reported $version is still
// version (optimistic concurrency, the topic's &$version=); otherwise the hub answers
// *Error with status 412 and nothing changes. A 412 after a reconnect can also mean that
// an unanswered first attempt was applied: read the twin to tell.
func (d *Device) PatchReportedIf(ctx context.Context, patch map[string]any, version int64) (int64, error) {
	if version < 1 {
		return 0, fmt.Errorf("twinclient: PatchReportedIf: $version %d is not a reported version (they start at 1)", version)
	}
	return d.patchReported(ctx, patch, "&$version="+strconv.FormatInt(version, 10))
}

// patchReported sends a reported PATCH with an optional topic suffix.
func (d *Device) patchReported(ctx context.Context, patch map[string]any, suffix string) (int64, error) {
	if patch == nil {
		return 0, errors.New("twinclient: PatchReported needs a patch object (use a key with null to delete)")
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return 0, fmt.Errorf("twinclient: reported patch is not JSON: %w", err)
	}
	r, err := d.roundTrip(ctx, devTopicPatchPrefix, suffix, body, nil)
	if err != nil {
		return 0, err
	}
	if r.status/100 != 2 {
		return 0, devResponseError(r)
	}
	if r.version == 0 {
		return 0, fmt.Errorf("twinclient: hub answered the reported patch with status %d but no $version", r.status)
	}
	return r.version, nil
}

// Drop simulates a lost network link: it closes the connection's socket without an MQTT
// DISCONNECT and waits offline before the first reconnection attempt. Requests made
// meanwhile wait for the reconnect. It returns at once; for simulations and tests.
func (d *Device) Drop(offline time.Duration) {
	select {
	case d.dropCh <- offline:
	default:
	}
}

// Close disconnects (MQTT DISCONNECT), stops reconnecting and fails waiting requests with
// ErrDeviceClosed. It must not be called from OnDesired.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	for rid, req := range d.pending {
		delete(d.pending, rid)
		req.res <- devResponse{err: ErrDeviceClosed}
	}
	d.mu.Unlock()
	d.cancel()
	<-d.done
	<-d.deliverDone
	d.workers.Wait()
	return nil
}

// roundTrip sends a request and waits for its response. The request stays pending until
// answered or ctx ends: a connection that goes away before the answer makes the next one
// resend it (bound requests are dropped with their connection instead).
func (d *Device) roundTrip(ctx context.Context, prefix, suffix string, body []byte, bound *devConn) (devResponse, error) {
	rid := d.ridPrefix + strconv.FormatUint(d.nextRID.Add(1), 10)
	req := &devRequest{rid: rid, topic: prefix + rid + suffix, body: body, res: make(chan devResponse, 1), bound: bound}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return devResponse{}, ErrDeviceClosed
	}
	if bound != nil && d.conn != bound {
		d.mu.Unlock()
		return devResponse{}, errDevConnGone
	}
	d.pending[rid] = req
	c := d.conn
	d.mu.Unlock()
	if c != nil {
		d.publish(c, req)
	}
	select {
	case r := <-req.res:
		return r, r.err
	case <-ctx.Done():
		d.mu.Lock()
		delete(d.pending, rid)
		d.mu.Unlock()
		return devResponse{}, fmt.Errorf("twinclient: device %s: no answer from the hub: %w", d.cs.DeviceID, ctx.Err())
	}
}

// errDevConnGone fails a request bound to a connection that has ended.
var errDevConnGone = errors.New("twinclient: connection ended")

// publish sends a request on c. A failed publish leaves the request pending: the
// connection is going away and the next one resends it.
func (d *Device) publish(c *devConn, req *devRequest) {
	if c.ctx.Err() != nil {
		return // retired: the next connection resends it
	}
	tok := c.client.Publish(req.topic, 0, false, req.body)
	if !tok.WaitTimeout(writeTimeout) {
		d.log.Debug("twin devRequest not written in time; it will be resent after reconnecting", "rid", req.rid)
		return
	}
	if err := tok.Error(); err != nil {
		d.log.Debug("twin devRequest not sent; it will be resent after reconnecting", "rid", req.rid, "err", err)
	}
}

// devResponseError turns an error response into *Error.
func devResponseError(r devResponse) error {
	var body struct {
		ErrorCode int    `json:"errorCode"`
		Message   string `json:"message"`
	}
	e := &Error{Status: r.status}
	if json.Unmarshal(r.body, &body) == nil && (body.ErrorCode != 0 || body.Message != "") {
		e.Code, e.Message = body.ErrorCode, body.Message
	} else {
		e.Message = http.StatusText(r.status)
		if len(r.body) > 0 {
			e.Message = string(r.body)
		}
	}
	return e
}

// parseDeviceTwin parses a twin GET body: {"desired":{...,"$version":n},"reported":{...}}.
func parseDeviceTwin(body []byte) (*DeviceTwin, error) {
	var raw struct {
		Desired  map[string]any `json:"desired"`
		Reported map[string]any `json:"reported"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("twinclient: twin GET answer is not the expected JSON: %w", err)
	}
	t := &DeviceTwin{}
	var err error
	if t.Desired, t.DesiredVersion, err = devSplitSection("desired", raw.Desired); err != nil {
		return nil, err
	}
	if t.Reported, t.ReportedVersion, err = devSplitSection("reported", raw.Reported); err != nil {
		return nil, err
	}
	return t, nil
}

// devSplitSection removes $version (returned) and $metadata from a twin section.
func devSplitSection(name string, m map[string]any) (map[string]any, int64, error) {
	if m == nil {
		return nil, 0, fmt.Errorf("twinclient: twin GET answer has no %s section", name)
	}
	v, ok := m["$version"].(float64)
	if !ok || v < 1 || v != float64(int64(v)) {
		return nil, 0, fmt.Errorf("twinclient: twin GET answer's %s section has no valid $version", name)
	}
	delete(m, "$version")
	delete(m, "$metadata")
	return m, int64(v), nil
}
