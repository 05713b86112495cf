package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
)

// simLogBuffer is a bytes.Buffer safe for a logger and a reader at once.
type simLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *simLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *simLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSimCommandAgainstLocalHub(t *testing.T) {
	for name, cfg := range map[string]hub.Config{
		"tls":            {TLSAddr: "127.0.0.1:0"},
		"plain loopback": {PlainAddr: "127.0.0.1:0"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := cliHub(t, cfg)
			logs := &simLogBuffer{}
			f, err := parseSimFlags([]string{"--devices", "5", "--seed", "3", "--speed", "50", "--interval", "20ms", "--prefix", "cmd-"}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			cio := cliIO{out: io.Discard, errOut: logs, env: func(k string) string {
				if k == "TWINOPS_DATA" {
					return dir
				}
				return ""
			}}
			f.opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- simMain(ctx, f, cio, f.opts.Logger) }()
			deadline := time.After(30 * time.Second)
			for !strings.Contains(logs.String(), "5/5 connected") {
				select {
				case err := <-done:
					t.Fatalf("sim ended early: %v\n%s", err, logs.String())
				case <-deadline:
					cancel()
					t.Fatalf("no summary with 5/5 connected within 30s:\n%s", logs.String())
				case <-time.After(20 * time.Millisecond): // the summary is logged every 20ms
				}
			}
			var tw struct {
				Tags       map[string]any `json:"tags"`
				Properties struct {
					Reported map[string]any `json:"reported"`
				} `json:"properties"`
			}
			mustRun(t, dir, &tw, "twin", "get", "cmd-0001")
			if tw.Tags["ring"] == nil || tw.Properties.Reported["firmware"] == nil {
				t.Fatalf("cmd-0001 has tags %v and reported %v; want the sim's tags and firmware", tw.Tags, tw.Properties.Reported)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("sim returned %v after Ctrl-C", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("sim did not stop within 30s of its context ending")
			}
			if !strings.Contains(logs.String(), "sim: stopping") {
				t.Fatalf("no closing summary:\n%s", logs.String())
			}
		})
	}
}

func TestSimCommandRejectsBadFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		wantErr string
	}{
		"help":         {args: []string{"-h"}, wantErr: "usage: twinops sim --devices N"},
		"no devices":   {args: nil, wantErr: "--devices N"},
		"zero devices": {args: []string{"--devices", "0"}, wantErr: "--devices N"},
		"zero speed":   {args: []string{"--devices", "3", "--speed", "0"}, wantErr: "--speed"},
		"bad interval": {args: []string{"--devices", "3", "--interval", "-1s"}, wantErr: "--interval"},
		"unknown flag": {args: []string{"--devices", "3", "--bogus"}, wantErr: "bogus"},
		"not a number": {args: []string{"--devices", "many"}, wantErr: "invalid value"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var errOut bytes.Buffer
			_, err := parseSimFlags(tc.args, &errOut)
			if err == nil {
				t.Fatal("bad flags accepted")
			}
			if !strings.Contains(err.Error()+errOut.String(), tc.wantErr) {
				t.Fatalf("error %q (stderr %q) does not mention %q", err, errOut.String(), tc.wantErr)
			}
		})
	}
}
