package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/sas"
	"github.com/twinops/twinops/twinclient"
)

// The scriptable commands: device, twin and query. They print JSON on stdout (one value,
// indented, so that it pipes into jq), messages and errors on stderr, and fail with a
// non-zero exit status. They reach the hub through twinclient, like any back end; package
// hub is used only to read the local hub's data directory.

// cliIO is where a command writes; tests replace it.
type cliIO struct {
	out, errOut io.Writer
	env         func(string) string
}

func defaultIO() cliIO { return cliIO{out: os.Stdout, errOut: os.Stderr, env: os.Getenv} }

// cliConn holds the connection flags every command takes.
type cliConn struct {
	data, hubURL, connStr, caFile string
	timeout                       time.Duration

	localDir, localAddr string // set when the address came from a local hub's hub.json
}

func (c *cliConn) register(fs *flag.FlagSet) {
	fs.StringVar(&c.data, "data", "", "data directory of the local hub (default $TWINOPS_DATA, else the user data dir)")
	fs.StringVar(&c.hubURL, "hub", "", "hub URL, mqtts://host:port (default: the local hub)")
	fs.StringVar(&c.connStr, "connection-string", "", "service connection string (default $TWINOPS_CONNECTION_STRING, else the local hub's iothubowner)")
	fs.StringVar(&c.caFile, "ca", "", "PEM file of the hub's CA (default: the local hub's)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for the hub")
}

// dial connects to the hub the flags name, or to the local hub found in the data dir.
func (c *cliConn) dial(ctx context.Context, io cliIO) (*twinclient.Service, error) {
	o := twinclient.ServiceOptions{URL: c.hubURL, ConnectionString: c.connStr, CAFile: c.caFile}
	if o.ConnectionString == "" {
		o.ConnectionString = io.env("TWINOPS_CONNECTION_STRING")
	}
	if o.ConnectionString == "" || o.URL == "" {
		if err := c.local(&o, io); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s, err := twinclient.DialService(ctx, o)
	if err != nil && c.localDir != "" && errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("the hub of %s is not running: its last address, %s, refuses connections. "+
			"Start it with `twinops hub --data %s` (or keep the console, `twinops`, open in another terminal), "+
			"or name another hub with --hub URL --connection-string CS", c.localDir, c.localAddr, c.localDir)
	}
	return s, err
}

// local fills in what the local hub's data directory says (hub.json, policies.json).
func (c *cliConn) local(o *twinclient.ServiceOptions, io cliIO) error {
	dir := c.data
	if dir == "" {
		dir = io.env("TWINOPS_DATA")
	}
	if dir == "" {
		dir = hub.DefaultDataDir()
	}
	info, err := hub.ReadInfo(dir)
	if err != nil {
		if o.ConnectionString != "" {
			return nil // a connection string alone: its HostName on port 8883
		}
		return fmt.Errorf("%w; or name a hub with --hub URL --connection-string CS", err)
	}
	if o.ConnectionString != "" {
		// a connection string for another hub: dial its HostName, not the local hub
		if cs, err := sas.ParseConnectionString(o.ConnectionString); err != nil || cs.HostName != info.Hostname {
			return nil
		}
	} else {
		ps, err := hub.ReadPolicies(dir)
		if err != nil {
			return err
		}
		if o.ConnectionString, err = hub.PolicyConnectionString(ps, info.Hostname, "iothubowner"); err != nil {
			return err
		}
	}
	if o.URL != "" {
		return nil
	}
	switch {
	case info.PlainAddr != "":
		c.localAddr = cliLoopback(info.PlainAddr)
		o.URL = "mqtt://" + c.localAddr
	case info.TLSAddr != "":
		c.localAddr = cliLoopback(info.TLSAddr)
		o.URL = "mqtts://" + c.localAddr
		o.ServerName = "localhost"
		if o.CAFile == "" {
			o.CAFile = info.CAFile
		}
	default:
		return fmt.Errorf("the hub in %s has no listener address in hub.json; restart it", dir)
	}
	c.localDir = dir
	return nil
}

// cliLoopback turns a bound address like [::]:8883 into one to dial on this machine.
func cliLoopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// cliParse parses flags that may come before or after the positional arguments
// (`twin patch ID --desired ...`) and returns the positionals.
func cliParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// cliJSON writes v (a value, or raw JSON bytes) indented, with a newline.
func cliJSON(w io.Writer, v any) error {
	raw, ok := v.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// cliObject reads a JSON object flag value: inline JSON, @file, or - for stdin.
func cliObject(flagName, v string) (map[string]any, error) {
	raw := []byte(v)
	switch {
	case v == "-":
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("--%s -: reading stdin: %w", flagName, err)
		}
		raw = b
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagName, err)
		}
		raw = b
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("--%s must be a JSON object such as '{\"fan\":{\"speed\":3}}' (or @file, or - for stdin): %v", flagName, err)
	}
	return m, nil
}

func cliUsage(fs *flag.FlagSet, lines ...string) {
	fs.Usage = func() {
		for i, l := range lines {
			if i == 0 {
				fmt.Fprintln(fs.Output(), "usage: "+l)
			} else {
				fmt.Fprintln(fs.Output(), "       "+l)
			}
		}
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
}

func runDevice(ctx context.Context, args []string) error { return cliDevice(ctx, args, defaultIO()) }

func runTwin(ctx context.Context, args []string) error { return cliTwin(ctx, args, defaultIO()) }

func runQuery(ctx context.Context, args []string) error { return cliQuery(ctx, args, defaultIO()) }

// cliDevice runs `twinops device create|list|show|update|delete|connection-string|regenerate-key`.
func cliDevice(ctx context.Context, args []string, io cliIO) error {
	fs := flag.NewFlagSet("twinops device", flag.ContinueOnError)
	fs.SetOutput(io.errOut)
	cliUsage(fs,
		"twinops device create ID [--status enabled|disabled] [--reason TEXT]",
		"twinops device list [--page-size N]",
		"twinops device show ID",
		"twinops device update ID --status enabled|disabled [--reason TEXT] [--etag ETAG]",
		"twinops device delete ID [--etag ETAG]",
		"twinops device connection-string ID",
		"twinops device regenerate-key ID --key primary|secondary|swap")
	var conn cliConn
	conn.register(fs)
	status := fs.String("status", "", "enabled or disabled")
	reason := fs.String("reason", "", "status reason (at most 128 characters)")
	etag := fs.String("etag", "", "identity etag precondition (default: any)")
	pageSize := fs.Int("page-size", 1000, "identities per request (1 to 1000)")
	key := fs.String("key", "", "which key to regenerate: primary, secondary or swap")
	pos, err := cliParse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errors.New("device: say create, list, show, update, delete, connection-string or regenerate-key")
	}
	verb, ids := pos[0], pos[1:]
	if verb == "list" {
		if len(ids) != 0 {
			return fmt.Errorf("device list takes no device id (got %q)", ids[0])
		}
	} else if len(ids) != 1 {
		fs.Usage()
		return fmt.Errorf("device %s needs exactly one device id", verb)
	}
	if *status != "" && *status != "enabled" && *status != "disabled" {
		return fmt.Errorf("--status %q: say enabled or disabled", *status)
	}
	switch verb {
	case "create", "list", "show", "update", "delete", "connection-string", "regenerate-key":
	default:
		fs.Usage()
		return fmt.Errorf("device %s: unknown; say create, list, show, update, delete, connection-string or regenerate-key", verb)
	}
	if verb == "update" && *status == "" && *reason == "" {
		return errors.New("device update: give --status enabled|disabled (and optionally --reason TEXT)")
	}
	s, err := conn.dial(ctx, io)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, conn.timeout)
	defer cancel()
	switch verb {
	case "list":
		all := []twinclient.Identity{}
		for page, err := range s.ListDevices(ctx, *pageSize) {
			if err != nil {
				return err
			}
			all = append(all, page...)
		}
		return cliJSON(io.out, all)
	case "create":
		x, err := s.CreateDevice(ctx, twinclient.Identity{DeviceID: ids[0], Status: *status, StatusReason: *reason})
		if err != nil {
			return err
		}
		fmt.Fprintf(io.errOut, "created device %q\n", x.DeviceID)
		return cliJSON(io.out, x)
	case "show":
		x, err := s.GetDevice(ctx, ids[0])
		if err != nil {
			return err
		}
		return cliJSON(io.out, x)
	case "update":
		x, err := s.UpdateDevice(ctx, twinclient.Identity{DeviceID: ids[0], Status: *status, StatusReason: *reason}, *etag)
		if err != nil {
			return err
		}
		return cliJSON(io.out, x)
	case "delete":
		if err := s.DeleteDevice(ctx, ids[0], *etag); err != nil {
			return err
		}
		fmt.Fprintf(io.errOut, "deleted device %q and its twin\n", ids[0])
		return nil
	case "connection-string":
		cs, err := s.DeviceConnectionString(ctx, ids[0])
		if err != nil {
			return err
		}
		return cliJSON(io.out, map[string]string{"connectionString": cs})
	default: // regenerate-key
		if *key == "" {
			return errors.New("device regenerate-key: give --key primary, secondary or swap")
		}
		x, err := s.RegenerateKey(ctx, ids[0], *key)
		if err != nil {
			return err
		}
		return cliJSON(io.out, x)
	}
}

// cliTwin runs `twinops twin get|patch|replace ID`.
func cliTwin(ctx context.Context, args []string, io cliIO) error {
	fs := flag.NewFlagSet("twinops twin", flag.ContinueOnError)
	fs.SetOutput(io.errOut)
	cliUsage(fs,
		"twinops twin get ID",
		"twinops twin patch ID [--desired JSON] [--tags JSON] [--etag ETAG]     merge patch; null deletes a key",
		"twinops twin replace ID [--desired JSON] [--tags JSON] [--etag ETAG]   replace whole sections",
		"JSON is inline, @file, or - for stdin")
	var conn cliConn
	conn.register(fs)
	desired := fs.String("desired", "", "desired properties (JSON object)")
	tags := fs.String("tags", "", "tags (JSON object)")
	etag := fs.String("etag", "", "twin etag precondition (default: any); a stale one fails with 412 and changes nothing")
	pos, err := cliParse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		return errors.New("twin: say get, patch or replace, and one device id")
	}
	verb, id := pos[0], pos[1]
	var p twinclient.Patch
	switch verb {
	case "get":
		if *desired != "" || *tags != "" {
			return errors.New("twin get takes no --desired or --tags; did you mean twin patch?")
		}
	case "patch", "replace":
		if *desired == "" && *tags == "" {
			return fmt.Errorf("twin %s: give --desired JSON and/or --tags JSON", verb)
		}
		if *desired != "" {
			if p.Desired, err = cliObject("desired", *desired); err != nil {
				return err
			}
		}
		if *tags != "" {
			if p.Tags, err = cliObject("tags", *tags); err != nil {
				return err
			}
		}
	default:
		fs.Usage()
		return fmt.Errorf("twin %s: unknown; say get, patch or replace", verb)
	}
	s, err := conn.dial(ctx, io)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, conn.timeout)
	defer cancel()
	var d any
	switch verb {
	case "get":
		d, err = s.GetTwin(ctx, id)
	case "patch":
		d, err = s.PatchTwin(ctx, id, p, *etag)
	default:
		d, err = s.ReplaceTwin(ctx, id, p, *etag)
	}
	if err != nil {
		if twinclient.IsStatus(err, 412) {
			return fmt.Errorf("%w\nthe twin changed since you read its etag; run twinops twin get %s and retry with the new etag", err, id)
		}
		return err
	}
	return cliJSON(io.out, d)
}

// cliQuery runs `twinops query "SELECT ..."`: every page into one JSON array, or one page
// of --page-size rows (the next page's token goes to stderr).
func cliQuery(ctx context.Context, args []string, io cliIO) error {
	fs := flag.NewFlagSet("twinops query", flag.ContinueOnError)
	fs.SetOutput(io.errOut)
	cliUsage(fs, `twinops query "SELECT * FROM devices WHERE tags.ring = 'canary'" [--page-size N [--continuation TOKEN]]`)
	var conn cliConn
	conn.register(fs)
	pageSize := fs.Int("page-size", 0, "return one page of N rows (1 to 1000) instead of every row")
	cont := fs.String("continuation", "", "with --page-size: the token printed after the previous page")
	pos, err := cliParse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New(`query: give the query as one argument, quoted: twinops query "SELECT * FROM devices"`)
	}
	if *cont != "" && *pageSize == 0 {
		return errors.New("--continuation goes with --page-size")
	}
	s, err := conn.dial(ctx, io)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, conn.timeout)
	defer cancel()
	rows := []json.RawMessage{}
	if *pageSize > 0 {
		p, err := s.QueryPage(ctx, pos[0], *pageSize, *cont)
		if err != nil {
			return err
		}
		rows = append(rows, p.Items...)
		if p.Continuation != "" {
			fmt.Fprintf(io.errOut, "more rows: add --continuation %s\n", p.Continuation)
		}
	} else {
		for page, err := range s.Query(ctx, pos[0], 1000) {
			if err != nil {
				return err
			}
			rows = append(rows, page...)
		}
	}
	return cliJSON(io.out, rows)
}
