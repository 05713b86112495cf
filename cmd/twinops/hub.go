package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/twinops/twinops/hub"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runHub runs `twinops hub [flags]` and `twinops hub connection-string --policy NAME`.
func runHub(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "connection-string" {
		return runHubConnectionString(args[1:])
	}
	fs := flag.NewFlagSet("twinops hub", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: twinops hub [flags]                          run a twin hub")
		fmt.Fprintln(fs.Output(), "       twinops hub connection-string --policy NAME  print a policy's connection string")
		fs.PrintDefaults()
	}
	var cfg hub.Config
	var sans stringList
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&cfg.DataDir, "data", hub.DefaultDataDir(), "data directory (also $TWINOPS_DATA)")
	fs.StringVar(&cfg.Hostname, "hostname", "localhost", "host name devices use in connection strings and SAS tokens")
	fs.StringVar(&cfg.TLSAddr, "tls-addr", ":8883", "TLS MQTT listener address (empty: none)")
	fs.StringVar(&cfg.PlainAddr, "plain-addr", "", "plain MQTT listener, loopback only, e.g. 127.0.0.1:1883 (empty: none)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "server certificate PEM (default: the hub's own, created on first start)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "server private key PEM, with --tls-cert")
	fs.Var(&sans, "tls-san", "extra DNS name or IP for the hub's own server certificate (repeatable)")
	fs.IntVar(&cfg.DeviceBudget, "device-budget", hub.DefaultDeviceBudget,
		"devices whose requests each owner shard takes in at a time: lower is quicker for desired changes during a reported storm, higher gives more peak throughput")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("hub: unexpected argument %q; see twinops hub -h", fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("hub: --log-level %q: say debug, info, warn or error", *logLevel)
	}
	cfg.TLSSANs = sans
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	h, err := hub.New(cfg)
	if err != nil {
		return err
	}
	if err := h.Start(); err != nil {
		h.Close()
		return err
	}
	printHubBanner(h)
	tuneGC(ctx)
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	return h.Close()
}

// printHubBanner tells the operator (on stderr) where the hub listens, which CA devices
// must trust and how a back end connects.
func printHubBanner(h *hub.Hub) {
	w := os.Stderr
	fmt.Fprintf(w, "twinops hub %q running; data in %s\n", h.Hostname(), h.DataDir())
	if a := h.TLSAddr(); a != nil {
		fmt.Fprintf(w, "  TLS MQTT:   %s\n", a)
	}
	if a := h.PlainAddr(); a != nil {
		fmt.Fprintf(w, "  plain MQTT: %s (loopback only)\n", a)
	}
	if ca := h.CAFile(); ca != "" {
		fmt.Fprintf(w, "  CA for devices: %s\n", ca)
	}
	if cs, err := h.ServiceConnectionString("iothubowner"); err == nil {
		fmt.Fprintf(w, "  iothubowner connection string: %s\n", cs)
	}
	fmt.Fprintln(w, "  Ctrl-C stops the hub.")
}

// runHubConnectionString prints the connection string of a policy of a local hub.
func runHubConnectionString(args []string) error {
	fs := flag.NewFlagSet("twinops hub connection-string", flag.ContinueOnError)
	dataDir := fs.String("data", hub.DefaultDataDir(), "data directory of the hub (also $TWINOPS_DATA)")
	policy := fs.String("policy", "iothubowner", "access policy: iothubowner, service, registryRead, registryReadWrite, device")
	hostname := fs.String("hostname", "", "host name to put in the string (default: the one the hub last ran with)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ps, err := hub.ReadPolicies(*dataDir)
	if err != nil {
		return err
	}
	host := *hostname
	if host == "" {
		host = "localhost"
		if in, err := hub.ReadInfo(*dataDir); err == nil && in.Hostname != "" {
			host = in.Hostname
		}
	}
	cs, err := hub.PolicyConnectionString(ps, host, *policy)
	if err != nil {
		return err
	}
	fmt.Println(cs)
	return nil
}
