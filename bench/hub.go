package bench

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/twin"
)

// HubTarget loads a twinops hub, either in this process (Embedded) or as a child
// `twinops hub` process (Spawn, whose CPU and memory are read from /proc alone).
type HubTarget struct {
	spawnBin     string // "" for embedded
	dataDir      string
	deviceBudget int // the spawned hub's --device-budget; 0: its default
	log          *slog.Logger

	h      *hub.Hub // embedded hub, or nil
	child  *exec.Cmd
	exited chan struct{}
	info   hub.Info

	prefix string
	creds  []ConnectOptions // how each device connects, by index
	svc    Service
}

// Embedded starts a hub in this process on dataDir with a plain loopback listener and
// the given device budget (hub.Config.DeviceBudget; 0: the default).
func Embedded(dataDir string, deviceBudget int, log *slog.Logger) (*HubTarget, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := hub.New(hub.Config{DataDir: dataDir, Hostname: "localhost", PlainAddr: "127.0.0.1:0",
		DeviceBudget: deviceBudget, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := h.Start(); err != nil {
		h.Close()
		return nil, err
	}
	t := &HubTarget{dataDir: dataDir, log: log, h: h}
	t.info = hub.Info{Hostname: h.Hostname(), PlainAddr: h.PlainAddr().String()}
	t.svc = &embeddedService{h: h}
	return t, nil
}

// Spawn prepares a hub that runs as a child process `bin hub --data dataDir` with the
// given device budget (0: the hub's default); the child starts in Prepare, after the
// devices were created in the data directory.
func Spawn(bin, dataDir string, deviceBudget int, log *slog.Logger) *HubTarget {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &HubTarget{spawnBin: bin, dataDir: dataDir, deviceBudget: deviceBudget, log: log}
}

// Name implements Target.
func (t *HubTarget) Name() string {
	if t.h != nil {
		return "embedded hub " + t.info.PlainAddr
	}
	if t.child != nil {
		return fmt.Sprintf("hub process pid %d on %s", t.child.Process.Pid, t.info.PlainAddr)
	}
	return "hub (not started)"
}

// Prepare implements Target: it creates the devices that do not exist yet and, for a
// spawned hub, starts the child process.
func (t *HubTarget) Prepare(ctx context.Context, prefix string, n int) error {
	t.prefix = prefix
	if t.h != nil {
		conns, err := provision(ctx, t.h, prefix, n)
		if err != nil {
			return err
		}
		t.creds, err = credentialsFor(conns, t.info.PlainAddr, nil)
		return err
	}
	if t.child != nil {
		return errors.New("a spawned hub is prepared once; start a new target for another run")
	}
	h, err := hub.New(hub.Config{DataDir: t.dataDir, Hostname: "localhost", Logger: t.log})
	if err != nil {
		return err
	}
	conns, err := provision(ctx, h, prefix, n)
	svcConn, serr := h.ServiceConnectionString("iothubowner")
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	if err := t.startChild(ctx); err != nil {
		return err
	}
	if t.creds, err = credentialsFor(conns, t.info.PlainAddr, nil); err != nil {
		return err
	}
	svc, err := dialService(ctx, t.info, svcConn, prefix, t.log)
	if err != nil {
		return err
	}
	t.svc = svc
	return nil
}

// provision creates prefix-0 … prefix-(n-1) where missing (64 at a time, so the hub's
// group commit batches them) and returns their connection strings.
func provision(ctx context.Context, h *hub.Hub, prefix string, n int) ([]string, error) {
	conns := make([]string, n)
	errs := make(chan error, 1)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("%s-%d", prefix, i)
			if _, err := h.GetDevice(ctx, id); err != nil {
				if _, err := h.CreateDevice(ctx, hub.Identity{DeviceID: id}); err != nil {
					select {
					case errs <- fmt.Errorf("creating %s: %w", id, err):
					default:
					}
					return
				}
			}
			cs, err := h.DeviceConnectionString(ctx, id)
			if err != nil {
				select {
				case errs <- err:
				default:
				}
				return
			}
			conns[i] = cs
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
		return conns, nil
	}
}

func (t *HubTarget) startChild(ctx context.Context) error {
	// Plain loopback only: the load is measured without TLS, like the mosquitto baseline.
	// Its banner (stdout) is dropped; warnings and errors reach our stderr.
	args := []string{"hub", "--data", t.dataDir, "--hostname", "localhost",
		"--tls-addr", "", "--plain-addr", "127.0.0.1:0", "--log-level", "warn"}
	if t.deviceBudget != 0 {
		args = append(args, "--device-budget", strconv.Itoa(t.deviceBudget))
	}
	cmd := exec.Command(t.spawnBin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s hub: %w", t.spawnBin, err)
	}
	t.child, t.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(t.exited) }()
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.exited:
			return fmt.Errorf("the hub process exited at start: %v", cmd.ProcessState)
		case <-deadline:
			return fmt.Errorf("the hub process (pid %d) wrote no hub.json with its addresses in 60 s", cmd.Process.Pid)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			in, err := hub.ReadInfo(t.dataDir)
			if err == nil && in.PID == cmd.Process.Pid && in.PlainAddr != "" {
				t.info = in
				return nil
			}
		}
	}
}

// Device implements Target.
func (t *HubTarget) Device(i int) ConnectOptions { return t.creds[i] }

// Service implements Target.
func (t *HubTarget) Service() Service { return t.svc }

// Sample implements Target.
func (t *HubTarget) Sample() (Sample, bool) {
	if t.h != nil {
		return SampleSelf(), true
	}
	if t.child == nil {
		return Sample{}, false
	}
	s, err := SamplePID(t.child.Process.Pid)
	return s, err == nil
}

// Close implements Target: the embedded hub closes; the child gets SIGTERM.
func (t *HubTarget) Close() error {
	if c, ok := t.svc.(io.Closer); ok {
		c.Close()
	}
	if t.h != nil {
		return t.h.Close()
	}
	if t.child == nil {
		return nil
	}
	t.child.Process.Signal(os.Interrupt)
	select {
	case <-t.exited:
	case <-time.After(30 * time.Second):
		t.child.Process.Kill()
		<-t.exited
		return fmt.Errorf("hub pid %d did not stop within 30 s; killed", t.child.Process.Pid)
	}
	return nil
}

// caPool reads a PEM CA file.
func caPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return p, nil
}

// embeddedService calls the in-process hub's Go API.
type embeddedService struct{ h *hub.Hub }

// PatchDesired implements Service.
func (s *embeddedService) PatchDesired(ctx context.Context, id string, patch map[string]any) (int64, error) {
	d, err := s.h.PatchTwin(ctx, id, hub.TwinPatch{Desired: patch, HasDesired: true}, "")
	if err != nil {
		return 0, err
	}
	return d.Desired.Version, nil
}

// WatchReported implements Service.
func (s *embeddedService) WatchReported(fn func(id string, patch map[string]any)) (func(), error) {
	return s.h.Watch(func(e hub.Event) {
		if e.Kind == hub.EventTwin && e.Twin.Section == twin.Reported {
			fn(e.Twin.DeviceID, e.Twin.Patch)
		}
	}), nil
}

// Query implements Service.
func (s *embeddedService) Query(ctx context.Context, q string) (int, error) {
	n, cont := 0, ""
	for {
		pg, err := s.h.Query(ctx, q, 1000, cont)
		if err != nil {
			return n, err
		}
		n += len(pg.Items)
		if pg.Continuation == "" {
			return n, nil
		}
		cont = pg.Continuation
	}
}
