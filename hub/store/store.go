// Package store is the hub's durable key-value store: Pebble with group commit. Writers
// queue records; one committer goroutine commits everything queued since its last commit
// as one Pebble batch with fsync, so N concurrent writers cost about one fsync per commit
// window instead of N. A write is acknowledged only once it is on disk.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrNotFound is returned by Get for a key that is not stored.
var ErrNotFound = errors.New("store: key not found")

// ErrClosed is returned (or passed to done) for writes after Close.
var ErrClosed = errors.New("store: closed")

// maxRetainedBatchBytes: a batch buffer larger than this is dropped after its commit
// rather than kept for reuse.
const maxRetainedBatchBytes = 4 << 20

// Options configure Open.
type Options struct {
	// Logger receives Pebble's and the store's messages; nil discards them. Pebble never
	// writes to stdout or stderr.
	Logger *slog.Logger
}

// Record is one write: Value stored under Key, or Key deleted when Delete is set.
type Record struct {
	Key, Value []byte
	Delete     bool
}

// Stats count the store's commits since Open.
type Stats struct {
	Commits uint64 // fsynced Pebble batches
	Writes  uint64 // Apply/ApplyAsync calls committed
	Records uint64 // records committed
}

// Store is a Pebble database with a group-committing writer. Its methods are safe for
// concurrent use.
type Store struct {
	db   *pebble.DB
	lock *pebble.Lock // directory lock, released after db.Close
	log  *slog.Logger

	mu      sync.Mutex
	batch   *pebble.Batch // records queued since the last commit
	waiters []func(error) // done callbacks for batch, in queue order
	closed  bool
	wake    chan struct{} // cap 1: something was queued, or Close was called
	stopped chan struct{} // closed when the committer has exited

	commits, writes, records atomic.Uint64

	beforeTake func() // test hook: called by the committer before it takes the queue
}

// Open opens (creating if needed) the store in dir and starts its committer.
func Open(dir string, o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", dir, err)
	}
	// Lock first ourselves: a pebble.Open that fails on the lock leaks a goroutine.
	lock, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		return nil, fmt.Errorf("store: %s is in use (is another twinops hub using this data directory?): %w", dir, err)
	}
	db, err := pebble.Open(dir, &pebble.Options{
		Logger:             pebbleLogger{log: log.With("component", "pebble")},
		FormatMajorVersion: pebble.FormatNewest,
		Lock:               lock,
	})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	s := &Store{
		db:      db,
		lock:    lock,
		log:     log,
		batch:   db.NewBatch(),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	go s.commitLoop()
	return s, nil
}

// Apply writes recs atomically (all or none) and returns once they are on disk with
// fsync. If ctx ends first, Apply returns ctx.Err() and the records may still be written.
// A record with an empty key is refused and nothing of the call is written.
func (s *Store) Apply(ctx context.Context, recs ...Record) error {
	ch := make(chan error, 1)
	s.ApplyAsync(recs, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ApplyAsync queues recs to be written atomically and returns at once; recs are copied,
// so the caller may reuse them. done is called exactly once: with nil from the committer
// goroutine after the records are on disk with fsync, or with the error that prevented
// it (from the committer, or from a new goroutine if the store is closed or a record is
// invalid). done must not block, and must not call Apply (the committer would wait for
// itself): it holds up every other writer's acknowledgement. Calling ApplyAsync from done
// is fine.
func (s *Store) ApplyAsync(recs []Record, done func(error)) {
	for i, r := range recs {
		if len(r.Key) == 0 {
			err := fmt.Errorf("store: record %d of %d has an empty key; nothing was written", i+1, len(recs))
			go done(err)
			return
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		go done(ErrClosed)
		return
	}
	for _, r := range recs {
		var err error
		if r.Delete {
			err = s.batch.Delete(r.Key, nil)
		} else {
			err = s.batch.Set(r.Key, r.Value, nil)
		}
		if err != nil { // only on a closed batch; cannot happen while open
			s.mu.Unlock()
			go done(fmt.Errorf("store: queue record: %w", err))
			return
		}
	}
	s.waiters = append(s.waiters, done)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// commitLoop is the committer goroutine: it commits what is queued, one batch at a time,
// until Close, then commits what is left and exits.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	spare := s.db.NewBatch()
	for {
		<-s.wake
		if s.beforeTake != nil {
			s.beforeTake()
		}
		for {
			s.mu.Lock()
			b, waiters, closed := s.batch, s.waiters, s.closed
			if len(waiters) == 0 {
				s.mu.Unlock()
				if closed {
					spare.Close()
					return
				}
				break
			}
			s.batch, s.waiters = spare, nil
			s.mu.Unlock()
			spare = s.commit(b, waiters)
		}
	}
}

// commit writes b with fsync, calls every waiter, and returns b reset for reuse.
func (s *Store) commit(b *pebble.Batch, waiters []func(error)) *pebble.Batch {
	err := b.Commit(pebble.Sync)
	if err != nil {
		s.log.Error("store commit failed", "records", b.Count(), "err", err)
		err = fmt.Errorf("store: commit: %w", err)
	} else {
		s.commits.Add(1)
		s.writes.Add(uint64(len(waiters)))
		s.records.Add(uint64(b.Count()))
	}
	for _, done := range waiters {
		done(err)
	}
	if len(b.Repr()) > maxRetainedBatchBytes {
		b.Close()
		return s.db.NewBatch()
	}
	b.Reset()
	return b
}

// Get returns a copy of the value stored under key, or ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %q: %w", key, err)
	}
	out := bytes.Clone(v)
	if err := closer.Close(); err != nil {
		return nil, fmt.Errorf("store: get %q: %w", key, err)
	}
	return out, nil
}

// Scan calls fn for every key starting with prefix, in key order, over a consistent
// snapshot. key and value are valid only during the call (copy them to keep them). If fn
// returns an error, Scan stops and returns it.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("store: scan %q: %w", prefix, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(it.Key(), v)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store: scan %q: %w", prefix, err)
	}
	return nil
}

// prefixEnd is the smallest key greater than every key with the prefix, or nil (no upper
// bound) when the prefix is empty or all 0xff.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Stats returns the commit counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writes.Load(), Records: s.records.Load()}
}

// Close commits everything queued (acknowledging it), stops the committer and closes
// Pebble. Writes after Close fail with ErrClosed. Calling Close again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.stopped
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.stopped
	s.batch.Close()
	err := s.db.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// pebbleLogger sends Pebble's messages to slog instead of stderr.
type pebbleLogger struct{ log *slog.Logger }

// Infof implements pebble.Logger.
func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Info(fmt.Sprintf(format, args...))
}

// Errorf implements pebble.Logger.
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}

// Fatalf implements pebble.Logger: Pebble calls it on unrecoverable corruption and
// expects it not to return, so it logs and panics.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error("pebble fatal: " + msg)
	panic("pebble: " + msg)
}
