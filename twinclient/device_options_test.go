package twinclient

import (
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/sas"
)

func TestDeviceEndpoint(t *testing.T) {
	const key = "c2VjcmV0LWtleS1mb3ItdGVzdHM="
	tests := map[string]struct {
		conn, url string
		wantAddr  string
		wantTLS   bool
		wantErr   string
	}{
		"default port":       {conn: "HostName=hub.example.com;DeviceId=d1;SharedAccessKey=" + key, wantAddr: "hub.example.com:8883", wantTLS: true},
		"port in host name":  {conn: "HostName=localhost:8884;DeviceId=d1;SharedAccessKey=" + key, wantAddr: "localhost:8884", wantTLS: true},
		"gateway honoured":   {conn: "HostName=hub.example.com;DeviceId=d1;SharedAccessKey=" + key + ";GatewayHostName=edge.local", wantAddr: "edge.local:8883", wantTLS: true},
		"explicit mqtts":     {conn: "HostName=localhost;DeviceId=d1;SharedAccessKey=" + key, url: "mqtts://127.0.0.1:40000", wantAddr: "127.0.0.1:40000", wantTLS: true},
		"plain loopback":     {conn: "HostName=localhost;DeviceId=d1;SharedAccessKey=" + key, url: "mqtt://127.0.0.1:1883", wantAddr: "127.0.0.1:1883"},
		"plain localhost":    {conn: "HostName=localhost;DeviceId=d1;SharedAccessKey=" + key, url: "mqtt://localhost", wantAddr: "localhost:1883"},
		"plain ipv6 loop":    {conn: "HostName=localhost;DeviceId=d1;SharedAccessKey=" + key, url: "mqtt://[::1]:1883", wantAddr: "[::1]:1883"},
		"plain remote":       {conn: "HostName=localhost;DeviceId=d1;SharedAccessKey=" + key, url: "mqtt://10.0.0.5:1883", wantErr: "loopback only"},
		"unsupported scheme": {conn: "HostName=localhost;DeviceId=d1;SharedAccessKey=" + key, url: "wss://localhost", wantErr: "not supported"},
		"no host":            {conn: "HostName=localhost;DeviceId=d1;SharedAccessKey=" + key, url: "mqtts://", wantErr: "is not mqtts://"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cs, err := sas.ParseConnectionString(tc.conn)
			if err != nil {
				t.Fatal(err)
			}
			ep, err := deviceEndpoint(DeviceOptions{URL: tc.url}, cs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.addr != tc.wantAddr || (ep.tls != nil) != tc.wantTLS {
				t.Fatalf("endpoint %s tls=%v, want %s tls=%v", ep.addr, ep.tls != nil, tc.wantAddr, tc.wantTLS)
			}
		})
	}
}

func TestNewDeviceRejects(t *testing.T) {
	const key = "c2VjcmV0LWtleS1mb3ItdGVzdHM="
	tests := map[string]struct {
		opts    DeviceOptions
		wantErr string
	}{
		"service string":    {opts: DeviceOptions{ConnectionString: "HostName=h;SharedAccessKeyName=service;SharedAccessKey=" + key}, wantErr: "no DeviceId"},
		"garbage":           {opts: DeviceOptions{ConnectionString: "nonsense"}, wantErr: "connection string"},
		"short lifetime":    {opts: DeviceOptions{ConnectionString: "HostName=h;DeviceId=d;SharedAccessKey=" + key, TokenLifetime: time.Second}, wantErr: "too short"},
		"renew too early":   {opts: DeviceOptions{ConnectionString: "HostName=h;DeviceId=d;SharedAccessKey=" + key, TokenLifetime: time.Minute, RenewBefore: time.Hour}, wantErr: "less than TokenLifetime"},
		"missing CA file":   {opts: DeviceOptions{ConnectionString: "HostName=h;DeviceId=d;SharedAccessKey=" + key, CAFile: "/nonexistent/ca.pem"}, wantErr: "reading the hub CA"},
		"CA file not a PEM": {opts: DeviceOptions{ConnectionString: "HostName=h;DeviceId=d;SharedAccessKey=" + key, CAFile: "device_options_test.go"}, wantErr: "no PEM certificate"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := newDevice(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("newDevice error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestTokenExpiryRoundsUp(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 300_000_000, time.UTC)
	got := devTokenExpiry(now, 2*time.Second)
	if want := time.Date(2026, 11, 27, 10, 0, 3, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("tokenExpiry = %v, want %v", got, want)
	}
	if got := devTokenExpiry(now.Truncate(time.Second), time.Hour); !got.Equal(now.Truncate(time.Second).Add(time.Hour)) {
		t.Fatalf("whole-second expiry changed: %v", got)
	}
}
