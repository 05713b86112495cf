package sim

import (
	"context"
	"fmt"
	"sync"

	"github.com/twinops/twinops/twinclient"
)

// Registry is what Provision needs from a hub. ServiceRegistry adapts a
// twinclient.Service; tests can adapt the hub's Go API.
type Registry interface {
	// EnsureDevice creates the device if it does not exist and returns its device
	// connection string and whether it was created now.
	EnsureDevice(ctx context.Context, id string) (conn string, created bool, err error)
	// SetTags merges tags into the device's twin.
	SetTags(ctx context.Context, id string, tags map[string]any) error
}

// Provision makes sure the o.Count devices o.DeviceIDs() exist, sets the profile tags
// (region, ring, model) on those it creates (an operator's later re-tagging is kept), and
// returns their connection strings in id order. It works o.Parallelism devices at a time
// and stops at the first error.
func Provision(ctx context.Context, r Registry, o Options) ([]string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	ids := o.DeviceIDs()
	conns := make([]string, len(ids))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, o.Parallelism)
	for i, id := range ids {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := provisionOne(ctx, r, o, id)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return conns, nil
}

// provisionOne ensures one device and tags it if new.
func provisionOne(ctx context.Context, r Registry, o Options, id string) (string, error) {
	c, created, err := r.EnsureDevice(ctx, id)
	if err != nil {
		return "", fmt.Errorf("sim: provisioning %s: %w", id, err)
	}
	if created {
		p := o.Profile(id)
		if err := r.SetTags(ctx, id, p.Tags()); err != nil {
			return "", fmt.Errorf("sim: tagging %s: %w", id, err)
		}
		if ds, ok := r.(desiredSetter); ok {
			if err := ds.SetDesired(ctx, id, p.Desired()); err != nil {
				return "", fmt.Errorf("sim: setting desired of %s: %w", id, err)
			}
		}
	}
	return c, nil
}

// ServiceRegistry adapts a service client (a policy with registry read/write and service
// connect, e.g. iothubowner) to Registry.
func ServiceRegistry(svc *twinclient.Service) Registry { return serviceRegistry{svc} }

// serviceRegistry is Registry over twinclient.Service.
type serviceRegistry struct{ svc *twinclient.Service }

var _ Registry = serviceRegistry{}

// EnsureDevice creates the device, treating "already exists" (409) as success.
func (s serviceRegistry) EnsureDevice(ctx context.Context, id string) (string, bool, error) {
	created := true
	if _, err := s.svc.CreateDevice(ctx, twinclient.Identity{DeviceID: id}); err != nil {
		if !twinclient.IsStatus(err, 409) {
			return "", false, err
		}
		created = false
	}
	c, err := s.svc.DeviceConnectionString(ctx, id)
	return c, created, err
}

// desiredSetter is what a Registry may also do: give a device it created its first desired
// properties, so that a new twin shows desired and reported side by side.
type desiredSetter interface {
	SetDesired(ctx context.Context, id string, desired map[string]any) error
}

var _ desiredSetter = serviceRegistry{}

// SetDesired merges desired properties with a patch that applies whatever the twin's etag.
func (s serviceRegistry) SetDesired(ctx context.Context, id string, desired map[string]any) error {
	_, err := s.svc.PatchTwin(ctx, id, twinclient.Patch{Desired: desired}, "*")
	return err
}

// SetTags merges tags with a patch that applies whatever the twin's etag.
func (s serviceRegistry) SetTags(ctx context.Context, id string, tags map[string]any) error {
	_, err := s.svc.PatchTwin(ctx, id, twinclient.Patch{Tags: tags}, "*")
	return err
}
