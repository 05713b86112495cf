package hub

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The load generator of BenchmarkReportedPatchesExternal runs in a child process (this
// test binary again, selected by HUB_BENCH_CLIENT), so that the hub process's CPU time is
// the hub's alone and the hub's goroutines do not queue behind the clients'.

type extClientConfig struct {
	Addr    string     `json:"addr"`
	Devices []Identity `json:"devices"`
	Window  int        `json:"window"`
	Rate    int        `json:"rate,omitempty"` // open loop: patches/s offered by the fleet (Window ignored)
	Seconds float64    `json:"seconds"`
	CAFile  string     `json:"caFile,omitempty"` // dial TLS, trusting this CA
	// TLSCurves are the client's key exchange groups (nil: Go's default, whose ClientHello
	// carries a 1.2 KB post-quantum key share); the Azure Node SDK on Node 20 (OpenSSL 3.0)
	// sends an X25519 share only (a 344-byte ClientHello).
	TLSCurves []tls.CurveID `json:"tlsCurves,omitempty"`
	// ReportBytes: before READY every device sends one reported patch of about this
	// size and waits for its 204 (a device reporting its state at start-up).
	ReportBytes int `json:"reportBytes,omitempty"`
}

type extClientResult struct {
	Acked    int64            `json:"acked"`
	Errors   int64            `json:"errors"`
	Seconds  float64          `json:"seconds"`
	Received map[string]int64 `json:"received"` // desired nonce -> UnixNano when read
}

// TestBenchClientProcess is the child process's entry point; in a normal test run it
// returns at once.
func TestBenchClientProcess(t *testing.T) {
	path := os.Getenv("HUB_BENCH_CLIENT")
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg extClientConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	res := runExtClients(t, cfg)
	out, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", out)
}

func runExtClients(t *testing.T, cfg extClientConfig) extClientResult {
	clients := make([]*rawClient, len(cfg.Devices))
	var tc *tls.Config
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tc = &tls.Config{RootCAs: pool, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(64),
			CurvePreferences: cfg.TLSCurves}
	}
	for i, x := range cfg.Devices {
		tok := deviceToken(t, x.DeviceID, x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour))
		rc, err := dialRawTLS(cfg.Addr, tc, x.DeviceID, "localhost/"+x.DeviceID+"/?api-version=2021-04-12", tok)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#"} {
			if err := rc.subscribe(f); err != nil {
				t.Fatal(err)
			}
		}
		clients[i] = rc
	}
	if cfg.ReportBytes > 0 {
		reportOnce(t, clients, cfg.ReportBytes)
	}
	fmt.Println("READY")
	if cfg.Window == 0 && cfg.Rate == 0 { // idle: hold the connections until the parent closes stdin
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		for _, rc := range clients {
			rc.close()
		}
		return extClientResult{}
	}
	var acked, errs atomic.Int64
	var mu sync.Mutex
	received := map[string]int64{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	pace := make([]chan func(), 4) // open loop: each pacer writes for a quarter of the devices
	for k := range pace {
		pace[k] = make(chan func(), len(clients))
	}
	for i, rc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			send := func() {
				n++
				rc.publish("$iothub/twin/PATCH/properties/reported/?$rid="+strconv.Itoa(n),
					fmt.Appendf(nil, `{"telemetry":{"temp":%d.5,"hum":40},"firmware":{"version":"1.2.3","status":"ok"},"n":%d}`, (i+n)%40, n))
			}
			if cfg.Rate > 0 {
				pace[i%len(pace)] <- func() { send(); rc.flush() }
			} else {
				for range cfg.Window {
					send()
				}
				rc.flush()
			}
			for {
				topic, body, err := rc.readPublish()
				if err != nil {
					return
				}
				switch {
				case strings.HasPrefix(topic, "$iothub/twin/res/204/"):
					acked.Add(1)
				case strings.HasPrefix(topic, "$iothub/twin/PATCH/properties/desired/"):
					if j := bytes.Index(body, []byte(`"nonce":`)); j >= 0 {
						k := bytes.IndexByte(body[j+8:], ',')
						mu.Lock()
						received[string(body[j+8:j+8+k])] = time.Now().UnixNano()
						mu.Unlock()
					}
					continue
				default:
					errs.Add(1)
				}
				select {
				case <-stop:
					continue
				default:
				}
				if cfg.Rate == 0 {
					send()
					rc.flush()
				}
			}
		}()
	}
	if cfg.Rate > 0 {
		startPacers(pace, len(clients), cfg.Rate, stop, &wg)
	}
	time.Sleep(time.Second) // warm-up
	fmt.Println("START")
	a0, t0 := acked.Load(), time.Now()
	time.Sleep(time.Duration(cfg.Seconds * float64(time.Second)))
	res := extClientResult{Acked: acked.Load() - a0, Seconds: time.Since(t0).Seconds()}
	fmt.Println("END")
	close(stop)
	for _, rc := range clients {
		rc.close()
	}
	wg.Wait()
	res.Errors = errs.Load()
	mu.Lock()
	res.Received = received
	mu.Unlock()
	return res
}

// startPacers runs the open-loop senders: each takes its devices' send functions from its
// channel (n devices in all), then sends rate/len(pace) patches per second round-robin
// over them (each send writes and flushes one patch) until stop.
func startPacers(pace []chan func(), n, rate int, stop <-chan struct{}, wg *sync.WaitGroup) {
	for k, ch := range pace {
		var sends []func()
		for range (n - k + len(pace) - 1) / len(pace) {
			sends = append(sends, <-ch)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			perSecond := float64(rate) / float64(len(pace))
			t0, sent := time.Now(), 0
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				for due := int(time.Since(t0).Seconds() * perSecond); sent < due; sent++ {
					sends[sent%len(sends)]()
				}
			}
		}()
	}
}

// BenchmarkReportedPatchesExternal: 1,000 devices in a child process send reported
// patches; 200 desired changes/s go through PatchTwin meanwhile, and desired-p99-ms is
// from the call to the device reading the notification. window=8: every device keeps 8
// patches in flight (closed loop: the throughput ceiling, the hub saturated).
// rate=N/s: the fleet offers N patches/s evenly paced (open loop): the notification
// latency at that load (50,000/s is the goal's). patches/hub-cpu-s is the hub process's CPU
// alone.
func BenchmarkReportedPatchesExternal(b *testing.B) {
	b.Run("window=8", func(b *testing.B) { benchReportedExternal(b, 8, 0) })
	for _, r := range []int{10000, 30000, 50000} {
		b.Run("rate="+strconv.Itoa(r)+"/s", func(b *testing.B) { benchReportedExternal(b, 0, r) })
	}
}

func benchReportedExternal(b *testing.B, window, rate int) {
	const devices, desiredRate = 1000, 200
	h := startHub(b, b.TempDir())
	xs := createDevices(b, h, "ext", devices)
	cfg := extClientConfig{Addr: h.PlainAddr().String(), Devices: xs, Window: window, Rate: rate, Seconds: benchSeconds().Seconds()}
	cfgPath := filepath.Join(b.TempDir(), "client.json")
	cb, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, cb, 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBenchClientProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "HUB_BENCH_CLIENT="+cfgPath)
		cmd.Stderr = os.Stderr
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 1<<20), 64<<20)
		for lines.Scan() && lines.Text() != "READY" {
		}
		stop := make(chan struct{})
		var sentMu sync.Mutex
		sent := map[string]time.Time{}
		var hubLat []time.Duration
		var dwg sync.WaitGroup
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			tick := time.NewTicker(time.Second / desiredRate)
			defer tick.Stop()
			for nonce := 0; ; nonce++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				id := xs[rand.IntN(devices)].DeviceID
				t0 := time.Now()
				sentMu.Lock()
				sent[strconv.Itoa(nonce)] = t0
				sentMu.Unlock()
				dwg.Add(1)
				go func() {
					defer dwg.Done()
					if _, err := h.PatchTwin(context.Background(), id, TwinPatch{Desired: map[string]any{"nonce": float64(nonce), "interval": 5.0}, HasDesired: true}, "*"); err == nil {
						sentMu.Lock()
						hubLat = append(hubLat, time.Since(t0))
						sentMu.Unlock()
					}
				}()
			}
		}()
		var res extClientResult
		var c0, cpu time.Duration
		for lines.Scan() {
			line := lines.Text()
			if line == "START" {
				c0 = cpuTime()
			} else if line == "END" {
				cpu = cpuTime() - c0
			} else if r, ok := strings.CutPrefix(line, "RESULT "); ok {
				if err := json.Unmarshal([]byte(r), &res); err != nil {
					b.Fatal(err)
				}
			}
		}
		close(stop)
		dwg.Wait()
		if err := cmd.Wait(); err != nil {
			b.Fatalf("client process: %v", err)
		}
		var lat []time.Duration
		for k, ns := range res.Received {
			if t0, ok := sent[k]; ok {
				lat = append(lat, time.Unix(0, ns).Sub(t0))
			}
		}
		slices.Sort(lat)
		slices.Sort(hubLat)
		b.ReportMetric(float64(res.Acked)/res.Seconds, "patches/s")
		b.ReportMetric(float64(res.Acked)/cpu.Seconds(), "patches/hub-cpu-s")
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "desired-p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "desired-p99-ms")
		}
		if len(hubLat) > 0 {
			b.ReportMetric(float64(hubLat[len(hubLat)*99/100].Microseconds())/1000, "patchtwin-p99-ms")
		}
		if res.Errors > 0 {
			b.Errorf("%d error answers", res.Errors)
		}
	}
}

// reportOnce has every client send one reported patch of about size bytes, then waits
// for all the answers.
func reportOnce(t *testing.T, clients []*rawClient, size int) {
	body := fmt.Appendf(nil, `{"startup":{"blob":"%s"}}`, strings.Repeat("x", size))
	for _, rc := range clients {
		rc.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", body)
		if err := rc.flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, rc := range clients {
		if topic, _, err := rc.readPublish(); err != nil || !strings.HasPrefix(topic, "$iothub/twin/res/204/") {
			t.Fatalf("reported patch answered %q, %v", topic, err)
		}
	}
}

// BenchmarkIdleDeviceMemoryExternal: 2,000 idle devices connected from a child process;
// the hub process's heap and stacks per device (no client memory in the figure). plain:
// plain TCP; tls: TLS from a client like the Azure Node SDK (X25519 key share only);
// tls-pq: TLS from Go's default client (post-quantum key share, as OpenSSL 3.5 sends too);
// +4KB: every device has reported a 4 KB patch once before going idle.
func BenchmarkIdleDeviceMemoryExternal(b *testing.B) {
	sdkCurves := []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}
	for _, c := range []struct {
		name   string
		tls    bool
		curves []tls.CurveID
		report int
	}{
		{"plain", false, nil, 0},
		{"tls", true, sdkCurves, 0},
		{"tls-pq", true, nil, 0},
		{"plain+4KB", false, nil, 4096},
		{"tls+4KB", true, sdkCurves, 4096},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchIdleExternal(b, extClientConfig{TLSCurves: c.curves, ReportBytes: c.report}, c.tls)
		})
	}
}

func benchIdleExternal(b *testing.B, cfg extClientConfig, tlsOn bool) {
	const devices = 2000
	h := startHub(b, b.TempDir())
	xs := createDevices(b, h, "idle", devices)
	cfgPath := filepath.Join(b.TempDir(), "client.json")
	cfg.Addr, cfg.Devices = h.PlainAddr().String(), xs
	if tlsOn {
		cfg.Addr, cfg.CAFile = h.TLSAddr().String(), h.CAFile()
	}
	cb, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, cb, 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		before := memInUse()
		cmd := exec.Command(os.Args[0], "-test.run=^TestBenchClientProcess$")
		cmd.Env = append(os.Environ(), "HUB_BENCH_CLIENT="+cfgPath)
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		for lines.Scan() && lines.Text() != "READY" {
		}
		after := memInUse()
		if path := os.Getenv("HUB_BENCH_HEAPPROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		stdin.Close()
		for lines.Scan() {
		}
		if err := cmd.Wait(); err != nil {
			b.Fatalf("client process: %v", err)
		}
		b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/devices/1024, "KB/device")
		b.ReportMetric(float64(after.stack-before.stack)/devices/1024, "stack-KB/device")
	}
}
