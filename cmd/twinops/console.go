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
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/sim"
	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twinclient"
	"github.com/twinops/twinops/ui"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/fleet"
	"github.com/twinops/twinops/ui/rollout"
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
	if remote {
		// A bad connection string, URL or CA file would fail every redial the same way.
		if err := twinclient.CheckServiceOptions(twinclient.ServiceOptions{URL: f.hubURL, ConnectionString: f.connStr, CAFile: f.caFile}); err != nil {
			return fmt.Errorf("cannot connect to the hub: %w", err)
		}
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
		be.retry = redialEvery
		go be.start(func() (*twinclient.Service, func(), error) {
			svc, err := twinclient.DialService(ctx, twinclient.ServiceOptions{URL: f.hubURL, ConnectionString: f.connStr, CAFile: f.caFile, Logger: log})
			return svc, func() {}, err
		})
	} else {
		be.info = common.HubInfo{Name: "embedded demo hub", Embedded: true}
		go be.start(func() (*twinclient.Service, func(), error) { return startDemo(ctx, f, be, log) })
	}

	dpath := draftsPath(logDir, f.hubURL)
	drafts, notice, err := loadDrafts(dpath, time.Now())
	if err != nil {
		return err
	}
	if notice != "" {
		log.Warn("drafts file moved aside", "notice", notice)
	}
	rpath := rolloutPath(logDir, f.hubURL)
	stopped, rnotice := loadRollout(rpath, time.Now())
	if rnotice != "" {
		log.Warn("stopped rollout file moved aside", "notice", rnotice)
		notice = strings.TrimPrefix(notice+"; "+rnotice, "; ")
	}
	vpath := hubFile(logDir, f.hubURL, "view")
	opts := ui.Options{Backend: be, ReadOnly: f.readOnly, Context: ctx, Mono: os.Getenv("NO_COLOR") != "", Drafts: drafts,
		Notice: notice, Stopped: stopped, View: loadView(vpath, log)}
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
		saveRollout(rpath, m.SavedRollout(), stopped != nil)
		saveView(vpath, m.FleetView())
		if s := m.RolloutStopped(); s != "" {
			log.Warn("console quit during a rollout", "rollout", s)
			fmt.Fprintln(os.Stderr, "twinops: "+s+"; the next console on this hub resumes it with R (devices that already have the value are skipped)")
		}
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
func draftsPath(dir, hubURL string) string { return hubFile(dir, hubURL, "drafts") }

// hubFile is the file named base that the console keeps in dir for the hub: base.json for
// the embedded hub (dir is its data dir), base-host_port.json for a remote one.
func hubFile(dir, hubURL, base string) string {
	name := base + ".json"
	if hubURL != "" {
		name = base + "-" + strings.NewReplacer(":", "_", "/", "_").Replace(hostOf(hubURL)) + ".json"
	}
	return filepath.Join(dir, name)
}

// loadDrafts reads the edits left unsent by the previous run (none when there is no file).
// A file that is not valid JSON must not keep the console from starting: it is moved
// aside (never deleted) to <path>.corrupt-<UTC time>, and the console starts with no
// drafts; notice then says so, naming the moved file, for the status line.
func loadDrafts(path string, now time.Time) (drafts map[string]common.Draft, notice string, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	var saved map[string]savedDraft
	if jerr := json.Unmarshal(b, &saved); jerr != nil {
		aside, err := moveAside(path, now)
		if err != nil {
			return nil, "", fmt.Errorf("%s is not valid JSON (%v) and could not be moved aside (%v); move it away to start without your saved edits", path, jerr, err)
		}
		// The file's name first: at 80 columns the rest may be cut.
		return nil, fmt.Sprintf("bad drafts moved to %s in %s; started with none (%v)",
			filepath.Base(aside), filepath.Dir(aside), jerr), nil
	}
	out := make(map[string]common.Draft, len(saved))
	for id, d := range saved {
		base := &twin.Doc{DeviceID: id, Etag: d.BaseEtag, Version: d.BaseVersion, Tags: d.BaseTags,
			Desired: twin.Props{Values: d.BaseDesired}}
		out[id] = common.Draft{Desired: d.Desired, Tags: d.Tags, Base: base}
	}
	return out, "", nil
}

// saveDrafts writes unsent edits so that quitting never loses them; the next run opens
// them again (e on the device). With no drafts left the file is removed.
func saveDrafts(path string, drafts map[string]common.Draft) {
	if len(drafts) == 0 {
		if err := keepFile(path, nil); err != nil {
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
	if err := keepFile(path, out); err != nil {
		fmt.Fprintln(os.Stderr, "twinops: could not save your unsent edits:", err)
		return
	}
	fmt.Fprintf(os.Stderr, "twinops: %d unsent edit(s) kept in %s; they reopen with e on the device next time\n", len(drafts), path)
}

// loadView reads the fleet view the previous run ended on (nil when there is none). The
// view is a convenience: a file that cannot be read is logged and ignored.
func loadView(path string, log *slog.Logger) *fleet.ViewState {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var v fleet.ViewState
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil {
		log.Warn("the last session's fleet view is ignored", "file", path, "err", err)
		return nil
	}
	return &v
}

// saveView keeps the fleet view for the next run; the default view needs no file.
func saveView(path string, v fleet.ViewState) {
	var err error
	if v == (fleet.ViewState{}) {
		err = keepFile(path, nil)
	} else {
		err = keepFile(path, v)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "twinops: could not keep the fleet view:", err)
	}
}

// rolloutPath is where a rollout stopped by the console's end is kept: one file per hub.
func rolloutPath(dir, hubURL string) string { return hubFile(dir, hubURL, "rollout") }

// loadRollout reads the rollout the previous run stopped (nil when there is none). A file
// that cannot be read as one is moved aside, as a bad drafts file is, and notice says so.
func loadRollout(path string, now time.Time) (*rollout.Saved, string) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	var s rollout.Saved
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err == nil && len(s.IDs) > 0 {
		return &s, ""
	}
	if err == nil {
		err = errors.New("it names no devices")
	}
	aside, rerr := moveAside(path, now)
	if rerr != nil {
		return nil, fmt.Sprintf("cannot read the stopped rollout in %s (%v)", path, err)
	}
	return nil, fmt.Sprintf("bad stopped rollout moved to %s in %s (%v)", filepath.Base(aside), filepath.Dir(aside), err)
}

// saveRollout keeps a stopped rollout for the next run. With none, it removes the file
// only if this console read it at its start (and so resumed or replaced it): another
// console on the same hub may have written it since.
func saveRollout(path string, s *rollout.Saved, loaded bool) {
	var err error
	switch {
	case s != nil:
		err = keepFile(path, s)
	case loaded:
		err = keepFile(path, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "twinops: could not keep the stopped rollout:", err)
	}
}

// keepFile writes v as JSON to path, readable by its owner only, or removes path when v
// is nil (an absent file is fine).
func keepFile(path string, v any) error {
	if v == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// moveAside renames a file the console cannot read to <path>.corrupt-<UTC time>: never
// deleted, so that nothing of the operator's is lost, and out of the way of the start.
func moveAside(path string, now time.Time) (string, error) {
	aside := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	return aside, os.Rename(path, aside)
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return u
	}
	return p.Host
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
