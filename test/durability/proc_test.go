package durability

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
)

// buildTwinops builds the real binary into a temporary directory.
func buildTwinops(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "twinops")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/twinops")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/twinops: %v\n%s", err, out)
	}
	return bin
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hubProc is a `twinops hub` child process.
type hubProc struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	info   hub.Info
}

// startHubProc starts `twinops hub` on dataDir with both listeners on 127.0.0.1:0 and
// waits until hub.json names this process and its bound addresses.
func startHubProc(t *testing.T, bin, dataDir string) *hubProc {
	t.Helper()
	cmd := exec.Command(bin, "hub", "--data", dataDir, "--hostname", "localhost",
		"--tls-addr", "127.0.0.1:0", "--plain-addr", "127.0.0.1:0")
	p := &hubProc{cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s hub: %v", bin, err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("twinops hub (pid %d) output:\n%s", cmd.Process.Pid, p.out.String())
		}
	})
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.exited:
			t.Fatalf("twinops hub exited before it was up: %v\n%s", cmd.ProcessState, p.out.String())
		case <-deadline.C:
			t.Fatalf("twinops hub (pid %d) did not write %s/hub.json with its pid and plain address within 30 s\n%s",
				cmd.Process.Pid, dataDir, p.out.String())
		case <-tick.C:
			in, err := hub.ReadInfo(dataDir)
			if err == nil && in.PID == cmd.Process.Pid && in.PlainAddr != "" {
				p.info = in
				return p
			}
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *hubProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", p.cmd.Process.Pid, err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("hub pid %d still running 10 s after SIGKILL", p.cmd.Process.Pid)
	}
}

// stop sends SIGTERM (a clean shutdown) and waits for the exit.
func (p *hubProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("hub pid %d did not stop within 30 s of SIGTERM\n%s", p.cmd.Process.Pid, p.out.String())
	}
	if !p.cmd.ProcessState.Success() {
		t.Errorf("hub stopped with %v after SIGTERM, want exit status 0\n%s", p.cmd.ProcessState, p.out.String())
	}
}
