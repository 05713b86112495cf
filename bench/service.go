package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/sas"
	"github.com/twinops/twinops/twinclient"
)

// remoteService is the back end of a hub reached over the network: twinclient.Service
// for patches and queries, and a connection of the load client subscribed to the batched
// event stream ($twinops/events/batch) for reported changes.
type remoteService struct {
	svc    *twinclient.Service
	events *Conn

	mu       sync.Mutex
	watchers map[int]func(id string, patch map[string]any)
	next     int
	track    *eventTracker // events reader goroutine only
	lost     atomic.Int64  // track.total(), for other goroutines
	bad      atomic.Int64  // undecodable batches
	subOnce  sync.Once     // subscribeEvents
	subErr   error
	log      *slog.Logger
}

// dialService connects to the hub described by info with a service connection string.
// Its connections' client ids derive from the device id prefix, so that load tools with
// different prefixes can share a hub without replacing each other's connections.
func dialService(ctx context.Context, info hub.Info, connStr, prefix string, log *slog.Logger) (*remoteService, error) {
	url := "mqtt://" + info.PlainAddr
	if info.PlainAddr == "" {
		url = "mqtts://" + info.TLSAddr
	}
	svc, err := twinclient.DialService(ctx, twinclient.ServiceOptions{URL: url, ConnectionString: connStr,
		CAFile: info.CAFile, ClientID: prefix, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("service connection to %s: %w", url, err)
	}
	s := &remoteService{svc: svc, watchers: map[int]func(string, map[string]any){},
		track: newEventTracker(), log: log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	cs, err := sas.ParseConnectionString(connStr)
	if err != nil {
		svc.Close()
		return nil, err
	}
	tok, err := cs.NewToken(time.Now().Add(24 * time.Hour))
	if err != nil {
		svc.Close()
		return nil, err
	}
	co := ConnectOptions{Addr: info.PlainAddr, ClientID: "service/" + prefix + "-events", Username: cs.HostName + "/service",
		Password: tok, CleanSession: true, KeepAlive: 60 * time.Second, OnPublish: s.onEvent}
	if info.PlainAddr == "" {
		pool, err := caPool(info.CAFile)
		if err != nil {
			svc.Close()
			return nil, err
		}
		co.Addr, co.TLS = info.TLSAddr, &tls.Config{RootCAs: pool, ServerName: "localhost"}
	}
	if s.events, err = Dial(ctx, co); err != nil {
		svc.Close()
		return nil, fmt.Errorf("event connection: %w", err)
	}
	return s, nil
}

// subscribeEvents subscribes the event connection to the batched event stream, once.
// Only the scenarios that watch reported changes (desired, mix) call it: decoding the
// stream of a reported storm (one event per patch) cost the load tool half of its CPU,
// which the hub it measures shares.
func (s *remoteService) subscribeEvents() error {
	s.subOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if q, err := s.events.Subscribe(ctx, topicEventsBatch, 0); err != nil || q > 1 {
			s.subErr = fmt.Errorf("subscribing to %s: granted %d, %v", topicEventsBatch, q, err)
		}
	})
	return s.subErr
}

func (s *remoteService) onEvent(topic string, payload []byte) {
	if topic != topicEventsBatch {
		return
	}
	changes, err := parseBatch(payload, s.track)
	s.lost.Store(s.track.total())
	if err != nil {
		if s.bad.Add(1) == 1 {
			s.log.Warn("bench: undecodable event batch", "err", err)
		}
	}
	if len(changes) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		for _, fn := range s.watchers {
			fn(c.id, c.patch)
		}
	}
}

// PatchDesired implements Service.
func (s *remoteService) PatchDesired(ctx context.Context, id string, patch map[string]any) (int64, error) {
	d, err := s.svc.PatchTwin(ctx, id, twinclient.Patch{Desired: patch}, "")
	if err != nil {
		return 0, err
	}
	return d.Desired.Version, nil
}

// WatchReported implements Service.
func (s *remoteService) WatchReported(fn func(id string, patch map[string]any)) (func(), error) {
	if err := s.subscribeEvents(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.next
	s.next++
	s.watchers[k] = fn
	return func() {
		s.mu.Lock()
		delete(s.watchers, k)
		s.mu.Unlock()
	}, nil
}

// Query implements Service.
func (s *remoteService) Query(ctx context.Context, q string) (int, error) {
	n := 0
	for page, err := range s.svc.Query(ctx, q, 1000) {
		if err != nil {
			return n, err
		}
		n += len(page)
	}
	return n, nil
}

// EventsLost is how many events (all kinds) the hub dropped for the load tool: gaps in
// seq per kind, and events a sync event says were sent but never arrived (the hub drops
// publishes for a client whose outgoing queue is full).
func (s *remoteService) EventsLost() int64 { return s.lost.Load() }

// Close ends both connections.
func (s *remoteService) Close() error {
	if s.events != nil {
		s.events.Close()
	}
	return s.svc.Close()
}
