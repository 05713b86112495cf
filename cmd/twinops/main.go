// Command twinops is a terminal fleet console for device twins and the twin hub it
// talks to. With no subcommand it starts the console; see `twinops help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: its name, a one-line summary, and the function that runs it
// with the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"hub", "run a twin hub (TLS MQTT on 8883)", runHub},
		{"device", "manage device identities: create|list|show|update|delete|connection-string", runDevice},
		{"twin", "read and write twins: get|patch|replace", runTwin},
		{"query", `run an IoT Hub query: twinops query "SELECT * FROM devices"`, runQuery},
		{"sim", "run a simulated fleet against a hub", runSim},
		{"bench", "load a hub and report throughput and latency", runBench},
	}
}

// stopSignals end a command cleanly: the hub saves its sessions, the console its unsent
// edits and a note of a rollout it stops. SIGHUP is a closed terminal, e.g. a dropped SSH
// session: by default it killed the console, and its unsent edits with it. A process
// started with SIGHUP ignored (nohup) keeps ignoring it: notifying would re-enable it.
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	err := dispatch(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "twinops:", err)
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			usage()
			return nil
		}
		for _, c := range commands() {
			if c.name == args[0] {
				return c.run(ctx, args[1:])
			}
		}
		if args[0] != "" && args[0][0] != '-' {
			usage()
			return fmt.Errorf("unknown command %q; run twinops help for the list", args[0])
		}
	}
	return runConsole(ctx, args)
}

func usage() { printUsage(os.Stderr) }

// printUsage writes the commands and the console's flags to w.
func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: twinops [console flags]      start the console (embedded demo hub unless --hub is given)")
	fmt.Fprintln(w, "       twinops COMMAND [flags]")
	fmt.Fprintln(w, "\nconsole flags:")
	fs := consoleFlagSet(&consoleFlags{})
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nrun twinops COMMAND -h for its flags")
}
