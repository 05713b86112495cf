package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/sas"
)

func TestRunHubStartsAndStops(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runHub(ctx, []string{"--data", dir, "--tls-addr", "127.0.0.1:0", "--plain-addr", "127.0.0.1:0", "--tls-san", "hub.example.test", "--log-level", "warn"})
	}()
	// hub.json appears once the listeners are bound.
	var info hub.Info
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if info, err = hub.ReadInfo(dir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("hub.json not written: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("runHub ended early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if info.TLSAddr == "" || info.PlainAddr == "" || info.CAFile != filepath.Join(dir, "pki", "ca.pem") {
		t.Fatalf("hub.json %+v", info)
	}
	fi, err := os.Stat(filepath.Join(dir, "policies.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("policies.json %v %v", fi, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runHub after Ctrl-C: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("runHub did not stop after its context ended")
	}

	// The connection string of a policy, from the data dir alone.
	old := os.Stdout
	r, w, _ := os.Pipe()
	os.Stdout = w
	err = runHub(context.Background(), []string{"connection-string", "--data", dir, "--policy", "registryRead"})
	w.Close()
	os.Stdout = old
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 1024)
	for {
		n, rerr := r.Read(buf)
		b.WriteString(string(buf[:n]))
		if rerr != nil {
			break
		}
	}
	cs, err := sas.ParseConnectionString(strings.TrimSpace(b.String()))
	if err != nil || cs.SharedAccessKeyName != "registryRead" || cs.HostName != "localhost" {
		t.Fatalf("connection string %q: %+v %v", b.String(), cs, err)
	}
	if err := runHub(context.Background(), []string{"connection-string", "--data", dir, "--policy", "nope"}); err == nil || !strings.Contains(err.Error(), "iothubowner") {
		t.Fatalf("unknown policy: %v", err)
	}
	if err := runHub(context.Background(), []string{"--data", t.TempDir(), "--plain-addr", "0.0.0.0:1883"}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback plain listener: %v", err)
	}
}

// TestRunHubRefusesBadDeviceBudget: an out-of-range --device-budget stops the hub before
// it starts, with an error that names the flag's range.
func TestRunHubRefusesBadDeviceBudget(t *testing.T) {
	dir := t.TempDir()
	err := runHub(context.Background(), []string{"--data", dir, "--tls-addr", "", "--device-budget", "-2", "--log-level", "warn"})
	if err == nil || !strings.Contains(err.Error(), "device budget -2 is out of range") {
		t.Fatalf("runHub --device-budget -2 = %v, want the out-of-range error", err)
	}
	if _, err := hub.ReadInfo(dir); err == nil {
		t.Error("hub.json written by a hub that refused its flags")
	}
}
