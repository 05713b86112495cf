package main

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/twinclient"
	"github.com/twinops/twinops/ui/common"
)

// A console started while its hub is down used to stay "not connected" for good after
// the first failed dial; with retry set it reports each failure and connects once the
// hub answers.
func TestBackendRedialsUntilTheHubAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, so := startTestHub(t, log)
	dials := 0
	be := newBackend(ctx, log)
	be.retry = time.Millisecond
	go be.start(func() (*twinclient.Service, func(), error) {
		dials++
		if dials <= 2 { // the hub is "down" for the first two dials
			return nil, nil, errors.New("dial tcp: connection refused")
		}
		svc, err := twinclient.DialService(ctx, so)
		return svc, func() {}, err
	})
	defer be.close()

	var states []string
	sawFailure := false
	for ctx.Err() == nil {
		b, err := be.Next(ctx)
		if err != nil {
			t.Fatalf("Next after states %v: %v", states, err)
		}
		states = append(states, b.Status.State)
		if b.Status.State == "failed" {
			if !strings.Contains(b.Status.LastError, "connection refused") || !strings.Contains(b.Status.LastError, "trying again") {
				t.Fatalf("failure reported as %q, want the error and that it is tried again", b.Status.LastError)
			}
			sawFailure = true
		}
		if b.Status.State == common.StateSynced {
			break
		}
	}
	if !sawFailure {
		t.Fatalf("states %v: no failed dial reported", states)
	}
	if states[len(states)-1] != common.StateSynced {
		t.Fatalf("states %v: never synced after the hub answered", states)
	}
}

// startTestHub starts a hub on 127.0.0.1 port 0 (closed when the test ends) and returns
// it with the options that reach it as iothubowner.
func startTestHub(t *testing.T, log *slog.Logger) (*hub.Hub, twinclient.ServiceOptions) {
	t.Helper()
	h, err := hub.New(hub.Config{DataDir: t.TempDir(), Hostname: "localhost", TLSAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	cs, err := h.ServiceConnectionString("iothubowner")
	if err != nil {
		t.Fatal(err)
	}
	return h, twinclient.ServiceOptions{URL: "mqtts://" + h.TLSAddr().String(), ConnectionString: cs, CAFile: h.CAFile(), Logger: log}
}

// TestConsoleRefusesBadConnectionStrings: mistakes that no redial can fix end the
// console at once with the reason, before the screen opens.
func TestConsoleRefusesBadConnectionStrings(t *testing.T) {
	cases := map[string]struct{ cs, want string }{
		"no key":        {"HostName=localhost;SharedAccessKeyName=iothubowner", "SharedAccessKey"},
		"device string": {"HostName=localhost;DeviceId=d1;SharedAccessKey=" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")), "service connection string"},
		"not one":       {"hello", "connection string"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("HOME", t.TempDir())
			t.Setenv("XDG_CACHE_HOME", t.TempDir())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := runConsole(ctx, []string{"--hub", "mqtt://127.0.0.1:1", "--connection-string", tc.cs})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("runConsole with %q: %v, want an error naming %q", tc.cs, err, tc.want)
			}
		})
	}
}
