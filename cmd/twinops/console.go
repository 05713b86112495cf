package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/sim"
	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twinclient"
	"github.com/twinops/twinops/ui"
	"github.com/twinops/twinops/ui/common"
)

// consoleFlags are the console's command line.
type consoleFlags struct {
	hubURL, connStr, caFile, context, dataDir, theme string
	readOnly                                         bool
	devices                                          int
}

func parseConsoleFlags(args []string) (consoleFlags, error) {
	var f consoleFlags
	fs := consoleFlagSet(&f)
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q; run twinops help", fs.Arg(0))
	}
	return f, nil
}

// consoleFlagSet defines the console's flags into f; -h prints the whole usage.
func consoleFlagSet(f *consoleFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("twinops", flag.ContinueOnError)
	fs.Usage = usage
	fs.StringVar(&f.hubURL, "hub", "", "hub URL (mqtts://host:8883); default: start an embedded demo hub")
	fs.StringVar(&f.connStr, "connection-string", "", "service connection string (default $TWINOPS_CONNECTION_STRING or the config file's context)")
	fs.StringVar(&f.caFile, "ca", "", "PEM file of the CA that signed the hub's certificate (the hub's pki/ca.pem)")
	fs.StringVar(&f.caFile, "ca-file", "", "same as --ca")
	fs.StringVar(&f.context, "context", "", "named context in "+configPath())
	fs.StringVar(&f.dataDir, "data", hub.DefaultDataDir(), "data directory of the embedded hub")
	fs.StringVar(&f.theme, "theme", "auto", "dark, light or auto (ask the terminal)")
	fs.BoolVar(&f.readOnly, "read-only", false, "hide every action that writes")
	fs.IntVar(&f.devices, "devices", 200, "size of the embedded demo fleet")
	return fs
}

// configFile is os.UserConfigDir()/twinops/config.json.
type configFile struct {
	Current  string                   `json:"current"`
	Contexts map[string]configContext `json:"contexts"`
}

type configContext struct {
	Hub              string `json:"hub"`
	ConnectionString string `json:"connectionString"`
	CAFile           string `json:"caFile"`
}

func configPath() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return "~/.config/twinops/config.json"
	}
	return filepath.Join(d, "twinops", "config.json")
}

// resolveRemote fills hub URL, connection string and CA from flags, the environment and
// the config file, in that order. It reports false when no remote hub is named.
func resolveRemote(f *consoleFlags) (bool, error) {
	if f.connStr == "" {
		f.connStr = os.Getenv("TWINOPS_CONNECTION_STRING")
	}
	if f.context != "" || (f.hubURL == "" && f.connStr == "") {
		b, err := os.ReadFile(configPath())
		switch {
		case err != nil && f.context != "":
			return false, fmt.Errorf("context %q: cannot read %s: %v", f.context, configPath(), err)
		case err == nil:
			var cf configFile
			if err := json.Unmarshal(b, &cf); err != nil {
				return false, fmt.Errorf("%s is not valid JSON: %v", configPath(), err)
			}
			name := f.context
			if name == "" {
				name = cf.Current
			}
			if name != "" {
				c, ok := cf.Contexts[name]
				if !ok {
					return false, fmt.Errorf("no context %q in %s", name, configPath())
				}
				f.hubURL = cmpOr(f.hubURL, c.Hub)
				f.connStr = cmpOr(f.connStr, c.ConnectionString)
				f.caFile = cmpOr(f.caFile, c.CAFile)
			}
		}
	}
	if f.hubURL == "" && f.connStr == "" {
		return false, nil
	}
	if f.connStr == "" {
		return false, errors.New("--hub needs a service connection string: --connection-string, TWINOPS_CONNECTION_STRING or a context in " + configPath())
	}
	return true, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func runConsole(ctx context.Context, args []string) error {
	f, err := parseConsoleFlags(args)
	if err != nil {
		return err
	}
	remote, err := resolveRemote(&f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	logDir := f.dataDir
	if remote {
		logDir, _ = os.UserCacheDir()
		logDir = filepath.Join(logDir, "twinops")
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s for the console log: %v", logDir, err)
	}
	logFile, err := os.OpenFile(filepath.Join(logDir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open the console log: %v", err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, nil))

	be := newBackend(ctx, log)
	if remote {
		be.info = common.HubInfo{Name: hostOf(f.hubURL), URL: f.hubURL}
		go be.start(func() (*twinclient.Service, func(), error) {
			svc, err := twinclient.DialService(ctx, twinclient.ServiceOptions{URL: f.hubURL, ConnectionString: f.connStr, CAFile: f.caFile, Logger: log})
			return svc, func() {}, err
		})
	} else {
		be.info = common.HubInfo{Name: "embedded demo hub", Embedded: true}
		go be.start(func() (*twinclient.Service, func(), error) { return startDemo(ctx, f, be, log) })
	}

	dpath := draftsPath(logDir, f.hubURL)
	drafts, err := loadDrafts(dpath)
	if err != nil {
		return err
	}
	opts := ui.Options{Backend: be, ReadOnly: f.readOnly, Context: ctx, Mono: os.Getenv("NO_COLOR") != "", Drafts: drafts}
	switch f.theme {
	case "dark", "light":
		dark := f.theme == "dark"
		opts.Dark = &dark
	}
	final, err := tea.NewProgram(ui.New(opts), tea.WithContext(ctx)).Run()
	cancel()
	be.close()
	if m, ok := final.(ui.Model); ok {
		saveDrafts(dpath, m.Drafts())
	}
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// savedDraft is an unsent edit as kept on disk between runs: the operator's texts and
// the version they were based on, so that sending it later gets a 412 (and the rebase
// view) if the twin changed meanwhile, instead of undoing someone else's change.
type savedDraft struct {
	Desired     string         `json:"desired"`
	Tags        string         `json:"tags"`
	BaseEtag    string         `json:"baseEtag"`
	BaseVersion int64          `json:"baseVersion"`
	BaseDesired map[string]any `json:"baseDesired"`
	BaseTags    map[string]any `json:"baseTags"`
}

// draftsPath is where a hub's unsent edits are kept: one file per hub.
func draftsPath(dir, hubURL string) string {
	name := "drafts.json"
	if hubURL != "" {
		name = "drafts-" + strings.NewReplacer(":", "_", "/", "_").Replace(hostOf(hubURL)) + ".json"
	}
	return filepath.Join(dir, name)
}

// loadDrafts reads the edits left unsent by the previous run (none when there is no file).
func loadDrafts(path string) (map[string]common.Draft, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var saved map[string]savedDraft
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON (%v); move it away to start without your saved edits", path, err)
	}
	out := make(map[string]common.Draft, len(saved))
	for id, d := range saved {
		base := &twin.Doc{DeviceID: id, Etag: d.BaseEtag, Version: d.BaseVersion, Tags: d.BaseTags,
			Desired: twin.Props{Values: d.BaseDesired}}
		out[id] = common.Draft{Desired: d.Desired, Tags: d.Tags, Base: base}
	}
	return out, nil
}

// saveDrafts writes unsent edits so that quitting never loses them; the next run opens
// them again (e on the device). With no drafts left the file is removed.
func saveDrafts(path string, drafts map[string]common.Draft) {
	if len(drafts) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "twinops:", err)
		}
		return
	}
	out := make(map[string]savedDraft, len(drafts))
	for id, d := range drafts {
		sd := savedDraft{Desired: d.Desired, Tags: d.Tags}
		if d.Base != nil {
			sd.BaseEtag, sd.BaseVersion, sd.BaseDesired, sd.BaseTags = d.Base.Etag, d.Base.Version, d.Base.Desired.Values, d.Base.Tags
		}
		out[id] = sd
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err == nil {
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "twinops: could not save your unsent edits:", err)
		return
	}
	fmt.Fprintf(os.Stderr, "twinops: %d unsent edit(s) kept in %s; they reopen with e on the device next time\n", len(drafts), path)
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return u
	}
	return p.Host
}

// backend adapts twinclient to ui.Backend. The connection is made in the background so
// that the first frame shows at once; until it is up, Next reports the start-up state.
type backend struct {
	ctx   context.Context
	log   *slog.Logger
	info  common.HubInfo
	ready chan struct{}

	mu      sync.Mutex
	svc     *twinclient.Service
	fleet   *twinclient.Fleet
	cleanup func()
	err     error
	told    bool // the starting status has been returned
	errTold bool // the start-up error has been returned
}

var _ ui.Backend = (*backend)(nil)

func newBackend(ctx context.Context, log *slog.Logger) *backend {
	return &backend{ctx: ctx, log: log, ready: make(chan struct{})}
}

// start connects (runs on its own goroutine) and opens the fleet cache.
func (b *backend) start(dial func() (*twinclient.Service, func(), error)) {
	svc, cleanup, err := dial()
	b.mu.Lock()
	defer b.mu.Unlock()
	defer close(b.ready)
	if err != nil {
		b.err = err
		b.log.Error("console: cannot reach the hub", "err", err)
		if cleanup != nil {
			cleanup()
		}
		return
	}
	b.svc, b.cleanup = svc, cleanup
	b.fleet = svc.Fleet(b.ctx)
}

func (b *backend) close() {
	<-b.ready
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.svc != nil {
		b.svc.Close()
	}
	if b.cleanup != nil {
		b.cleanup()
	}
}

func (b *backend) service() (*twinclient.Service, error) {
	select {
	case <-b.ready:
	default:
		return nil, errors.New("not connected to the hub yet; try again in a moment")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil, b.err
	}
	return b.svc, nil
}

// Next returns the fleet cache's next batch, converted.
func (b *backend) Next(ctx context.Context) (common.Batch, error) {
	b.mu.Lock()
	first := !b.told
	b.told = true
	b.mu.Unlock()
	if first {
		state := "starting the embedded hub and demo fleet"
		if !b.info.Embedded {
			state = common.StateConnecting
		}
		return common.Batch{Status: common.Status{State: state}}, nil
	}
	select {
	case <-b.ready:
	case <-ctx.Done():
		return common.Batch{}, ctx.Err()
	}
	b.mu.Lock()
	fleet, err := b.fleet, b.err
	b.mu.Unlock()
	if err != nil {
		b.mu.Lock()
		told := b.errTold
		b.errTold = true
		b.mu.Unlock()
		if !told {
			return common.Batch{Status: common.Status{State: "failed", LastError: err.Error(), ErrorTime: time.Now()}}, nil
		}
		<-ctx.Done() // nothing more will come; the status line shows the error
		return common.Batch{}, ctx.Err()
	}
	tb, err := fleet.Next(ctx)
	if err != nil {
		return common.Batch{}, err
	}
	return convertBatch(tb), nil
}

func convertBatch(tb twinclient.Batch) common.Batch {
	out := common.Batch{Twins: tb.Twins, Events: make([]common.Event, len(tb.Events))}
	for i, e := range tb.Events {
		out.Events[i] = common.Event{Time: e.Time, DeviceID: e.DeviceID, Kind: e.Kind, Version: e.Version, Patch: e.Patch}
	}
	out.Status = common.Status{State: tb.Status.State.String(), LastError: tb.Status.LastError, ErrorTime: tb.Status.LastErrorTime}
	return out
}

// GetTwin reads a twin from the hub.
func (b *backend) GetTwin(ctx context.Context, id string) (*twin.Doc, error) {
	svc, err := b.service()
	if err != nil {
		return nil, err
	}
	d, err := svc.GetTwin(ctx, id)
	return d, wrapErr(err)
}

// PatchTwin patches desired and tags with an etag.
func (b *backend) PatchTwin(ctx context.Context, id string, p common.Patch, etag string) (*twin.Doc, error) {
	svc, err := b.service()
	if err != nil {
		return nil, err
	}
	d, err := svc.PatchTwin(ctx, id, twinclient.Patch{Desired: p.Desired, Tags: p.Tags}, etag)
	return d, wrapErr(err)
}

// Info describes the hub.
func (b *backend) Info() common.HubInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.info
}

func (b *backend) setInfo(i common.HubInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.info = i
}

// dialLocal connects to the hub already running on a data dir, with the credentials it
// keeps there (as `twinops twin` and the other commands do).
func dialLocal(ctx context.Context, dir string, log *slog.Logger) (*twinclient.Service, error) {
	c := cliConn{data: dir}
	o := twinclient.ServiceOptions{Logger: log}
	if err := c.local(&o, defaultIO()); err != nil {
		return nil, err
	}
	return twinclient.DialService(ctx, o)
}

// hubError gives twinclient's error answers the status the UI looks for.
type hubError struct{ e *twinclient.Error }

// Error returns the hub's answer as twinclient formats it.
func (h hubError) Error() string { return h.e.Error() }

// StatusCode is the 3-digit status the hub answered with (412 on a stale etag).
func (h hubError) StatusCode() int { return h.e.Status }

// Unwrap gives the twinclient error.
func (h hubError) Unwrap() error { return h.e }

func wrapErr(err error) error {
	var te *twinclient.Error
	if errors.As(err, &te) {
		return hubError{te}
	}
	return err
}

// startDemo starts the embedded hub in the data dir, then the simulated demo fleet, and
// connects to the hub over TLS like any remote console.
func startDemo(ctx context.Context, f consoleFlags, be *backend, log *slog.Logger) (*twinclient.Service, func(), error) {
	h, err := hub.New(hub.Config{DataDir: f.dataDir, Hostname: "localhost", TLSAddr: "127.0.0.1:0", Logger: log})
	if err != nil && strings.Contains(err.Error(), "in use") {
		// A twinops hub already runs on this data dir: use it, as the other commands do.
		svc, lerr := dialLocal(ctx, f.dataDir, log)
		if lerr != nil {
			return nil, nil, fmt.Errorf("%w; and connecting to the hub running there failed: %v", err, lerr)
		}
		be.setInfo(common.HubInfo{Name: "local hub (" + f.dataDir + ")"})
		return svc, func() {}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("embedded hub in %s: %w", f.dataDir, err)
	}
	if err := h.Start(); err != nil {
		h.Close()
		return nil, nil, fmt.Errorf("embedded hub: %w", err)
	}
	cs, err := h.ServiceConnectionString("iothubowner")
	if err != nil {
		h.Close()
		return nil, nil, err
	}
	u := "mqtts://" + h.TLSAddr().String()
	svc, err := twinclient.DialService(ctx, twinclient.ServiceOptions{URL: u, ConnectionString: cs, CAFile: h.CAFile(), Logger: log})
	if err != nil {
		h.Close()
		return nil, nil, fmt.Errorf("connecting to the embedded hub: %w", err)
	}
	stopSim, err := startSim(ctx, svc, h, u, f.devices, log)
	if err != nil {
		log.Error("console: demo fleet did not start", "err", err)
	}
	return svc, func() {
		stopSim()
		h.Close()
	}, nil
}

// startSim provisions the demo fleet (existing devices are kept, so edits survive a
// restart) and runs it against the hub over TLS. The returned function stops it.
func startSim(ctx context.Context, svc *twinclient.Service, h *hub.Hub, url string, n int, log *slog.Logger) (func(), error) {
	o := sim.Options{Count: n, Seed: 1, Prefix: "demo-", FailureRate: 0.08, FlakyRate: 0.04, Logger: log}
	conns, err := sim.Provision(ctx, sim.ServiceRegistry(svc), o)
	if err != nil {
		return func() {}, fmt.Errorf("demo fleet: %w", err)
	}
	fl, err := sim.Run(ctx, o, conns, twinclient.DeviceOptions{URL: url, CAFile: h.CAFile(), Logger: log})
	if err != nil {
		return func() {}, fmt.Errorf("demo fleet: %w", err)
	}
	return func() { fl.Close() }, nil
}
