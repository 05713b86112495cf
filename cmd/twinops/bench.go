package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/twinops/twinops/bench"
)

// benchFlags are `twinops bench`'s flags.
type benchFlags struct {
	opts                   bench.Options
	embedded, spawn        bool
	broker, hubURL, connS  string
	caFile, dataDir        string
	pid                    int
	jsonOut, cpuProfile    string
	quiet                  bool
	timeout                time.Duration
	label, markdown        string
	command                string
	brokerUser, brokerPass string
	deviceBudget           int
	storm                  bool
}

func parseBenchFlags(args []string) (*benchFlags, error) {
	f := &benchFlags{}
	fs := flag.NewFlagSet("twinops bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: twinops bench --scenario NAME [target] [load flags]

Loads a hub (or, with --scenario relay, any MQTT broker) with simulated devices, each a
real MQTT connection, and reports throughput, errors, latency percentiles and the loaded
process's CPU and memory. A run stops by itself after --duration or --count.

scenarios: relay (QoS 1 publish/subscribe through any broker: the messaging ceiling),
  connect (N devices at --connect-rate, then idle; memory per device), reported (reported
  patch storm), desired (service patch -> device notification -> reported -> service event),
  notify (reported storm at --rate per device plus 200 desired patches/s: notification
  latency under load; --storm=false leaves the storm to another bench process), query,
  mix (storm + desired + queries)
targets: --embedded (default: a hub in this process), --spawn (a child twinops hub process,
  measured alone), --hub URL --connection-string CS (a running hub), --broker HOST:PORT (relay)

flags:`)
		fs.PrintDefaults()
	}
	defineBenchFlags(fs, f)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	// The command recorded in results: the flags that shape the run, not where output goes.
	f.command = "twinops bench"
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "quiet", "label", "json", "cpuprofile", "memprofile", "markdown", "timeout":
			return
		}
		v := fl.Value.String()
		if strings.ContainsAny(v, " '\"") {
			v = "'" + v + "'"
		}
		if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if v == "true" {
				f.command += " --" + fl.Name
			} else {
				f.command += " --" + fl.Name + "=" + v // a bool flag takes no separate value
			}
			return
		}
		f.command += " --" + fl.Name + " " + v
	})
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("bench: unexpected argument %q; see twinops bench -h", fs.Arg(0))
	}
	n := 0
	for _, b := range []bool{f.embedded, f.spawn, f.broker != "", f.hubURL != ""} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("bench: give one target: --embedded, --spawn, --hub URL or --broker HOST:PORT")
	}
	if f.broker != "" && f.opts.Scenario != "relay" {
		return nil, fmt.Errorf("bench: --broker is for --scenario relay; scenario %q needs a twin hub", f.opts.Scenario)
	}
	if f.deviceBudget != 0 && (f.hubURL != "" || f.broker != "") { // one target: checked above
		return nil, errors.New("bench: --device-budget sets the hub this command starts (--embedded or --spawn); for a running hub, give it to twinops hub")
	}
	if f.hubURL != "" && f.connS == "" {
		return nil, errors.New("bench: --hub needs --connection-string (or TWINOPS_CONNECTION_STRING); print one with twinops hub connection-string --policy iothubowner")
	}
	if !f.storm && f.opts.Scenario != "notify" {
		return nil, fmt.Errorf("bench: --storm=false is for --scenario notify, not %q", f.opts.Scenario)
	}
	f.opts.NoStorm = !f.storm
	if !f.quiet {
		f.opts.Progress = os.Stderr
	}
	return f, nil
}

// defineBenchFlags declares the flags on fs, writing into f.
func defineBenchFlags(fs *flag.FlagSet, f *benchFlags) {
	o := &f.opts
	fs.StringVar(&o.Scenario, "scenario", "reported", "relay | connect | reported | desired | notify | query | mix")
	fs.IntVar(&o.Devices, "devices", 100, "simulated device connections")
	fs.Float64Var(&o.Rate, "rate", 0, "operations per second per device (0: as fast as --inflight allows)")
	fs.IntVar(&o.Inflight, "inflight", 1, "outstanding requests per device (query: concurrent queries)")
	fs.IntVar(&o.Payload, "payload", 64, "bytes per reported patch or relayed message")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time once every device is connected")
	fs.Int64Var(&o.Count, "count", 0, "stop after this many operations (0: only --duration)")
	fs.Float64Var(&o.ConnectRate, "connect-rate", 0, "new connections per second (0: as fast as possible)")
	fs.DurationVar(&o.Hold, "hold", 5*time.Second, "connect: idle time before memory is read")
	fs.StringVar(&o.Prefix, "prefix", "bench", "device id prefix")
	fs.IntVar(&o.SourceIPs, "source-ips", 0, "spread connections over 127.0.0.1..127.0.0.N (default: one per 20,000 devices)")
	fs.StringVar(&o.QueryText, "query", "", "query: the IoT Hub query to run")
	fs.IntVar(&f.deviceBudget, "device-budget", 0, "with --embedded or --spawn: the hub's --device-budget (0: its default)")
	fs.BoolVar(&f.storm, "storm", true, "notify: run the reported storm from this process too (false: only the desired patches, with the storm from another bench process, e.g. under nice)")
	fs.BoolVar(&f.embedded, "embedded", false, "run a hub in this process (the default target)")
	fs.BoolVar(&f.spawn, "spawn", false, "run the hub as a child process (this binary's hub command) and measure it alone")
	fs.StringVar(&f.dataDir, "data", "", "data directory for --embedded/--spawn (default: a new temporary one, removed after)")
	fs.StringVar(&f.broker, "broker", "", "relay: HOST:PORT of any MQTT broker, or \"mochi\" for a plain in-process mochi-mqtt broker (the hub's engine)")
	fs.StringVar(&f.brokerUser, "broker-username", "", "relay: MQTT username")
	fs.StringVar(&f.brokerPass, "broker-password", "", "relay: MQTT password")
	fs.StringVar(&f.hubURL, "hub", "", "a running hub: mqtt://127.0.0.1:PORT (plain loopback) or mqtts://HOST:PORT")
	fs.StringVar(&f.connS, "connection-string", os.Getenv("TWINOPS_CONNECTION_STRING"), "with --hub: a service connection string allowed to create devices")
	fs.StringVar(&f.caFile, "ca", "", "with --hub mqtts://: the hub's CA file")
	fs.IntVar(&f.pid, "pid", 0, "with --hub or --broker: the server's pid, for its CPU and memory")
	fs.StringVar(&f.jsonOut, "json", "", "also write the result as JSON to this file (- for stdout)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (with --embedded: hub and load) to this file")
	fs.StringVar(&o.MemProfile, "memprofile", "", "connect: write this process's heap profile (with --embedded: hub and load) while the devices are idle")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "hard limit on the whole run, set-up included")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	fs.StringVar(&f.label, "label", "", "a name for this run in reports (default: the target)")
	fs.StringVar(&f.markdown, "markdown", "", "print the Markdown report of the *.json results in this directory and exit")
}

func runBench(ctx context.Context, args []string) error {
	f, err := parseBenchFlags(args)
	if err != nil {
		return err
	}
	if f.markdown != "" {
		rs, err := bench.ReadResults(f.markdown)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		bench.WriteMarkdown(os.Stdout, rs, bench.Machine())
		return nil
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t, cleanup, err := benchTarget(f, log)
	if err != nil {
		return err
	}
	defer cleanup()
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: --cpuprofile: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	r, err := bench.Run(ctx, t, f.opts)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	r.Command = f.command
	r.Label = f.label
	if r.Label == "" {
		r.Label = r.Target
	}
	r.WriteText(os.Stdout)
	if f.jsonOut != "" {
		var w io.Writer = os.Stdout
		if f.jsonOut != "-" {
			jf, err := os.Create(f.jsonOut)
			if err != nil {
				return fmt.Errorf("bench: --json: %w", err)
			}
			defer jf.Close()
			w = jf
		}
		if err := r.WriteJSON(w); err != nil {
			return err
		}
	}
	return nil
}

// benchTarget builds the target the flags name; cleanup stops it and removes a temporary
// data directory.
func benchTarget(f *benchFlags, log *slog.Logger) (bench.Target, func(), error) {
	switch {
	case f.broker == "mochi":
		addr, stop, err := bench.StartMochi()
		if err != nil {
			return nil, nil, fmt.Errorf("bench: starting mochi: %w", err)
		}
		// In-process: the figures are the whole process's, load generator included.
		return &bench.BrokerTarget{Addr: addr, PID: os.Getpid()}, stop, nil
	case f.broker != "":
		return &bench.BrokerTarget{Addr: f.broker, Username: f.brokerUser, Password: f.brokerPass, PID: f.pid}, func() {}, nil
	case f.hubURL != "":
		t := &bench.RemoteTarget{URL: f.hubURL, ConnectionString: f.connS, CAFile: f.caFile, PID: f.pid, Log: log}
		return t, func() { t.Close() }, nil
	}
	dir, rm := f.dataDir, func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", "twinops-bench-")
		if err != nil {
			return nil, nil, err
		}
		dir, rm = d, func() { os.RemoveAll(d) }
	}
	if f.spawn {
		self, err := os.Executable()
		if err != nil {
			rm()
			return nil, nil, fmt.Errorf("bench: finding this binary for --spawn: %w", err)
		}
		t := bench.Spawn(self, dir, f.deviceBudget, log)
		return t, func() { t.Close(); rm() }, nil
	}
	t, err := bench.Embedded(dir, f.deviceBudget, log)
	if err != nil {
		rm()
		return nil, nil, fmt.Errorf("bench: starting the embedded hub: %w", err)
	}
	return t, func() { t.Close(); rm() }, nil
}
