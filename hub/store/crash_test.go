package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashDirEnv, when set, makes TestKillDurability run as the child writer in that dir.
const crashDirEnv = "TWINOPS_STORE_CRASH_CHILD_DIR"

// crashValue is the value the child writes under key (long enough to span pages).
func crashValue(key string) []byte {
	return bytes.Repeat([]byte(key+";"), 20)
}

// TestKillDurability re-runs this test binary as a child that writes records from many
// goroutines (Apply and ApplyAsync) and prints each key once it is acknowledged, kills it
// with SIGKILL mid-stream, reopens the store and checks that every acknowledged key is
// there with its value.
func TestKillDurability(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read acknowledgements until enough have arrived, then kill the child mid-stream.
	const killAfter = 3000
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	killed := false
	deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for {
		n, rerr := out.Read(chunk)
		buf.Write(chunk[:n])
		if !killed && bytes.Count(buf.Bytes(), []byte("\n")) >= killAfter {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			t.Fatal(rerr)
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("child exited before %d acknowledgements: %v", killAfter, werr)
	}
	lines := strings.Split(buf.String(), "\n")
	lines = lines[:len(lines)-1] // drop the text after the last newline (a partial line)
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, key := range lines {
		if !strings.HasPrefix(key, "ack/") {
			t.Fatalf("child printed %q", key)
		}
		v, err := s.Get([]byte(key))
		if err != nil {
			t.Fatalf("acknowledged key %q lost after SIGKILL: %v", key, err)
		}
		if !bytes.Equal(v, crashValue(key)) {
			t.Fatalf("acknowledged key %q has value %q", key, v)
		}
	}
	stored := 0
	if err := s.Scan([]byte("ack/"), func(_, _ []byte) error { stored++; return nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged keys all present; %d stored (some written but not yet acknowledged when killed)", len(lines), stored)
}

// crashChild writes until killed, printing "key\n" to stdout for each acknowledged write.
func crashChild(dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	ack := func(key string) {
		mu.Lock()
		os.Stdout.WriteString(key + "\n")
		mu.Unlock()
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child write failed:", err)
		os.Exit(3)
	}
	for g := 0; g < 32; g++ {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("ack/%02d/%08d", g, i)
				if g%2 == 0 {
					if err := s.Apply(context.Background(), Record{Key: []byte(key), Value: crashValue(key)}); err != nil {
						fail(err)
					}
					ack(key)
					continue
				}
				done := make(chan struct{})
				s.ApplyAsync([]Record{{Key: []byte(key), Value: crashValue(key)}}, func(err error) {
					if err != nil {
						fail(err)
					}
					ack(key)
					close(done)
				})
				<-done
			}
		}()
	}
	time.Sleep(2 * time.Minute) // the parent kills us long before this
	os.Exit(4)
}
