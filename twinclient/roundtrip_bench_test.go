package twinclient

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/twinops/twinops/hub"
)

// roundTripChild, when set in the environment, makes this test binary one of the child
// processes of BenchmarkDesiredRoundTripApart instead of running tests: "hub N" (a hub
// with N devices) or "devices URL" (echo devices for the connection strings on stdin).
const roundTripChild = "TWINOPS_ROUNDTRIP_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(roundTripChild); mode != "" {
		if err := runRoundTripChild(mode, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "round-trip child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runRoundTripChild runs the child process named by mode until in ends (the parent
// closed the pipe or died).
func runRoundTripChild(mode string, in io.Reader, out io.Writer) error {
	kind, arg, _ := strings.Cut(mode, " ")
	switch kind {
	case "hub":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return fmt.Errorf("hub child: device count %q: %w", arg, err)
		}
		return runHubChild(n, in, out)
	case "devices":
		return runEchoDevices(arg, in, out)
	}
	return fmt.Errorf("unknown child mode %q", mode)
}

// runHubChild starts a hub on loopback with n populated devices and writes its URL, the
// iothubowner connection string and the n device connection strings, one per line, then
// an empty line; it closes the hub when in ends.
func runHubChild(n int, in io.Reader, out io.Writer) error {
	dir, err := os.MkdirTemp("", "twinops-roundtrip-hub")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	h, err := hub.New(hub.Config{DataDir: dir, PlainAddr: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	if err := h.Start(); err != nil {
		h.Close()
		return err
	}
	defer h.Close()
	if err := populateHub(h, n); err != nil {
		return err
	}
	svc, err := h.ServiceConnectionString("iothubowner")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "mqtt://%s\n%s\n", h.PlainAddr(), svc)
	for i := range n {
		cs, err := h.DeviceConnectionString(context.Background(), fmt.Sprintf("dev-%06d", i))
		if err != nil {
			return err
		}
		fmt.Fprintln(w, cs)
	}
	fmt.Fprintln(w)
	if err := w.Flush(); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, in)
	return nil
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

// runEchoDevices reads one device connection string per line from in until an empty
// line, connects each as an echo device to url, writes "ready" and an empty line to out,
// and closes them all when in ends.
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
	if _, err := fmt.Fprint(out, "ready\n\n"); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, in)
	return nil
}

// child is a child process of BenchmarkDesiredRoundTripApart.
type child struct {
	in  io.WriteCloser
	out *bufio.Reader
}

// startChild starts this test binary in child mode; it is stopped (its stdin closed,
// then waited for) when the benchmark ends.
func startChild(b *testing.B, mode string) *child {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roundTripChild+"="+mode)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	return &child{in: in, out: bufio.NewReader(out)}
}

// lines reads lines from the child until an empty one, or fails the benchmark after
// two minutes.
func (c *child) lines(b *testing.B, what string) []string {
	got := make(chan []string, 1)
	go func() {
		var ls []string
		for {
			l, err := c.out.ReadString('\n')
			if l = strings.TrimSuffix(l, "\n"); l == "" || err != nil {
				got <- ls
				return
			}
			ls = append(ls, l)
		}
	}()
	select {
	case ls := <-got:
		return ls
	case <-time.After(2 * time.Minute):
		b.Fatalf("%s: no answer after 2 minutes", what)
		return nil
	}
}

// BenchmarkDesiredRoundTripApart is BenchmarkDesiredRoundTrip with the hub, the
// -fleet.devices echo devices and the service's fleet cache each in a process of its
// own, as in a deployment (the two children are this test binary in child mode). One op
// is a service PatchTwin of desired until the device's echo reaches the fleet cache.
// Goal: p99 under 20 ms with 1,000 devices.
func BenchmarkDesiredRoundTripApart(b *testing.B) {
	n := *benchDevices
	hubc := startChild(b, fmt.Sprintf("hub %d", n))
	ls := hubc.lines(b, "hub process")
	if len(ls) != n+2 {
		b.Fatalf("hub process: %d lines, want URL, connection string and %d devices", len(ls), n)
	}
	url, svcCS := ls[0], ls[1]
	devc := startChild(b, "devices "+url)
	if _, err := io.WriteString(devc.in, strings.Join(ls[2:], "\n")+"\n\n"); err != nil {
		b.Fatal(err)
	}
	if r := devc.lines(b, "device process"); len(r) != 1 || r[0] != "ready" {
		b.Fatalf("device process did not connect its %d devices (said %q)", n, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	svc, err := DialService(ctx, ServiceOptions{URL: url, ConnectionString: svcCS})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	measureRoundTrips(b, svc, n)
}

// measureRoundTrips runs b.N desired round trips through svc over n connected echo
// devices (16 in flight, paced by -fleet.rate) and reports p50, p99 and max.
func measureRoundTrips(b *testing.B, svc *Service, n int) {
	ctx := context.Background()
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
	begin := time.Now()
	err := inParallel(b.N, 16, func(i int) error {
		if *benchRate > 0 {
			time.Sleep(time.Until(begin.Add(time.Duration(float64(i) / *benchRate * float64(time.Second)))))
		}
		id := fmt.Sprintf("dev-%06d", i%n)
		ch := make(chan struct{})
		mu.Lock()
		waiting[fmt.Sprint(id, "/", float64(i))] = ch
		mu.Unlock()
		t0 := time.Now()
		if _, err := svc.PatchTwin(ctx, id, Patch{Desired: map[string]any{"probe": float64(i)}}, ""); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("round trip %d to %s never came back", i, id)
		}
		mu.Lock()
		_ = hist.RecordValue(time.Since(t0).Microseconds())
		mu.Unlock()
		return nil
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(hist.ValueAtQuantile(50))/1000, "p50-ms")
	b.ReportMetric(float64(hist.ValueAtQuantile(99))/1000, "p99-ms")
	b.ReportMetric(float64(hist.Max())/1000, "max-ms")
}
