// Package hub is the twin hub: an embedded MQTT broker (mochi-mqtt) whose hooks speak Azure
// IoT Hub's device-twin protocol to devices and the twinops service protocol to consoles,
// with the device registry, the access policies and a durable store.
package hub

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/twinops/twinops/hub/store"
	"github.com/twinops/twinops/twin"
)

// Config configures a hub.
type Config struct {
	DataDir  string // everything the hub keeps; required
	Hostname string // the name devices put in connection strings and tokens; default "localhost"

	TLSAddr   string // TLS listener, e.g. ":8883"; "" = none
	PlainAddr string // plain TCP listener; "" = none; must be a loopback address

	TLSCertFile, TLSKeyFile string   // server certificate to use instead of the hub's own
	TLSSANs                 []string // extra names for the hub's own server certificate

	// DeviceBudget is how many devices' request rounds each owner shard takes into its
	// pipeline at a time (admission, budget.go); 0 means DefaultDeviceBudget. Lower is
	// quicker for desired changes during a reported storm, higher gives more peak
	// reported throughput (docs/BENCHMARKS.md has the measured trade-off).
	DeviceBudget int

	Logger *slog.Logger     // nil discards
	Now    func() time.Time // nil = time.Now
}

// Hub is a running twin hub. Create it with New, start its listeners with Start, stop it
// with Close.
type Hub struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	st       *storeGlue
	sessions *store.SessionHook
	policies []Policy
	reg      registry
	shards   []*shard
	seed     maphash.Seed
	events   *bus
	srv      *mqtt.Server
	conns    sync.Map    // client id -> *conn
	svc      serviceSide // service protocol state (service.go, engineer D); zero value ready
	feed     eventFeed   // whether events are encoded for service clients (service_events.go)

	writeBufs sync.Pool // *bytes.Buffer: drainOutbox's encoding buffers

	tlsConfig   *tls.Config
	caFile      string
	certFile    string
	keyFile     string
	tlsLn       net.Listener
	plainLn     net.Listener
	tracking    atomic.Uint64 // trackingId counter
	trackPrefix string

	quit      chan struct{}
	wg        sync.WaitGroup // owners
	compWG    sync.WaitGroup // completion runners
	started   atomic.Bool
	closeOnce sync.Once
	closeErr  error
	failed    atomic.Pointer[error] // the first store write that failed (see storeFailed)
}

// New opens (or creates) the hub in cfg.DataDir: it creates the access policies and the
// CA and server certificate on first start, opens the store and loads every identity and
// twin. Call Start to listen.
func New(cfg Config) (*Hub, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("hub: no data directory; give --data DIR or set TWINOPS_DATA")
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DeviceBudget < 0 || cfg.DeviceBudget > MaxDeviceBudget {
		return nil, fmt.Errorf("hub: device budget %d is out of range: give 1 to %d (0 for the default, %d)",
			cfg.DeviceBudget, MaxDeviceBudget, DefaultDeviceBudget)
	}
	if cfg.DeviceBudget == 0 {
		cfg.DeviceBudget = DefaultDeviceBudget
	}
	if cfg.PlainAddr != "" {
		if err := checkLoopback(cfg.PlainAddr); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("hub: create data directory: %w", err)
	}
	h := &Hub{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		reg:    registry{ids: make(map[string]*Identity)},
		seed:   maphash.MakeSeed(),
		quit:   make(chan struct{}),
		events: newBus(),
	}
	h.trackPrefix = fmt.Sprintf("%x", cfg.Now().UnixNano()&0xffffffffff)
	var err error
	if h.policies, err = loadPolicies(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if err := h.setupTLS(); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	nShards := max(2, runtime.GOMAXPROCS(0))
	h.shards = make([]*shard, nShards)
	for i := range h.shards {
		h.shards[i] = &shard{docs: make(map[string]*twin.Doc), in: make(chan func(*txn), 4096), prio: make(chan func(*txn), 256), comp: compQueue{wake: make(chan struct{}, 1)},
			budget: budget{limit: cfg.DeviceBudget}}
	}
	if err := h.openStore(); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if err := h.newServer(); err != nil {
		h.st.close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	for _, s := range h.shards {
		h.wg.Add(1)
		go h.runShard(s)
		h.compWG.Add(1)
		go h.runCompletions(s)
	}
	h.events.start(h)
	return h, nil
}

// checkLoopback refuses a plain listener address that is not on a loopback interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("hub: plain listener address %q: %v; give host:port, e.g. 127.0.0.1:1883", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("hub: plain (non-TLS) listener %q must bind a loopback address such as 127.0.0.1:1883 or [::1]:1883; devices elsewhere must use TLS", addr)
	}
	return nil
}

// Start opens the listeners and starts serving MQTT.
func (h *Hub) Start() error {
	if !h.started.CompareAndSwap(false, true) {
		return errors.New("hub: already started")
	}
	if err := h.listen(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := h.srv.Serve(); err != nil {
		return fmt.Errorf("hub: start MQTT server: %w", err)
	}
	if err := h.writeInfo(); err != nil {
		h.log.Warn("could not write hub.json; the CLI will not find this hub", "err", err)
	}
	return nil
}

// Close disconnects every client, waits for the twin owners and the pending commits, and
// closes the store. It is safe to call more than once.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		h.srv.Close() // listeners and clients; OnDisconnect hooks still reach the owners
		close(h.quit)
		h.wg.Wait()
		h.closeErr = h.st.close() // commits what is pending; its callbacks queue completions
		for _, s := range h.shards {
			s.comp.close()
		}
		h.compWG.Wait()
		h.events.stop()
	})
	return h.closeErr
}

// TLSAddr is the bound address of the TLS listener (nil if none or not started).
func (h *Hub) TLSAddr() net.Addr {
	if h.tlsLn == nil {
		return nil
	}
	return h.tlsLn.Addr()
}

// PlainAddr is the bound address of the plain loopback listener (nil if none).
func (h *Hub) PlainAddr() net.Addr {
	if h.plainLn == nil {
		return nil
	}
	return h.plainLn.Addr()
}

// CAFile is the PEM file of the CA that devices must trust ("" when the hub serves a
// certificate given with TLSCertFile whose CA it does not know).
func (h *Hub) CAFile() string { return h.caFile }

// DataDir is the hub's data directory.
func (h *Hub) DataDir() string { return h.cfg.DataDir }

// Hostname is the host name devices and services put in tokens and connection strings.
func (h *Hub) Hostname() string { return h.cfg.Hostname }

// DefaultDataDir is $TWINOPS_DATA, else $XDG_DATA_HOME/twinops, else
// ~/.local/share/twinops.
func DefaultDataDir() string {
	if d := os.Getenv("TWINOPS_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "twinops")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(os.TempDir(), "twinops")
	}
	return filepath.Join(home, ".local", "share", "twinops")
}

// Info is what hub.json in the data directory says about the hub last started there.
type Info struct {
	Hostname  string `json:"hostname"`
	TLSAddr   string `json:"tlsAddr,omitempty"`
	PlainAddr string `json:"plainAddr,omitempty"`
	CAFile    string `json:"caFile,omitempty"`
	PID       int    `json:"pid"`
}

const infoFile = "hub.json"

// ReadInfo reads dataDir/hub.json.
func ReadInfo(dataDir string) (Info, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, infoFile))
	if err != nil {
		return Info{}, fmt.Errorf("no hub has run in %s (%v); start one with twinops hub --data %s", dataDir, err, dataDir)
	}
	var in Info
	if err := json.Unmarshal(b, &in); err != nil {
		return Info{}, fmt.Errorf("%s is not valid JSON (%v); restart the hub to rewrite it", filepath.Join(dataDir, infoFile), err)
	}
	return in, nil
}

// writeInfo writes hub.json with the addresses actually bound.
func (h *Hub) writeInfo() error {
	in := Info{Hostname: h.cfg.Hostname, CAFile: h.caFile, PID: os.Getpid()}
	if a := h.TLSAddr(); a != nil {
		in.TLSAddr = a.String()
	}
	if a := h.PlainAddr(); a != nil {
		in.PlainAddr = a.String()
	}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(h.cfg.DataDir, infoFile), append(b, '\n'), 0o644)
}

// wait waits for ch or ctx or the hub closing.
func wait[T any](ctx context.Context, h *Hub, ch <-chan T) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-h.quit:
		return zero, errShuttingDown
	}
}
