package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeDir is the npm project with the pinned Azure IoT device SDK and device.js.
const nodeDir = "../node"

// requireNode finds node and npm and installs test/node's packages from its lock file when
// they are missing. A machine without node or npm fails the test: the interop test is the
// proof that the Azure SDK works against the hub, and CI must not pass without it.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (%v): the Azure IoT Node SDK interop test needs Node.js 18+ and npm; install them (Debian: apt-get install nodejs npm)", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is not installed (%v): the interop test installs azure-iot-device from test/node/package-lock.json with npm ci; install npm", err)
	}
	installed := true
	for _, p := range []string{"azure-iot-device", "azure-iot-device-mqtt"} {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", p, "package.json")); err != nil {
			installed = false
		}
	}
	if !installed {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = nodeDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("npm ci in test/node failed: %v\n%s", err, out)
		}
		t.Logf("installed test/node packages with npm ci")
	}
	return node
}

// event is one JSON line device.js printed.
type event struct {
	Event    string         `json:"event"`
	Patch    map[string]any `json:"patch"`
	Desired  map[string]any `json:"desired"`
	Reported map[string]any `json:"reported"`
	Where    string         `json:"where"`
	Message  string         `json:"message"`
	Raw      string         `json:"-"`
}

// nodeDevice is a running device.js.
type nodeDevice struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan event
	stderr *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode runs device.js with the connection string and CA file, plus extra env.
func startNode(t *testing.T, node, connStr, caFile string, env ...string) *nodeDevice {
	t.Helper()
	cmd := exec.Command(node, "device.js")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), "DEVICE_CONNECTION_STRING="+connStr, "DEVICE_CA_FILE="+caFile)
	cmd.Env = append(cmd.Env, env...)
	d := &nodeDevice{t: t, cmd: cmd, events: make(chan event, 256), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = d.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if d.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node device.js: %v", err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = event{Event: "garbage", Message: err.Error()}
			}
			e.Raw = sc.Text()
			d.events <- e
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		d.stdin.Close()
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() || os.Getenv("INTEROP_VERBOSE") != "" {
			t.Logf("device.js stderr:\n%s", d.stderr.String())
		}
	})
	return d
}

// send writes one command line to device.js.
func (d *nodeDevice) send(cmd map[string]any) {
	d.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := d.stdin.Write(append(b, '\n')); err != nil {
		d.t.Fatalf("writing %s to device.js: %v", b, err)
	}
}

// wait returns the first event of the kind that ok accepts (nil accepts any), failing
// the test on an "error" event, on device.js exiting, or after timeout. what says what
// the test was waiting for.
func (d *nodeDevice) wait(kind string, ok func(event) bool, timeout time.Duration, what string) event {
	d.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case e := <-d.events:
			if e.Event == "garbage" || (e.Event == "error" && kind != "error") {
				d.t.Fatalf("waiting for %s: device.js reported %s", what, e.Raw)
			}
			if e.Event == kind && (ok == nil || ok(e)) {
				return e
			}
			seen = append(seen, e.Raw)
		case <-d.done:
			d.t.Fatalf("waiting for %s: device.js exited (%v); events seen: %s", what, d.cmd.ProcessState, strings.Join(seen, "\n"))
		case <-timer.C:
			d.t.Fatalf("waiting for %s: nothing within %s; events seen meanwhile:\n%s", what, timeout, strings.Join(seen, "\n"))
		}
	}
}

// num reads a number at path in a JSON object.
func num(m map[string]any, path ...string) (float64, bool) {
	var v any = m
	for _, p := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		v = o[p]
	}
	f, ok := v.(float64)
	return f, ok
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = o[p]
	}
	s, _ := v.(string)
	return s
}

func describe(v any) string {
	b, _ := json.Marshal(v)
	return fmt.Sprintf("%s", b)
}
