package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twinops/twinops/sim"
	"github.com/twinops/twinops/twinclient"
)

// simFlags are the flags of `twinops sim`.
type simFlags struct {
	conn        cliConn
	opts        sim.Options
	interval    time.Duration
	tokenLife   time.Duration
	verbose     bool
	provisionTO time.Duration
}

// parseSimFlags parses `twinops sim` flags and checks them.
func parseSimFlags(args []string, errOut io.Writer) (*simFlags, error) {
	f := &simFlags{}
	fs := flag.NewFlagSet("twinops sim", flag.ContinueOnError)
	fs.SetOutput(errOut)
	f.conn.register(fs)
	fs.IntVar(&f.opts.Count, "devices", 0, "how many simulated devices to run (required); missing ones are created")
	fs.Int64Var(&f.opts.Seed, "seed", 1, "seed for profiles, failures and timings (same seed, same fleet)")
	fs.StringVar(&f.opts.Prefix, "prefix", "sim-", "device id prefix (ids are PREFIX0001, PREFIX0002, ...)")
	fs.Float64Var(&f.opts.FailureRate, "failure-rate", 0.05, "chance (0 to 1) that a firmware update fails")
	fs.Float64Var(&f.opts.FlakyRate, "flaky-rate", 0.02, "share (0 to 1) of devices whose link drops now and then")
	fs.Float64Var(&f.opts.Speed, "speed", 1, "time scale: 10 runs updates, battery and flaky links ten times faster")
	fs.IntVar(&f.opts.Parallelism, "parallel", 64, "devices connecting (and provisioned) at the same time")
	fs.DurationVar(&f.interval, "interval", 5*time.Second, "how often to log a summary line")
	fs.DurationVar(&f.tokenLife, "token-lifetime", time.Hour, "lifetime of each device's SAS token (renewed before it ends)")
	fs.BoolVar(&f.verbose, "v", false, "log every device event (debug)")
	cliUsage(fs, "twinops sim --devices N [--seed S] [--failure-rate F] [--flaky-rate F] [--speed X]",
		"             [--hub URL --connection-string CS [--ca FILE]] [--data DIR]",
		"runs N simulated devices (firmware updates, config echo, battery, flaky links) until Ctrl-C,",
		"by default against the local hub in the data dir with its iothubowner credentials;",
		"missing devices are created and tagged (region, ring, model)")
	if _, err := cliParse(fs, args); err != nil {
		return nil, err
	}
	if f.opts.Count <= 0 {
		fs.Usage()
		return nil, errors.New("sim: give the number of devices with --devices N (N > 0)")
	}
	if f.opts.Speed <= 0 {
		return nil, fmt.Errorf("sim: --speed %v must be positive (1 = real time)", f.opts.Speed)
	}
	if f.interval <= 0 {
		return nil, fmt.Errorf("sim: --interval %v must be positive", f.interval)
	}
	f.provisionTO = 2*time.Minute + time.Duration(f.opts.Count)*20*time.Millisecond
	return f, nil
}

// runSim provisions the missing devices through the service protocol and runs the fleet
// until ctx ends (Ctrl-C), logging a summary every interval on stderr.
func runSim(ctx context.Context, args []string) error {
	io := defaultIO()
	f, err := parseSimFlags(args, io.errOut)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(io.errOut, &slog.HandlerOptions{Level: level}))
	f.opts.Logger = log
	return simMain(ctx, f, io, log)
}

// simMain is runSim after flag parsing (tests call it with their own hub and ctx).
func simMain(ctx context.Context, f *simFlags, io cliIO, log *slog.Logger) error {
	so := twinclient.ServiceOptions{URL: f.conn.hubURL, ConnectionString: f.conn.connStr, CAFile: f.conn.caFile, Logger: log}
	if so.ConnectionString == "" {
		so.ConnectionString = io.env("TWINOPS_CONNECTION_STRING")
	}
	if so.ConnectionString == "" || so.URL == "" {
		if err := f.conn.local(&so, io); err != nil {
			return err
		}
	}
	dctx, cancel := context.WithTimeout(ctx, f.conn.timeout)
	svc, err := twinclient.DialService(dctx, so)
	cancel()
	if err != nil {
		return fmt.Errorf("sim: connecting to the hub: %w", err)
	}
	defer svc.Close()

	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, f.provisionTO)
	conns, err := sim.Provision(pctx, sim.ServiceRegistry(svc), f.opts)
	cancel()
	if err != nil {
		return fmt.Errorf("sim: provisioning (the policy needs registry write and service connect, e.g. iothubowner): %w", err)
	}
	log.Info("sim: devices provisioned", "devices", len(conns), "took", time.Since(start).Round(time.Millisecond))

	dial := twinclient.DeviceOptions{URL: so.URL, CAFile: so.CAFile, RootCAs: so.RootCAs, ServerName: so.ServerName,
		TokenLifetime: f.tokenLife, Logger: log}
	fleet, err := sim.Run(ctx, f.opts, conns, dial)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	defer fleet.Close()
	return simLoop(ctx, fleet, f.interval, start, log)
}

// simLoop logs a summary every interval (and once all devices are up) until ctx ends.
func simLoop(ctx context.Context, fleet *sim.Fleet, interval time.Duration, start time.Time, log *slog.Logger) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	ready := fleet.Ready()
	for {
		select {
		case <-ctx.Done():
			log.Info("sim: stopping", "summary", fleet.Stats().String())
			return nil
		case <-ready:
			ready = nil
			log.Info("sim: all devices connected", "took", time.Since(start).Round(time.Millisecond))
		case <-tick.C:
			log.Info("sim: " + fleet.Stats().String())
		}
	}
}
