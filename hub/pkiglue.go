package hub

import "errors"

// ensurePKI creates or loads the hub's CA and server certificate.
func (h *Hub) ensurePKI() error {
	return errors.New("hub/pki has not landed yet")
}
