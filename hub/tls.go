package hub

import (
	"path/filepath"

	"github.com/twinops/twinops/hub/pki"
)

// setupTLS loads or creates the hub's TLS identity (hub/pki): the CA and a server
// certificate for the host name, the usual local names and the extra SANs, or the
// certificate given with TLSCertFile/TLSKeyFile. Without a TLS listener nothing is needed.
func (h *Hub) setupTLS() error {
	c := h.cfg
	if c.TLSAddr == "" {
		return nil
	}
	names := append([]string{c.Hostname}, c.TLSSANs...)
	r, err := pki.Ensure(pki.Options{
		Dir: filepath.Join(c.DataDir, "pki"), Names: names,
		CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile,
		Now: c.Now, Logger: h.log.With("component", "pki"),
	})
	if err != nil {
		return err
	}
	h.tlsConfig = r.TLS
	h.caFile, h.certFile, h.keyFile = r.CAFile, r.CertFile, r.KeyFile
	return nil
}
