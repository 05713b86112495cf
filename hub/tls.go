package hub

import (
	"errors"
	"fmt"
	"os"
)

// setupTLS decides the server certificate: the one given (TLSCertFile/TLSKeyFile), or the
// hub's own, created with its CA on first start (hub/pki).
func (h *Hub) setupTLS() error {
	c := h.cfg
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("give both --tls-cert and --tls-key, or neither to use the hub's own certificate")
	}
	if c.TLSCertFile != "" {
		for _, f := range []string{c.TLSCertFile, c.TLSKeyFile} {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("TLS file: %w", err)
			}
		}
		h.certFile, h.keyFile = c.TLSCertFile, c.TLSKeyFile
		return nil
	}
	if c.TLSAddr == "" {
		return nil
	}
	return h.ensurePKI()
}
