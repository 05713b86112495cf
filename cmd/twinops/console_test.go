package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/sim"
	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twinclient"
	"github.com/twinops/twinops/ui"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/fleet"
	"github.com/twinops/twinops/ui/rollout"
)

// consoleDriver runs a root model the way bubbletea's runtime does, without a terminal:
// commands run on their own goroutines and their messages come back to Update in order.
type consoleDriver struct {
	t    *testing.T
	m    tea.Model
	msgs chan tea.Msg
}

func newConsoleDriver(t *testing.T, m tea.Model) *consoleDriver {
	d := &consoleDriver{t: t, m: m, msgs: make(chan tea.Msg, 1024)}
	d.run(m.Init())
	d.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	return d
}

func (d *consoleDriver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if msg != nil {
			d.msgs <- msg
		}
	}()
}

func (d *consoleDriver) send(msg tea.Msg) {
	if b, ok := msg.(tea.BatchMsg); ok {
		for _, c := range b {
			d.run(c)
		}
		return
	}
	next, cmd := d.m.Update(msg)
	d.m = next
	d.run(cmd)
}

func (d *consoleDriver) screen() string { return ansi.Strip(d.m.(ui.Model).Render()) }

// waitFor processes messages until the screen satisfies ok.
func (d *consoleDriver) waitFor(what string, timeout time.Duration, ok func(string) bool) {
	d.t.Helper()
	deadline := time.After(timeout)
	for !ok(d.screen()) {
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-deadline:
			d.t.Fatalf("timed out waiting for %s; screen:\n%s", what, d.screen())
		}
	}
}

// settle handles the messages that arrive within a short while (navigation commands
// finish at once), so that the next key goes to the screen it was meant for.
func (d *consoleDriver) settle() {
	for {
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

func (d *consoleDriver) keys(keys ...string) {
	for _, k := range keys {
		var msg tea.KeyPressMsg
		switch k {
		case "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "end":
			msg = tea.KeyPressMsg{Code: tea.KeyEnd}
		case "left":
			msg = tea.KeyPressMsg{Code: tea.KeyLeft}
		case "down":
			msg = tea.KeyPressMsg{Code: tea.KeyDown}
		case "backspace":
			msg = tea.KeyPressMsg{Code: tea.KeyBackspace}
		case "ctrl+s":
			msg = tea.KeyPressMsg{Code: 's', Mod: tea.ModCtrl}
		default:
			msg = tea.KeyPressMsg{Code: []rune(k)[0], Text: k}
		}
		d.send(msg)
		d.settle()
	}
}

func (d *consoleDriver) typeText(s string) {
	for _, r := range s {
		if r == ' ' {
			d.send(tea.KeyPressMsg{Code: tea.KeySpace, Text: " "})
			continue
		}
		d.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// TestConsoleEndToEnd starts a hub, a small simulated fleet and the console model on
// the real client, edits a desired property and sees the device's reported change come
// back in sync.
func TestConsoleEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, so := startTestHub(t, log)
	url := so.URL
	svc, err := twinclient.DialService(ctx, so)
	if err != nil {
		t.Fatal(err)
	}
	o := sim.Options{Count: 3, Seed: 7, Prefix: "e2e-", Speed: 20, Logger: log}
	conns, err := sim.Provision(ctx, sim.ServiceRegistry(svc), o)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := sim.Run(ctx, o, conns, twinclient.DeviceOptions{URL: url, CAFile: h.CAFile(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()

	be := newBackend(ctx, log)
	be.start(func() (*twinclient.Service, func(), error) { return svc, func() {}, nil })
	defer be.close()
	dark := true
	d := newConsoleDriver(t, ui.New(ui.Options{Backend: be, Dark: &dark, Context: ctx}))

	d.waitFor("three connected devices", 30*time.Second, func(s string) bool { return strings.Contains(s, "3/3 connected") })
	d.keys("enter")
	d.waitFor("the twin screen", 5*time.Second, func(s string) bool { return strings.Contains(s, "RECENT CHANGES") })
	// The demo provisioning gives every device its desired firmware and telemetry
	// settings; line 6 of the editor is `    "sendFrequency": "5m"`: change 5m to 17s.
	d.keys("e", "down", "down", "down", "down", "down", "end", "left", "backspace", "backspace")
	d.typeText(`17s`)
	d.waitFor("a valid edit", 5*time.Second, func(s string) bool {
		return strings.Contains(s, `patch desired {"telemetryConfig":{"sendFrequency":"17s"}}`)
	})
	d.keys("ctrl+s")
	d.waitFor("the device to report the new value in sync", 30*time.Second, func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "telemetryConfig.sendFrequency") && strings.Count(l, `"17s"`) == 2 && strings.Contains(l, "in sync") {
				return true
			}
		}
		return false
	})
}

func TestResolveRemote(t *testing.T) {
	cfgDir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgDir)
	t.Setenv("HOME", cfgDir)
	t.Setenv("TWINOPS_CONNECTION_STRING", "")
	if err := os.MkdirAll(filepath.Dir(configPath()), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := `{"current":"staging","contexts":{
		"staging":{"hub":"mqtts://staging:8883","connectionString":"HostName=staging;SharedAccessKeyName=service;SharedAccessKey=AAAA","caFile":"/ca/staging.pem"},
		"prod":{"hub":"mqtts://prod:8883","connectionString":"HostName=prod;SharedAccessKeyName=service;SharedAccessKey=BBBB"}}}`
	if err := os.WriteFile(configPath(), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		flags   consoleFlags
		env     string
		remote  bool
		wantHub string
		wantCS  string
		wantErr string
	}{
		"current context":          {consoleFlags{}, "", true, "mqtts://staging:8883", "HostName=staging;SharedAccessKeyName=service;SharedAccessKey=AAAA", ""},
		"named context":            {consoleFlags{context: "prod"}, "", true, "mqtts://prod:8883", "HostName=prod;SharedAccessKeyName=service;SharedAccessKey=BBBB", ""},
		"flags win over the file":  {consoleFlags{hubURL: "mqtts://x:1", connStr: "HostName=x;SharedAccessKeyName=s;SharedAccessKey=C"}, "", true, "mqtts://x:1", "HostName=x;SharedAccessKeyName=s;SharedAccessKey=C", ""},
		"environment string":       {consoleFlags{hubURL: "mqtts://y:1"}, "HostName=y;SharedAccessKeyName=s;SharedAccessKey=D", true, "mqtts://y:1", "HostName=y;SharedAccessKeyName=s;SharedAccessKey=D", ""},
		"unknown context":          {consoleFlags{context: "nope"}, "", false, "", "", `no context "nope"`},
		"hub without a credential": {consoleFlags{hubURL: "mqtts://z:1", context: "missing"}, "", false, "", "", "no context"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("TWINOPS_CONNECTION_STRING", tc.env)
			f := tc.flags
			remote, err := resolveRemote(&f)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || remote != tc.remote || f.hubURL != tc.wantHub || f.connStr != tc.wantCS {
				t.Fatalf("remote %v hub %q cs %q err %v", remote, f.hubURL, f.connStr, err)
			}
		})
	}
	// Without a config file and without flags the console starts the embedded hub.
	if err := os.Remove(configPath()); err != nil {
		t.Fatal(err)
	}
	f := consoleFlags{}
	if remote, err := resolveRemote(&f); remote || err != nil {
		t.Fatalf("no config: remote %v err %v, want the embedded hub", remote, err)
	}
}

func TestDraftsKeptBetweenRuns(t *testing.T) {
	path := draftsPath(t.TempDir(), "mqtts://hub.example:8883")
	base := &twin.Doc{DeviceID: "pump-7", Etag: "AAA=", Version: 41, Tags: map[string]any{"ring": "canary"},
		Desired: twin.Props{Values: map[string]any{"fw": "1.0"}}}
	in := map[string]common.Draft{"pump-7": {Desired: `{"fw": "2.0"}`, Tags: `{"ring": "canary"}`, Base: base}}
	saveDrafts(path, in)
	out, notice, err := loadDrafts(path, time.Now())
	if err != nil || notice != "" {
		t.Fatal(err, notice)
	}
	got := out["pump-7"]
	if got.Desired != in["pump-7"].Desired || got.Tags != in["pump-7"].Tags || got.Base.Etag != "AAA=" ||
		got.Base.Version != 41 || got.Base.Desired.Values["fw"] != "1.0" || got.Base.Tags["ring"] != "canary" {
		t.Fatalf("draft came back as %+v (base %+v)", got, got.Base)
	}
	saveDrafts(path, nil)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("with no drafts left the file should be gone: %v", err)
	}
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptDraftsMovedAside: a drafts file that is not JSON does not stop the console:
// it is moved (never deleted) to <file>.corrupt-<UTC time> with its bytes intact, the
// console starts with no drafts, and the notice names the moved file.
func TestCorruptDraftsMovedAside(t *testing.T) {
	path := draftsPath(t.TempDir(), "")
	broken := []byte("{broken")
	if err := os.WriteFile(path, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 2, 3, 4, 0, time.FixedZone("CET", 3600))
	drafts, notice, err := loadDrafts(path, at)
	if err != nil {
		t.Fatalf("a corrupt drafts file stopped the console: %v", err)
	}
	if len(drafts) != 0 {
		t.Fatalf("drafts from a corrupt file: %v", drafts)
	}
	aside := path + ".corrupt-20261127T010304Z"
	if b, err := os.ReadFile(aside); err != nil || string(b) != string(broken) {
		t.Fatalf("moved file %s: %q, %v", aside, b, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the corrupt file is still in place: %v", err)
	}
	if !strings.HasPrefix(notice, "bad drafts moved to "+filepath.Base(aside)+" in "+filepath.Dir(aside)) {
		t.Fatalf("notice %q does not name %s", notice, aside)
	}
}

// TestStoppedRolloutKeptBetweenRuns: a rollout the console's end stopped is kept in its
// own file per hub and read back whole; none left removes the file; a bad file is moved
// aside with a notice, never deleted, and does not stop the console.
func TestStoppedRolloutKeptBetweenRuns(t *testing.T) {
	dir := t.TempDir()
	path := rolloutPath(dir, "mqtts://hub.example:8883")
	if filepath.Base(path) != "rollout-hub.example_8883.json" {
		t.Fatalf("rollout file %s", path)
	}
	in := &rollout.Saved{IDs: []string{"pump-1", "pump-2"}, Label: "ring = 'canary'",
		Fields:  [5]string{"firmware.version", "2.1.0", "5", "5%", "10"},
		Written: 1, Total: 2, At: time.Date(2026, 11, 27, 2, 3, 4, 0, time.UTC)}
	saveRollout(path, in, false)
	out, notice := loadRollout(path, time.Now())
	if notice != "" || out == nil || !reflect.DeepEqual(*out, *in) {
		t.Fatalf("read back %+v (notice %q), want %+v", out, notice, in)
	}
	saveRollout(path, nil, false)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a console that did not read the note (another console's) removed it: %v", err)
	}
	saveRollout(path, nil, true)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("with the note read and resumed the file should be gone: %v", err)
	}
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, notice = loadRollout(path, time.Date(2026, 11, 27, 2, 3, 4, 0, time.UTC))
	if out != nil || !strings.HasPrefix(notice, "bad stopped rollout moved to "+filepath.Base(path)+".corrupt-20261127T020304Z") {
		t.Fatalf("bad file: %+v, notice %q", out, notice)
	}
	if b, err := os.ReadFile(path + ".corrupt-20261127T020304Z"); err != nil || string(b) != "{broken" {
		t.Fatalf("moved file: %q, %v", b, err)
	}
}

// TestFleetViewFile: the fleet view is kept per hub and read back; the default view
// leaves no file; a bad file is ignored (the view is a convenience, not the operator's work).
func TestFleetViewFile(t *testing.T) {
	path := hubFile(t.TempDir(), "", "view")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := fleet.ViewState{Query: "tags.ring = 'canary'", Filter: "eu", Sort: "SYNC", Desc: true}
	saveView(path, in)
	if out := loadView(path, log); out == nil || *out != in {
		t.Fatalf("read back %+v, want %+v", out, in)
	}
	saveView(path, fleet.ViewState{})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the default view left a file: %v", err)
	}
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := loadView(path, log); out != nil {
		t.Fatalf("a bad file gave %+v", out)
	}
}

// TestConvertBatchKeepsOp: the console's events say whether a section was replaced
// whole (its history then shows what the replace removed) or merge-patched.
func TestConvertBatchKeepsOp(t *testing.T) {
	tests := map[string]string{"replace": common.OpReplace, "patch": "patch"}
	for name, op := range tests {
		t.Run(name, func(t *testing.T) {
			b := convertBatch(twinclient.Batch{Events: []twinclient.Event{{DeviceID: "pump-7", Kind: "desired", Version: 16, Op: op, Patch: map[string]any{"x": 1.0}}}})
			if len(b.Events) != 1 || b.Events[0].Op != op || b.Events[0].Version != 16 {
				t.Fatalf("converted %+v, want op %q", b.Events, op)
			}
		})
	}
}

// TestConvertBatchKeepsExpected: while the first listing arrives, the console learns
// from each batch how many devices the hub has ("loading 37000 of 100000 devices").
func TestConvertBatchKeepsExpected(t *testing.T) {
	b := convertBatch(twinclient.Batch{Status: twinclient.Status{State: twinclient.Syncing, Expected: 100000}})
	if b.Status.Expected != 100000 || b.Status.State != common.StateSyncing {
		t.Fatalf("converted status %+v, want syncing with 100000 expected", b.Status)
	}
}
