package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Target is what a run loads: a broker for the relay baseline, or a twin hub.
type Target interface {
	// Name says what is loaded, for reports ("broker 127.0.0.1:1883", "hub pid 42").
	Name() string
	// Prepare makes n device identities named prefix-0 … prefix-(n-1) usable
	// (creating them on a hub; nothing on a plain broker).
	Prepare(ctx context.Context, prefix string, n int) error
	// Device returns how device i connects. Callbacks are left for the caller to set.
	Device(i int) ConnectOptions
	// Service is the back-end side (desired patches, reported events, queries), nil if
	// the target has none.
	Service() Service
	// Sample reads the loaded process's cumulative CPU time and memory now.
	Sample() (Sample, bool)
	// Close releases what the target started.
	Close() error
}

// Service is the back end's view of a hub that the fan-out and query scenarios use.
type Service interface {
	// PatchDesired applies a desired merge patch and returns the new desired $version once
	// it is durable.
	PatchDesired(ctx context.Context, id string, patch map[string]any) (int64, error)
	// WatchReported calls fn for every reported change, on a goroutine that must not be
	// blocked long.
	WatchReported(fn func(id string, patch map[string]any)) (cancel func(), err error)
	// Query runs an IoT Hub query to its last page and returns the row count.
	Query(ctx context.Context, q string) (int, error)
}

// Sample is a point reading of a process: cumulative CPU time and memory.
type Sample struct {
	What       string
	CPU        time.Duration
	RSS        int64
	Heap       int64
	Goroutines int
	At         time.Time
}

// Stats turns two samples into the figures of the interval between them.
func Stats(a, b Sample) *ProcStats {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return nil
	}
	return &ProcStats{
		What:       b.What,
		CPUCores:   float64(b.CPU-a.CPU) / float64(wall),
		RSSBytes:   b.RSS,
		HeapBytes:  b.Heap,
		Goroutines: b.Goroutines,
	}
}

// SampleSelf reads this process (an embedded hub shares it with the load generator).
func SampleSelf() Sample {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Sample{What: "whole bench process (embedded hub + load)", CPU: cpu,
		Heap: int64(ms.HeapInuse), Goroutines: runtime.NumGoroutine(), At: time.Now()}
	if rss, err := procRSS(os.Getpid()); err == nil {
		s.RSS = rss
	}
	return s
}

// SamplePID reads another process from /proc.
func SamplePID(pid int) (Sample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Sample{}, err
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Sample{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return Sample{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, s)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	rss, err := procRSS(pid)
	if err != nil {
		return Sample{}, err
	}
	return Sample{What: fmt.Sprintf("hub process (pid %d)", pid),
		CPU: time.Duration(ut+st) * time.Second / ticks, RSS: rss, At: time.Now()}, nil
}

func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// BrokerTarget is any MQTT broker, for the relay baseline: devices connect with client ids
// prefix-i and the optional username and password.
type BrokerTarget struct {
	Addr               string
	Username, Password string
	PID                int // broker's pid for CPU and memory, 0 if unknown
	prefix             string
}

// Name implements Target.
func (b *BrokerTarget) Name() string { return "broker " + b.Addr }

// Prepare implements Target.
func (b *BrokerTarget) Prepare(ctx context.Context, prefix string, n int) error {
	b.prefix = prefix
	return nil
}

// Device implements Target.
func (b *BrokerTarget) Device(i int) ConnectOptions {
	return ConnectOptions{Addr: b.Addr, ClientID: fmt.Sprintf("%s-%d", b.prefix, i),
		Username: b.Username, Password: b.Password, CleanSession: true}
}

// Service implements Target: a plain broker has none.
func (b *BrokerTarget) Service() Service { return nil }

// Sample implements Target.
func (b *BrokerTarget) Sample() (Sample, bool) {
	if b.PID == 0 {
		return Sample{}, false
	}
	s, err := SamplePID(b.PID)
	s.What = fmt.Sprintf("broker process (pid %d)", b.PID)
	return s, err == nil
}

// Close implements Target.
func (b *BrokerTarget) Close() error { return nil }

// DeviceCredentials turns a device connection string into CONNECT fields the way the
// Azure SDKs do: client id = device id, username {host}/{id}/?api-version=2021-04-12,
// password a SAS token over {host}/devices/{id} valid for ttl.
func DeviceCredentials(connStr string, ttl time.Duration) (clientID, username, password string, err error) {
	kv := map[string]string{}
	for _, part := range strings.Split(connStr, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok {
			kv[k] = v
		}
	}
	host, id, key := kv["HostName"], kv["DeviceId"], kv["SharedAccessKey"]
	if host == "" || id == "" || key == "" {
		return "", "", "", fmt.Errorf("device connection string needs HostName, DeviceId and SharedAccessKey: %q", connStr)
	}
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return "", "", "", fmt.Errorf("SharedAccessKey of %q is not base64: %w", id, err)
	}
	sr := url.QueryEscape(host + "/devices/" + id)
	se := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10)
	m := hmac.New(sha256.New, k)
	m.Write([]byte(sr + "\n" + se))
	sig := url.QueryEscape(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	password = "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se
	return id, host + "/" + id + "/?api-version=2021-04-12", password, nil
}

// credentialsFor turns the hub's connection strings into CONNECT fields for addr, so that
// a bad one is an error at Prepare rather than at connect time.
func credentialsFor(conns []string, addr string, tlsConf *tls.Config) ([]ConnectOptions, error) {
	out := make([]ConnectOptions, len(conns))
	for i, cs := range conns {
		id, user, pass, err := DeviceCredentials(cs, 24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("device %d: %w", i, err)
		}
		out[i] = ConnectOptions{Addr: addr, TLS: tlsConf, ClientID: id, Username: user, Password: pass}
	}
	return out, nil
}
