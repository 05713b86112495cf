package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/twinclient"
)

// RemoteTarget is a hub that is already running, reached at URL (mqtt://127.0.0.1:port
// for its plain loopback listener, mqtts://host:port with CAFile for TLS) with a service
// connection string that may create devices. PID, if known, gives its CPU and memory.
type RemoteTarget struct {
	URL, ConnectionString, CAFile string
	PID                           int
	Log                           *slog.Logger

	svc    *remoteService
	info   hub.Info
	tls    *tls.Config
	conns  []string
	creds  []ConnectOptions
	prefix string
}

// Name implements Target.
func (r *RemoteTarget) Name() string { return "hub at " + r.URL }

// Prepare implements Target: it connects the service side and creates missing devices.
func (r *RemoteTarget) Prepare(ctx context.Context, prefix string, n int) error {
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" || (u.Scheme != "mqtt" && u.Scheme != "mqtts") {
		return fmt.Errorf("hub URL %q: want mqtt://127.0.0.1:PORT or mqtts://HOST:PORT", r.URL)
	}
	r.info = hub.Info{CAFile: r.CAFile}
	if u.Scheme == "mqtt" {
		r.info.PlainAddr = u.Host
	} else {
		r.info.TLSAddr = u.Host
		pool, err := caPool(r.CAFile)
		if err != nil {
			return fmt.Errorf("the hub's CA (--ca): %w", err)
		}
		host, _, _ := net.SplitHostPort(u.Host)
		r.tls = &tls.Config{RootCAs: pool, ServerName: host}
	}
	if r.svc, err = dialService(ctx, r.info, r.ConnectionString, prefix, r.Log); err != nil {
		return err
	}
	r.prefix = prefix
	r.conns = make([]string, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("%s-%d", prefix, i)
			_, err := r.svc.svc.CreateDevice(ctx, twinclient.Identity{DeviceID: id})
			var te *twinclient.Error
			if err != nil && !(errors.As(err, &te) && te.Status == 409) {
				mu.Lock()
				first = errors.Join(first, fmt.Errorf("creating %s: %w", id, err))
				mu.Unlock()
				return
			}
			cs, err := r.svc.svc.DeviceConnectionString(ctx, id)
			if err != nil {
				mu.Lock()
				first = errors.Join(first, err)
				mu.Unlock()
				return
			}
			r.conns[i] = cs
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	addr := r.info.PlainAddr
	if addr == "" {
		addr = r.info.TLSAddr
	}
	r.creds, err = credentialsFor(r.conns, addr, r.tls)
	return err
}

// Device implements Target.
func (r *RemoteTarget) Device(i int) ConnectOptions { return r.creds[i] }

// Service implements Target.
func (r *RemoteTarget) Service() Service {
	if r.svc == nil {
		return nil
	}
	return r.svc
}

// Sample implements Target.
func (r *RemoteTarget) Sample() (Sample, bool) {
	if r.PID == 0 {
		return Sample{}, false
	}
	s, err := SamplePID(r.PID)
	return s, err == nil
}

// Close implements Target.
func (r *RemoteTarget) Close() error {
	if r.svc != nil {
		return r.svc.Close()
	}
	return nil
}
