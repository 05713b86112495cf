package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
)

// cliHub starts a real hub in a temporary data dir (its hub.json is what the CLI reads).
func cliHub(t *testing.T, cfg hub.Config) string {
	_, dir := cliHubOf(t, cfg)
	return dir
}

// cliHubOf is cliHub that also returns the hub (closed when the test ends, or earlier by
// the test: Close may be called twice).
func cliHubOf(t *testing.T, cfg hub.Config) (*hub.Hub, string) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		h.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, cfg.DataDir
}

// cliRun runs one command against the hub in dir and returns stdout, stderr and the error.
func cliRun(t *testing.T, dir string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	io := cliIO{out: &out, errOut: &errOut, env: func(k string) string {
		if k == "TWINOPS_DATA" {
			return dir
		}
		return ""
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	switch args[0] {
	case "device":
		err = cliDevice(ctx, args[1:], io)
	case "twin":
		err = cliTwin(ctx, args[1:], io)
	case "query":
		err = cliQuery(ctx, args[1:], io)
	}
	return out.String(), errOut.String(), err
}

// mustRun runs a command that must succeed and decodes its JSON output into v (if not nil).
func mustRun(t *testing.T, dir string, v any, args ...string) {
	t.Helper()
	out, errOut, err := cliRun(t, dir, args...)
	if err != nil {
		t.Fatalf("twinops %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("twinops %s: stdout is not JSON (%v): %q", strings.Join(args, " "), err, out)
		}
	}
}

type cliTwinJSON struct {
	Etag       string         `json:"etag"`
	Version    int64          `json:"version"`
	Tags       map[string]any `json:"tags"`
	Properties struct {
		Desired map[string]any `json:"desired"`
	} `json:"properties"`
}

func TestCLIAgainstLocalHub(t *testing.T) {
	for name, cfg := range map[string]hub.Config{
		"plain loopback": {PlainAddr: "127.0.0.1:0"},
		"tls":            {TLSAddr: "127.0.0.1:0"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := cliHub(t, cfg)
			var id map[string]any
			mustRun(t, dir, &id, "device", "create", "pump-1")
			if id["deviceId"] != "pump-1" || id["status"] != "enabled" {
				t.Fatalf("created %v", id)
			}
			mustRun(t, dir, nil, "device", "create", "pump-2", "--status", "disabled", "--reason", "spare")
			var list []map[string]any
			mustRun(t, dir, &list, "device", "list", "--page-size", "1")
			if len(list) != 2 || list[1]["statusReason"] != "spare" {
				t.Fatalf("list %v", list)
			}
			mustRun(t, dir, &id, "device", "update", "pump-2", "--status", "enabled")
			if id["status"] != "enabled" || id["statusReason"] != "spare" {
				t.Fatalf("after update %v (the reason must be kept)", id)
			}
			var cs map[string]string
			mustRun(t, dir, &cs, "device", "connection-string", "pump-1")
			if !strings.Contains(cs["connectionString"], "DeviceId=pump-1;SharedAccessKey=") {
				t.Fatalf("connection string %v", cs)
			}

			var tw cliTwinJSON
			mustRun(t, dir, &tw, "twin", "get", "pump-1")
			old := tw.Etag
			mustRun(t, dir, &tw, "twin", "patch", "pump-1", "--desired", `{"fan":{"speed":3}}`, "--tags", `{"ring":"canary"}`, "--etag", old)
			if tw.Properties.Desired["fan"].(map[string]any)["speed"] != 3.0 || tw.Tags["ring"] != "canary" {
				t.Fatalf("after patch %+v", tw)
			}
			_, errOut, err := cliRun(t, dir, "twin", "patch", "pump-1", "--desired", `{"fan":null}`, "--etag", old)
			if err == nil || !strings.Contains(err.Error(), "412") {
				t.Fatalf("patch with a stale etag: err %v, stderr %s", err, errOut)
			}
			tw = cliTwinJSON{} // decoding into a used map would merge
			mustRun(t, dir, &tw, "twin", "replace", "pump-1", "--desired", `{"mode":"eco"}`)
			if _, has := tw.Properties.Desired["fan"]; has || tw.Properties.Desired["mode"] != "eco" {
				t.Fatalf("after replace %+v", tw.Properties.Desired)
			}

			var rows []map[string]any
			mustRun(t, dir, &rows, "query", "SELECT * FROM devices WHERE tags.ring = 'canary'")
			if len(rows) != 1 || rows[0]["deviceId"] != "pump-1" {
				t.Fatalf("query rows %v", rows)
			}
			out, errOut, err := cliRun(t, dir, "query", "SELECT deviceId FROM devices", "--page-size", "1")
			if err != nil || !strings.Contains(errOut, "--continuation") || !strings.Contains(out, "pump-1") {
				t.Fatalf("one page: %v\n%s\n%s", err, out, errOut)
			}
			mustRun(t, dir, &rows, "query", "SELECT COUNT() AS n FROM devices")
			if len(rows) != 1 || rows[0]["n"] != 2.0 {
				t.Fatalf("count %v", rows)
			}

			mustRun(t, dir, nil, "device", "delete", "pump-2")
			if _, _, err := cliRun(t, dir, "device", "show", "pump-2"); err == nil || !strings.Contains(err.Error(), "404") {
				t.Fatalf("show after delete: %v", err)
			}
		})
	}
}

func TestCLIRefusesBadInput(t *testing.T) {
	dir := cliHub(t, hub.Config{PlainAddr: "127.0.0.1:0"})
	mustRun(t, dir, nil, "device", "create", "d")
	cases := map[string]struct {
		args []string
		want string
	}{
		"no verb":            {[]string{"device"}, "say create"},
		"unknown verb":       {[]string{"device", "frob", "d"}, "unknown"},
		"bad status":         {[]string{"device", "update", "d", "--status", "paused"}, "enabled or disabled"},
		"update nothing":     {[]string{"device", "update", "d"}, "--status"},
		"patch nothing":      {[]string{"twin", "patch", "d"}, "--desired"},
		"patch not json":     {[]string{"twin", "patch", "d", "--desired", "{fan"}, "JSON object"},
		"patch reserved key": {[]string{"twin", "patch", "d", "--desired", `{"$x":1}`}, "400"},
		"query syntax":       {[]string{"query", "SELECT FROM"}, "query"},
		"missing device":     {[]string{"twin", "get", "nope"}, "404"},
		"no hub":             {[]string{"twin", "get", "d", "--data", "/nonexistent"}, "no hub"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			out, _, err := cliRun(t, dir, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one mentioning %q", err, c.want)
			}
			if out != "" {
				t.Fatalf("stdout on failure: %q", out)
			}
		})
	}
	var tw cliTwinJSON
	mustRun(t, dir, &tw, "twin", "get", "d")
	if tw.Version != 1 {
		t.Fatalf("refused commands changed the twin: version %d", tw.Version)
	}
}

// TestCLISaysTheLocalHubIsDown: after the local hub has stopped, its hub.json still names
// its last address; a command says the hub is not running and how to start it, instead
// of a bare "connection refused" on a port the user never chose.
func TestCLISaysTheLocalHubIsDown(t *testing.T) {
	h, dir := cliHubOf(t, hub.Config{PlainAddr: "127.0.0.1:0"})
	mustRun(t, dir, nil, "device", "create", "d")
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err := cliRun(t, dir, "twin", "get", "d")
	if err == nil {
		t.Fatal("twin get succeeded against a stopped hub")
	}
	for _, want := range []string{"is not running", "twinops hub --data " + dir, "--hub URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// A hub named on the command line is not the local one: its error stays as it was.
	_, _, err = cliRun(t, dir, "twin", "get", "d", "--hub", "mqtt://127.0.0.1:1")
	if err == nil || strings.Contains(err.Error(), "is not running") {
		t.Fatalf("--hub to a closed port: %v", err)
	}
}
