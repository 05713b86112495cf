package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve starts a TLS listener on 127.0.0.1:0 with cfg, completing handshakes until the
// test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func caPool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("CA file holds no certificate")
	}
	return p
}

func TestDialWithOnlyTheCA(t *testing.T) {
	r, err := Ensure(Options{Dir: t.TempDir(), Names: []string{"twin.example.com", "10.1.2.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.CreatedCA || !r.IssuedServer {
		t.Fatalf("first start: %+v", r)
	}
	addr := serve(t, r.TLS)
	_, port, _ := net.SplitHostPort(addr)
	host, _ := os.Hostname()
	roots := caPool(t, r.CAFile)
	cases := map[string]struct {
		serverName string // "" = dial by IP, no SNI (as mqtt.js does for an IP host)
		ok         bool
	}{
		"localhost":       {"localhost", true},
		"ip 127.0.0.1":    {"", true},
		"os hostname":     {host, true},
		"extra name":      {"twin.example.com", true},
		"uncovered name":  {"other.example.com", false},
		"extra ip as sni": {"10.1.2.3", true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: roots, ServerName: c.serverName}
			if c.serverName == "" {
				cfg.ServerName = "127.0.0.1"
			}
			conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), cfg)
			if conn != nil {
				conn.Close()
			}
			if (err == nil) != c.ok {
				t.Fatalf("dial: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestSecondStartReusesEverything(t *testing.T) {
	dir := t.TempDir()
	if _, err := Ensure(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, dir)
	r, err := Ensure(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r.CreatedCA || r.IssuedServer {
		t.Fatalf("second start created something: %+v", r)
	}
	if after := readAll(t, dir); !equalFiles(before, after) {
		t.Fatal("files changed on a second start")
	}
	for _, f := range []string{CAKeyFile, ServerKeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v", f, st.Mode(), err)
		}
	}
}

func TestServerReissued(t *testing.T) {
	cases := map[string]struct {
		second Options
		names  []string // must all be covered after the second start
	}{
		"new name": {Options{Names: []string{"new.example.com"}}, []string{"new.example.com", "first.example.com", "localhost"}},
		"new ip":   {Options{Names: []string{"192.0.2.7"}}, []string{"192.0.2.7", "first.example.com"}},
		"expiring": {Options{Now: func() time.Time { return time.Now().Add(serverValidity - 10*24*time.Hour) }}, []string{"localhost"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Ensure(Options{Dir: dir, Names: []string{"first.example.com"}}); err != nil {
				t.Fatal(err)
			}
			ca := readAll(t, dir)[CAFile]
			c.second.Dir = dir
			r, err := Ensure(c.second)
			if err != nil {
				t.Fatal(err)
			}
			if !r.IssuedServer || r.CreatedCA {
				t.Fatalf("second start: %+v", r)
			}
			if !bytes.Equal(readAll(t, dir)[CAFile], ca) {
				t.Fatal("CA changed")
			}
			leaf, err := x509.ParseCertificate(r.TLS.Certificates[0].Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			opts := x509.VerifyOptions{Roots: caPool(t, r.CAFile), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			for _, n := range c.names {
				opts.DNSName = n
				if c.second.Now != nil {
					opts.CurrentTime = c.second.Now()
				}
				if _, err := leaf.Verify(opts); err != nil {
					t.Errorf("%s: %v", n, err)
				}
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	cases := map[string]struct {
		setup   func(dir string) Options
		wantErr string
	}{
		"half CA": {func(dir string) Options {
			Ensure(Options{Dir: dir})
			os.Remove(filepath.Join(dir, CAFile))
			return Options{Dir: dir}
		}, "only one of"},
		"mismatched CA key": {func(dir string) Options {
			other := filepath.Join(dir, "other")
			Ensure(Options{Dir: dir})
			Ensure(Options{Dir: other})
			b, _ := os.ReadFile(filepath.Join(other, CAKeyFile))
			os.WriteFile(filepath.Join(dir, CAKeyFile), b, 0o600)
			return Options{Dir: dir}
		}, "not the key of"},
		"bad name":    {func(dir string) Options { return Options{Dir: dir, Names: []string{"bad name!"}} }, "neither an IP"},
		"cert no key": {func(dir string) Options { return Options{CertFile: "x.pem"} }, "both"},
		"missing cert": {func(dir string) Options {
			return Options{CertFile: "/nonexistent.pem", KeyFile: "/nonexistent-key.pem"}
		}, "nonexistent"},
		"no dir": {func(dir string) Options { return Options{} }, "no directory"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o := c.setup(dir)
			before := readAll(t, dir)
			_, err := Ensure(o)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, c.wantErr)
			}
			if !equalFiles(before, readAll(t, dir)) {
				t.Fatal("a refused start changed the files")
			}
		})
	}
}

func TestSuppliedCertificate(t *testing.T) {
	own, err := Ensure(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Ensure(Options{CertFile: own.CertFile, KeyFile: own.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	if r.CAFile != "" || r.CertFile != own.CertFile {
		t.Fatalf("%+v", r)
	}
	addr := serve(t, r.TLS)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: caPool(t, own.CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// TestNodeVerifiesStrictly dials the hub certificate with Node's tls.connect the way
// mqtt.js does (rejectUnauthorized, ca, servername unless the host is an IP). node is a
// test requirement of this repository (the Azure SDK interop test needs it too).
func TestNodeVerifiesStrictly(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required (see README Test): ", err)
	}
	r, err := Ensure(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(serve(t, r.TLS))
	const script = `
const tls = require('tls'), fs = require('fs');
const [ca, host, port] = process.argv.slice(1);
const o = {host, port: +port, ca: fs.readFileSync(ca), rejectUnauthorized: true};
if (!require('net').isIP(host)) o.servername = host;
const s = tls.connect(o, () => { console.log('ok ' + s.getProtocol()); s.end(); });
s.on('error', e => { console.log('error ' + e.message); process.exit(1); });`
	for _, host := range []string{"localhost", "127.0.0.1"} {
		t.Run(host, func(t *testing.T) {
			out, err := exec.Command(node, "-e", script, r.CAFile, host, port).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "ok TLS") {
				t.Fatalf("node: %v: %s", err, out)
			}
		})
	}
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, f := range []string{CAFile, CAKeyFile, ServerFile, ServerKeyFile} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			m[f] = b
		}
	}
	return m
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
