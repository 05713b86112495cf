// Package pki gives the hub its TLS identity: a local CA (ECDSA P-256, ten years) and a
// server certificate signed by it (two years, server auth, SANs for every name devices
// dial), created on first start and kept in a directory; or a certificate and key the
// operator supplies. Devices trust the CA file (the Node SDK verifies strictly).
package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names inside Options.Dir.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

// Validity periods and the renewal margin.
const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 2 * 365 * 24 * time.Hour
	renewBefore    = 30 * 24 * time.Hour
)

// Options configure Ensure.
type Options struct {
	// Dir holds ca.pem, ca-key.pem (0600), server.pem and server-key.pem (0600); it is
	// created (0700) if missing. Unused when CertFile is set.
	Dir string
	// Names are extra SANs for the server certificate: DNS names or IP literals. localhost,
	// 127.0.0.1, ::1 and os.Hostname() are always included.
	Names []string
	// CertFile and KeyFile, when set (both), are used as the server certificate instead
	// of the hub's own; CAFile of the result is then "".
	CertFile, KeyFile string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives what was created or renewed; nil discards.
	Logger *slog.Logger
}

// Result is the hub's TLS identity.
type Result struct {
	TLS               *tls.Config // server config, TLS 1.2 or later
	CAFile            string      // path of the CA certificate devices must trust ("" for a supplied cert)
	CertFile, KeyFile string      // the server certificate and key in use
	CreatedCA         bool        // a new CA was made: clients must be given the new CA file
	IssuedServer      bool        // a new server certificate was issued
}

// Ensure loads or creates the CA and server certificate in o.Dir and returns the TLS
// config. It issues a new server certificate when there is none, when it does not cover
// every requested name, when it was not signed by the CA, or when it expires within 30
// days. It never overwrites a CA: a half-present CA (one of the two files) is an error.
func Ensure(o Options) (Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.CertFile != "" || o.KeyFile != "" {
		return supplied(o)
	}
	if o.Dir == "" {
		return Result{}, errors.New("pki: no directory for the CA and server certificate; set the data directory")
	}
	dns, ips, err := wantedNames(o.Names)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("pki: create %s: %w", o.Dir, err)
	}
	now := o.Now()
	ca, caKey, created, err := loadOrCreateCA(o.Dir, now)
	if err != nil {
		return Result{}, err
	}
	if created {
		log.Info("created a new CA; devices must trust it", "file", filepath.Join(o.Dir, CAFile))
	}
	certPath, keyPath := filepath.Join(o.Dir, ServerFile), filepath.Join(o.Dir, ServerKeyFile)
	issued := false
	pair, why := loadServer(certPath, keyPath, ca, dns, ips, now)
	if why != "" {
		if old := pair.Leaf; old != nil { // keep names an earlier start asked for
			dns, ips = mergeNames(dns, ips, old)
		}
		if err := issueServer(o.Dir, ca, caKey, dns, ips, now); err != nil {
			return Result{}, err
		}
		log.Info("issued a server certificate", "reason", why, "dns", dns, "ips", ips, "file", certPath)
		issued = true
		if pair, err = tls.LoadX509KeyPair(certPath, keyPath); err != nil {
			return Result{}, fmt.Errorf("pki: reload the new server certificate: %w", err)
		}
	}
	return Result{
		TLS:          serverConfig(pair),
		CAFile:       filepath.Join(o.Dir, CAFile),
		CertFile:     certPath,
		KeyFile:      keyPath,
		CreatedCA:    created,
		IssuedServer: issued,
	}, nil
}

// supplied loads an operator-supplied certificate and key.
func supplied(o Options) (Result, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return Result{}, errors.New("pki: give both a certificate file and a key file, or neither to use the hub's own CA")
	}
	pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return Result{}, fmt.Errorf("pki: load %s and %s: %w", o.CertFile, o.KeyFile, err)
	}
	return Result{TLS: serverConfig(pair), CertFile: o.CertFile, KeyFile: o.KeyFile}, nil
}

// serverConfig is the listener's TLS config.
func serverConfig(pair tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
}

// wantedNames splits the default and extra names into DNS names and IPs, deduplicated.
func wantedNames(extra []string) ([]string, []net.IP, error) {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && validDNS(h) {
		names = append(names, h)
	}
	for _, n := range extra {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if ip := net.ParseIP(strings.Trim(n, "[]")); ip == nil && !validDNS(n) {
			return nil, nil, fmt.Errorf("pki: TLS name %q is neither an IP address nor a DNS name", n)
		}
		names = append(names, n)
	}
	var dns []string
	var ips []net.IP
	for _, n := range names {
		if ip := net.ParseIP(strings.Trim(n, "[]")); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
		} else if n = strings.ToLower(strings.TrimSuffix(n, ".")); !slices.Contains(dns, n) {
			dns = append(dns, n)
		}
	}
	return dns, ips, nil
}

// validDNS reports whether n looks like a DNS name (labels of letters, digits, '-', '_',
// an optional leading "*." wildcard).
func validDNS(n string) bool {
	n = strings.TrimSuffix(strings.TrimPrefix(n, "*."), ".")
	if n == "" || len(n) > 253 {
		return false
	}
	for label := range strings.SplitSeq(n, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// mergeNames adds the names of an earlier certificate to the wanted ones.
func mergeNames(dns []string, ips []net.IP, old *x509.Certificate) ([]string, []net.IP) {
	for _, n := range old.DNSNames {
		if !slices.Contains(dns, n) {
			dns = append(dns, n)
		}
	}
	for _, ip := range old.IPAddresses {
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	return dns, ips
}

// loadServer loads the server pair and returns why it must be reissued ("" if it is
// fine). The returned pair's Leaf is set whenever the certificate could be parsed.
func loadServer(certPath, keyPath string, ca *x509.Certificate, dns []string, ips []net.IP, now time.Time) (tls.Certificate, string) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, "no server certificate yet"
	}
	if err != nil {
		return tls.Certificate{}, "unreadable server certificate: " + err.Error()
	}
	leaf := pair.Leaf
	if leaf == nil {
		return pair, "server certificate has no leaf"
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return tls.Certificate{}, "server certificate not signed by the CA"
	}
	if now.Add(renewBefore).After(leaf.NotAfter) {
		return pair, "server certificate expires " + leaf.NotAfter.Format(time.DateOnly)
	}
	for _, n := range dns {
		if leaf.VerifyHostname(n) != nil {
			return pair, "server certificate does not cover " + n
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return pair, "server certificate does not cover " + ip.String()
		}
	}
	return pair, ""
}

// caKeyMatches reports whether key is the private key of cert.
func caKeyMatches(cert *x509.Certificate, key *ecdsa.PrivateKey) bool {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	return ok && pub.Equal(&key.PublicKey)
}
