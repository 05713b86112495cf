package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twinclient"
	"github.com/twinops/twinops/ui"
	"github.com/twinops/twinops/ui/common"
)

// redialEvery is how often the console dials a remote hub that did not answer.
const redialEvery = 5 * time.Second

// backend adapts twinclient to ui.Backend. The connection is made in the background so
// that the first frame shows at once; until it is up, Next reports the start-up state.
type backend struct {
	ctx   context.Context
	log   *slog.Logger
	info  common.HubInfo
	ready chan struct{}
	// retry, when set, is how long start waits before dialling a hub that did not
	// answer again; each failure goes to Next through failed (the newest only).
	retry  time.Duration
	failed chan error

	mu      sync.Mutex
	svc     *twinclient.Service
	fleet   *twinclient.Fleet
	cleanup func()
	err     error
	told    bool // the starting status has been returned
	errTold bool // the start-up error has been returned
}

var _ ui.Backend = (*backend)(nil)

func newBackend(ctx context.Context, log *slog.Logger) *backend {
	return &backend{ctx: ctx, log: log, ready: make(chan struct{}), failed: make(chan error, 1)}
}

// start connects (runs on its own goroutine) and opens the fleet cache. With b.retry
// set, a failed dial is reported to Next and tried again until it works or ctx ends
// (a console started before its hub, or while the hub restarts, connects when it is up).
func (b *backend) start(dial func() (*twinclient.Service, func(), error)) {
	svc, cleanup, err := dial()
	for err != nil && b.retry > 0 && b.ctx.Err() == nil {
		b.log.Warn("console: cannot reach the hub; trying again", "err", err, "in", b.retry)
		select { // keep only the newest failure for Next
		case <-b.failed:
		default:
		}
		b.failed <- err
		select {
		case <-time.After(b.retry):
			svc, cleanup, err = dial()
		case <-b.ctx.Done():
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer close(b.ready)
	if err != nil {
		b.err = err
		b.log.Error("console: cannot reach the hub", "err", err)
		if cleanup != nil {
			cleanup()
		}
		return
	}
	b.svc, b.cleanup = svc, cleanup
	b.fleet = svc.Fleet(b.ctx)
}

func (b *backend) close() {
	<-b.ready
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.svc != nil {
		b.svc.Close()
	}
	if b.cleanup != nil {
		b.cleanup()
	}
}

func (b *backend) service() (*twinclient.Service, error) {
	select {
	case <-b.ready:
	default:
		return nil, errors.New("not connected to the hub yet; try again in a moment")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil, b.err
	}
	return b.svc, nil
}

// Next returns the fleet cache's next batch, converted.
func (b *backend) Next(ctx context.Context) (common.Batch, error) {
	b.mu.Lock()
	first := !b.told
	b.told = true
	b.mu.Unlock()
	if first {
		state := "starting the embedded hub and demo fleet"
		if !b.info.Embedded {
			state = common.StateConnecting
		}
		return common.Batch{Status: common.Status{State: state}}, nil
	}
	select {
	case <-b.ready:
	case err := <-b.failed:
		msg := err.Error() + "; trying again every " + b.retry.String()
		return common.Batch{Status: common.Status{State: "failed", LastError: msg, ErrorTime: time.Now()}}, nil
	case <-ctx.Done():
		return common.Batch{}, ctx.Err()
	}
	b.mu.Lock()
	fleet, err := b.fleet, b.err
	b.mu.Unlock()
	if err != nil {
		b.mu.Lock()
		told := b.errTold
		b.errTold = true
		b.mu.Unlock()
		if !told {
			return common.Batch{Status: common.Status{State: "failed", LastError: err.Error(), ErrorTime: time.Now()}}, nil
		}
		<-ctx.Done() // nothing more will come; the status line shows the error
		return common.Batch{}, ctx.Err()
	}
	tb, err := fleet.Next(ctx)
	if err != nil {
		return common.Batch{}, err
	}
	return convertBatch(tb), nil
}

func convertBatch(tb twinclient.Batch) common.Batch {
	out := common.Batch{Twins: tb.Twins, Events: make([]common.Event, len(tb.Events))}
	for i, e := range tb.Events {
		out.Events[i] = common.Event{Time: e.Time, DeviceID: e.DeviceID, Kind: e.Kind, Version: e.Version, Op: e.Op, Patch: e.Patch}
	}
	out.Status = common.Status{State: tb.Status.State.String(), LastError: tb.Status.LastError, ErrorTime: tb.Status.LastErrorTime,
		Expected: tb.Status.Expected}
	return out
}

// GetTwin reads a twin from the hub.
func (b *backend) GetTwin(ctx context.Context, id string) (*twin.Doc, error) {
	svc, err := b.service()
	if err != nil {
		return nil, err
	}
	d, err := svc.GetTwin(ctx, id)
	return d, wrapErr(err)
}

// PatchTwin patches desired and tags with an etag.
func (b *backend) PatchTwin(ctx context.Context, id string, p common.Patch, etag string) (*twin.Doc, error) {
	svc, err := b.service()
	if err != nil {
		return nil, err
	}
	d, err := svc.PatchTwin(ctx, id, twinclient.Patch{Desired: p.Desired, Tags: p.Tags}, etag)
	return d, wrapErr(err)
}

// Info describes the hub.
func (b *backend) Info() common.HubInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.info
}

func (b *backend) setInfo(i common.HubInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.info = i
}

// dialLocal connects to the hub already running on a data dir, with the credentials it
// keeps there (as `twinops twin` and the other commands do).
func dialLocal(ctx context.Context, dir string, log *slog.Logger) (*twinclient.Service, error) {
	c := cliConn{data: dir}
	o := twinclient.ServiceOptions{Logger: log}
	if err := c.local(&o, defaultIO()); err != nil {
		return nil, err
	}
	return twinclient.DialService(ctx, o)
}

// hubError gives twinclient's error answers the status the UI looks for.
type hubError struct{ e *twinclient.Error }

// Error returns the hub's answer as twinclient formats it.
func (h hubError) Error() string { return h.e.Error() }

// StatusCode is the 3-digit status the hub answered with (412 on a stale etag).
func (h hubError) StatusCode() int { return h.e.Status }

// Unwrap gives the twinclient error.
func (h hubError) Unwrap() error { return h.e }

func wrapErr(err error) error {
	var te *twinclient.Error
	if errors.As(err, &te) {
		return hubError{te}
	}
	return err
}
