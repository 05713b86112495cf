package durability

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHubStopsCleanlyOnHangup: a closed terminal (a dropped SSH session) sends SIGHUP.
// It used to kill twinops outright ("signal: hangup"): the console lost its unsent edits,
// and the hub skipped its clean shutdown. Now SIGHUP stops it as SIGTERM does. (The
// console shares the same signal handling; it needs a terminal, so it was checked in
// tmux: kill-session with an unsent edit open leaves drafts.json, where it did not.)
func TestHubStopsCleanlyOnHangup(t *testing.T) {
	bin := buildTwinops(t)
	p := startHubProc(t, bin, t.TempDir())
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("hub pid %d still running 30 s after SIGHUP", p.cmd.Process.Pid)
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("hub ended with %v after SIGHUP, want a clean exit\n%s", p.cmd.ProcessState, p.out.String())
	}
}

// TestHubUnderNohupIgnoresHangup: started with SIGHUP ignored (nohup, or a shell's
// trap), the hub keeps running when the terminal closes; handling SIGHUP must not
// re-enable it.
func TestHubUnderNohupIgnoresHangup(t *testing.T) {
	bin := buildTwinops(t)
	shim := filepath.Join(t.TempDir(), "twinops-nohup")
	script := "#!/bin/sh\ntrap '' HUP\nexec " + bin + ` "$@"` + "\n"
	if err := os.WriteFile(shim, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startHubProc(t, shim, t.TempDir())
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		t.Fatalf("the hub, started with SIGHUP ignored, stopped on SIGHUP: %v", p.cmd.ProcessState)
	case <-time.After(2 * time.Second):
	}
	p.stop(t)
}
