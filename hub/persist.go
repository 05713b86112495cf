package hub

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinops/twinops/hub/store"
	"github.com/twinops/twinops/twin"
)

// storeGlue is the hub's view of hub/store: group-committed writes, the start-up load and
// the connection sequence numbers.
type storeGlue struct {
	st *store.Store
}

// seqBlock is how many connection sequence numbers are reserved per durable write of the
// high-water mark: after a crash the next start continues above the reserved block, so
// numbers never repeat or go back.
const seqBlock = 1 << 16

// openStore opens the store, loads identities and twins into the registry and the shards
// (the store is the truth at start-up: every device starts disconnected), and prepares
// the connection sequence.
func (h *Hub) openStore() error {
	start := time.Now()
	st, err := store.Open(filepath.Join(h.cfg.DataDir, "store"), store.Options{Logger: h.log.With("component", "store")})
	if err != nil {
		return err
	}
	h.st = &storeGlue{st: st}
	opened := time.Since(start)
	// The load allocates the whole fleet at once: collect garbage less often meanwhile.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	identErr := make(chan error, 1)
	go func() { identErr <- h.loadIdentities() }()
	err = h.loadTwins()
	if ierr := <-identErr; err == nil {
		err = ierr
	}
	if err != nil {
		st.Close()
		return err
	}
	if err := h.initSeq(); err != nil {
		st.Close()
		return err
	}
	h.log.Info("store loaded", "identities", h.reg.len(), "twins", h.TwinCount(),
		"open", opened.Round(time.Millisecond), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (h *Hub) loadIdentities() error {
	return h.st.st.Scan([]byte(identPrefix), func(k, v []byte) error {
		x, err := unmarshalIdentity(v)
		if err != nil {
			return fmt.Errorf("stored identity %q is corrupt: %w", k, err)
		}
		h.reg.ids[x.DeviceID] = x
		return nil
	})
}

// loadTwins decodes the stored twins on every core.
func (h *Hub) loadTwins() error {
	type raw struct {
		id string
		b  []byte
	}
	work := make(chan []raw, 8)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards the shard maps during the load
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range work {
				docs := make([]*twin.Doc, 0, len(chunk))
				for _, r := range chunk {
					d := new(twin.Doc)
					if err := d.UnmarshalJSON(r.b); err != nil {
						select {
						case errs <- fmt.Errorf("stored twin %q is corrupt: %w", r.id, err):
						default:
						}
						continue
					}
					d.ConnectionState = "Disconnected"
					docs = append(docs, d)
				}
				mu.Lock()
				for _, d := range docs {
					h.shardFor(d.DeviceID).docs[d.DeviceID] = d
				}
				mu.Unlock()
			}
		}()
	}
	var chunk []raw
	err := h.st.st.Scan([]byte(twinPrefix), func(k, v []byte) error {
		chunk = append(chunk, raw{id: string(k[len(twinPrefix):]), b: append([]byte(nil), v...)})
		if len(chunk) == 512 {
			work <- chunk
			chunk = nil
		}
		return nil
	})
	if len(chunk) > 0 {
		work <- chunk
	}
	close(work)
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	return nil
}

// initSeq reads the connection sequence high-water mark and durably reserves the next
// block.
func (h *Hub) initSeq() error {
	var next uint64
	b, err := h.st.st.Get([]byte(seqKey))
	switch {
	case err == nil && len(b) == 8:
		next = binary.BigEndian.Uint64(b)
	case err == nil:
		return fmt.Errorf("stored connection sequence is corrupt (%d bytes)", len(b))
	case err != store.ErrNotFound:
		return err
	}
	limit := next + seqBlock
	if err := h.st.putSeq(limit); err != nil {
		return err
	}
	// seq is called by the event bus under its lock, so next and asked need no lock of
	// their own. It never waits for the disk (that would hold the bus lock across an fsync,
	// and the completions that push events would stall behind it): half-way through the
	// durable block it asks for the next one asynchronously, and durable is raised when
	// that write is on disk.
	var durable atomic.Uint64
	durable.Store(limit)
	asked := limit // the highest reservation asked for
	h.events.seq = func() uint64 {
		next++
		if d := durable.Load(); asked == d && next >= d-seqBlock/2 {
			asked = d + seqBlock
			h.reserveSeq(asked, &durable)
		}
		if next >= durable.Load() {
			h.log.Warn("connection sequence ran past its durable reservation (the store is slow); numbers may repeat after a crash", "seq", next)
		}
		return next
	}
	return nil
}

// reserveSeq durably raises the connection sequence high-water mark to limit and then
// publishes it in durable. A failure is fatal for the hub: numbers could repeat after a
// crash, which breaks the strictly increasing contract.
func (h *Hub) reserveSeq(limit uint64, durable *atomic.Uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], limit)
	h.st.st.ApplyAsync([]store.Record{{Key: []byte(seqKey), Value: b[:]}}, func(err error) {
		if err != nil {
			h.storeFailed(fmt.Errorf("reserve connection sequence numbers: %w", err))
			return
		}
		durable.Store(limit)
	})
}

func (g *storeGlue) putSeq(v uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return g.st.Apply(context.Background(), store.Record{Key: []byte(seqKey), Value: b[:]})
}

func (g *storeGlue) close() error { return g.st.Close() }
