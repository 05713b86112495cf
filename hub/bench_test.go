package hub

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Benchmarks of the device side (figures in docs/benchmarks/hub.md). Run with
//
//	go test -run '^$' -bench . -benchtime 1x ./hub/
//
// Each runs a fixed workload once and reports its own metrics.

// benchSeconds is the load duration (HUB_BENCH_SECONDS, default 5).
func benchSeconds() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("HUB_BENCH_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 5 * time.Second
}

// createDevices creates n devices named prefix-0..n-1 concurrently.
func createDevices(b testing.TB, h *Hub, prefix string, n int) []Identity {
	out := make([]Identity, n)
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 32 {
				x, err := h.CreateDevice(context.Background(), Identity{DeviceID: prefix + "-" + strconv.Itoa(i)})
				if err != nil {
					failed.Store(err)
					return
				}
				out[i] = x
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return out
}

// dialRawDevice connects x over the plain listener and subscribes to the twin topics.
func dialRawDevice(b testing.TB, h *Hub, x Identity) *rawClient {
	tok := deviceToken(b, x.DeviceID, x.Authentication.SymmetricKey.PrimaryKey, time.Now().Add(time.Hour))
	rc, err := dialRaw(h.PlainAddr().String(), x.DeviceID, "localhost/"+x.DeviceID+"/?api-version=2021-04-12", tok)
	if err != nil {
		b.Fatalf("connect %s: %v", x.DeviceID, err)
	}
	for _, f := range []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#"} {
		if err := rc.subscribe(f); err != nil {
			b.Fatalf("subscribe %s: %v", x.DeviceID, err)
		}
	}
	return rc
}

// BenchmarkReportedPatches: 1,000 connected devices send reported patches; a patch counts
// when its 204 (sent after fsync) arrives. Meanwhile the back end patches desired
// properties of random devices at desiredRate/s through the Go API, and the time from the
// PatchTwin call to the device receiving the notification is recorded.
//
// window=8: every device keeps 8 patches in flight (closed loop): the throughput ceiling,
// with the hub saturated. rate=N/s: the devices together offer N patches/s, evenly paced
// (open loop), as a fleet does: the desired latency under that load.
func BenchmarkReportedPatches(b *testing.B) {
	b.Run("window=8", func(b *testing.B) { benchReportedPatches(b, 8, 0) })
	for _, r := range []int{5000, 20000} {
		b.Run("rate="+strconv.Itoa(r)+"/s", func(b *testing.B) { benchReportedPatches(b, 0, r) })
	}
}

func benchReportedPatches(b *testing.B, window, rate int) {
	const (
		devices     = 1000
		desiredRate = 200
	)
	h := startHub(b, b.TempDir())
	xs := createDevices(b, h, "bench", devices)
	clients := make([]*rawClient, devices)
	for i, x := range xs {
		clients[i] = dialRawDevice(b, h, x)
	}
	var acked, errorsSeen atomic.Int64
	var latMu sync.Mutex
	var lat, hubLat []time.Duration // notification received by the device; PatchTwin returned
	sent := sync.Map{}              // desired nonce -> time.Time
	payload := func(n int) []byte {
		return fmt.Appendf(nil, `{"telemetry":{"temp":%d.5,"hum":40},"firmware":{"version":"1.2.3","status":"ok"},"n":%d}`, n%40, n)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, rc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			send := func() {
				n++
				rc.publish("$iothub/twin/PATCH/properties/reported/?$rid="+strconv.Itoa(n), payload(i+n))
			}
			for range window {
				send()
			}
			rc.flush()
			if rate > 0 { // a pacer goroutine owns the writer; this one only reads
				every := time.Duration(devices) * time.Second / time.Duration(rate)
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(rand.N(every))
					tick := time.NewTicker(every)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							send()
							if rc.flush() != nil {
								return
							}
						}
					}
				}()
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
						if t0, ok := sent.LoadAndDelete(string(body[j+8 : j+8+k])); ok {
							d := time.Since(t0.(time.Time))
							latMu.Lock()
							lat = append(lat, d)
							latMu.Unlock()
						}
					}
					continue
				default:
					errorsSeen.Add(1)
				}
				select {
				case <-stop:
					continue // drain answers, send nothing more
				default:
				}
				if rate == 0 {
					send()
					rc.flush()
				}
			}
		}()
	}
	go func() { // desired changes at desiredRate/s
		tick := time.NewTicker(time.Second / desiredRate)
		defer tick.Stop()
		for nonce := 0; ; nonce++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			id := xs[rand.IntN(devices)].DeviceID
			key := strconv.Itoa(nonce)
			sent.Store(key, time.Now())
			go func() {
				t0 := time.Now()
				_, err := h.PatchTwin(context.Background(), id, TwinPatch{Desired: map[string]any{"nonce": float64(nonce), "interval": 5.0}, HasDesired: true}, "*")
				if err == nil {
					latMu.Lock()
					hubLat = append(hubLat, time.Since(t0))
					latMu.Unlock()
				}
			}()
		}
	}()
	st0 := h.st.st.Stats()
	runtime.GC()
	b.ResetTimer()
	var elapsed, cpu time.Duration
	var n int64
	for b.Loop() {
		time.Sleep(time.Second) // warm-up
		a0, t0, c0 := acked.Load(), time.Now(), cpuTime()
		time.Sleep(benchSeconds())
		n, elapsed, cpu = acked.Load()-a0, time.Since(t0), cpuTime()-c0
	}
	b.StopTimer()
	close(stop)
	st1 := h.st.st.Stats()
	for _, rc := range clients {
		rc.close()
	}
	wg.Wait()
	latMu.Lock()
	slices.Sort(lat)
	slices.Sort(hubLat)
	latMu.Unlock()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "patches/s")
	b.ReportMetric(float64(n)/cpu.Seconds(), "patches/cpu-s")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds())/1000, "desired-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "desired-p99-ms")
		b.ReportMetric(float64(len(lat)), "desired-samples")
	}
	if len(hubLat) > 0 {
		b.ReportMetric(float64(hubLat[len(hubLat)*99/100].Microseconds())/1000, "patchtwin-p99-ms")
	}
	if c := st1.Commits - st0.Commits; c > 0 {
		b.ReportMetric(float64(st1.Writes-st0.Writes)/float64(c), "writes/fsync")
	}
	if e := errorsSeen.Load(); e > 0 {
		b.Errorf("%d error answers during the run", e)
	}
}

// BenchmarkIdleDeviceMemory: heap and stacks of the process per idle connected device
// (the benchmark's own client side is a socket and a small buffer per device, no
// goroutine).
func BenchmarkIdleDeviceMemory(b *testing.B) {
	const devices = 2000
	h := startHub(b, b.TempDir())
	xs := createDevices(b, h, "idle", devices)
	var clients []*rawClient
	for b.Loop() {
		before, g0 := memInUse(), runtime.NumGoroutine()
		for _, x := range xs {
			clients = append(clients, dialRawDevice(b, h, x))
		}
		after := memInUse()
		if path := os.Getenv("HUB_BENCH_HEAPPROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/devices/1024, "KB/device")
		b.ReportMetric(float64(after.stack-before.stack)/devices/1024, "stack-KB/device")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/devices, "goroutines/device")
	}
	for _, rc := range clients {
		rc.close()
	}
}

type memUse struct{ heap, stack uint64 }

func memInUse() memUse {
	for range 6 { // each GC halves the stacks that use less than a quarter of theirs
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memUse{m.HeapInuse, m.StackInuse}
}

// cpuTime is the process's user+system CPU time so far (figures on a shared machine are
// more stable in CPU time than in wall time).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
