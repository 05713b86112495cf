package main

import "github.com/twinops/twinops/ui/common"

var _ common.ExpectedCounter = (*backend)(nil)

// Expected is how many devices the fleet cache's first listing will hold while it is
// under way (twinclient.Status.Expected), 0 otherwise or before the connection is up:
// the console shows "loading 37000 of 100000 devices" while the fleet arrives. Called
// from the console's batch pump goroutine.
func (b *backend) Expected() int {
	b.mu.Lock()
	f := b.fleet
	b.mu.Unlock()
	if f == nil {
		return 0
	}
	return f.Status().Expected
}
