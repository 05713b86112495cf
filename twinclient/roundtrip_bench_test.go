package twinclient

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// echoDevicesURL, when set in the environment, makes this test binary an echo-device
// process (see runEchoDevices) instead of running tests.
const echoDevicesURL = "TWINOPS_ECHO_DEVICES_URL"

func TestMain(m *testing.M) {
	if url := os.Getenv(echoDevicesURL); url != "" {
		if err := runEchoDevices(url, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "echo devices:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dialEchoDevice connects the device of connection string cs to url; it answers every
// desired "probe" change with the same value as a reported property.
func dialEchoDevice(ctx context.Context, url, cs string) (*Device, error) {
	var dev *Device
	dialed := make(chan struct{})
	dev, err := DialDevice(ctx, DeviceOptions{ConnectionString: cs, URL: url,
		OnDesired: func(u DesiredUpdate) {
			if v, ok := u.Desired["probe"]; ok && !u.Full {
				go func() {
					<-dialed
					_, _ = dev.PatchReported(ctx, map[string]any{"probe": v})
				}()
			}
		}})
	close(dialed)
	return dev, err
}

// runEchoDevices is the child process of BenchmarkDesiredRoundTripApart: it reads one
// device connection string per line from in until an empty line, connects each as an
// echo device to url, writes "ready" to out, and closes them all when in ends (the
// parent closed the pipe or died).
func runEchoDevices(url string, in io.Reader, out io.Writer) error {
	ctx := context.Background()
	sc := bufio.NewScanner(in)
	var devs []*Device
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	for sc.Scan() && sc.Text() != "" {
		d, err := dialEchoDevice(ctx, url, sc.Text())
		if err != nil {
			return err
		}
		devs = append(devs, d)
	}
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	for sc.Scan() {
	}
	return nil
}

// startEchoProcess runs n echo devices of sh's hub in a child process (this test binary)
// and returns once all are connected; they are stopped when the benchmark ends.
func startEchoProcess(b *testing.B, sh *svcHub, n int) {
	ctx := context.Background()
	var css strings.Builder
	for i := range n {
		cs, err := sh.h.DeviceConnectionString(ctx, fmt.Sprintf("dev-%06d", i))
		if err != nil {
			b.Fatal(err)
		}
		css.WriteString(cs + "\n")
	}
	css.WriteString("\n")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoDevicesURL+"="+sh.url)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	if _, err := io.WriteString(stdin, css.String()); err != nil {
		b.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			b.Fatalf("echo process did not start its %d devices (said %q)", n, line)
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		b.Fatalf("echo process: %d devices not connected after 2 minutes", n)
	}
}

// BenchmarkDesiredRoundTripApart is BenchmarkDesiredRoundTrip with the -fleet.devices
// devices in a process of their own, as devices are in any deployment; the hub and the
// service's fleet cache stay in the benchmark process. One op is a service PatchTwin of
// desired until the device's echo reaches the fleet cache. Goal: p99 under 20 ms with
// 1,000 devices.
func BenchmarkDesiredRoundTripApart(b *testing.B) {
	n := *benchDevices
	sh := startSvcHub(b)
	populate(b, sh.h, n)
	startEchoProcess(b, sh, n)
	measureRoundTrips(b, sh, n)
}

// measureRoundTrips runs b.N desired round trips over n connected echo devices of sh's
// hub (16 in flight, paced by -fleet.rate) and reports p50, p99 and max.
func measureRoundTrips(b *testing.B, sh *svcHub, n int) {
	ctx := context.Background()
	svc := sh.dial(b, "iothubowner")
	f := svc.Fleet(ctx)
	waitSynced(b, ctx, f, n)
	var mu sync.Mutex
	waiting := map[string]chan struct{}{}
	go func() {
		for {
			bt, err := f.Next(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			for _, e := range bt.Events {
				if e.Kind != "reported" {
					continue
				}
				key := fmt.Sprint(e.DeviceID, "/", e.Patch["probe"])
				if ch := waiting[key]; ch != nil {
					close(ch)
					delete(waiting, key)
				}
			}
			mu.Unlock()
		}
	}()
	hist := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	b.ResetTimer()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	begin := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if *benchRate > 0 {
					time.Sleep(time.Until(begin.Add(time.Duration(float64(i) / *benchRate * float64(time.Second)))))
				}
				id := fmt.Sprintf("dev-%06d", i%int64(n))
				ch := make(chan struct{})
				mu.Lock()
				waiting[fmt.Sprint(id, "/", float64(i))] = ch
				mu.Unlock()
				t0 := time.Now()
				if _, err := svc.PatchTwin(ctx, id, Patch{Desired: map[string]any{"probe": float64(i)}}, ""); err != nil {
					b.Error(err)
					return
				}
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					b.Errorf("round trip %d to %s never came back", i, id)
					return
				}
				mu.Lock()
				_ = hist.RecordValue(time.Since(t0).Microseconds())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(hist.ValueAtQuantile(50))/1000, "p50-ms")
	b.ReportMetric(float64(hist.ValueAtQuantile(99))/1000, "p99-ms")
	b.ReportMetric(float64(hist.Max())/1000, "max-ms")
}
