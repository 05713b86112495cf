package twinclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/twinops/twinops/twin"
)

// errLost means events were lost (a gap in seq, a sync beyond what arrived, a full
// queue): the cache lists the fleet again.
var errLost = errors.New("events were lost; listing the fleet again")

// errConnChanged means the connection dropped or was replaced during a session.
var errConnChanged = errors.New("connection changed")

// run is the cache's one worker goroutine: wait for a connection, list, then watch,
// and start over after a reconnect or a loss.
func (f *Fleet) run() {
	defer func() {
		f.setState(Stopped)
		close(f.stopped)
	}()
	sessions := 0
	var backoff time.Duration
	for {
		for !f.up.Load() {
			select {
			case <-f.wake:
			case <-f.ctx.Done():
				return
			}
		}
		gen := f.gen.Load()
		began := time.Now()
		err := f.session(gen, sessions)
		sessions++
		if f.ctx.Err() != nil {
			return
		}
		// Listing again right away is right after a rare loss; after losses in a row it
		// would add a full listing to a hub that is already behind, so wait longer each time.
		if time.Since(began) > time.Minute {
			backoff = 0
		}
		switch {
		case errors.Is(err, errConnChanged), errors.Is(err, ErrDisconnected):
			continue
		case errors.Is(err, errLost):
			f.fail("events lost", nil)
		case err != nil:
			f.fail("fleet sync", err)
			backoff = max(backoff, 250*time.Millisecond)
		}
		if backoff > 0 {
			select {
			case <-time.After(backoff):
			case <-f.ctx.Done():
				return
			}
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
	}
}

// watch tracks the event-stream positions of one session.
type watch struct {
	epoch string
	last  map[string]int64
}

// check accepts an event of kind with sequence seq: anything up to the position known
// when the listing started is covered by it; after that seq must grow by one.
func (w *watch) check(kind string, seq int64) bool {
	last := w.last[kind]
	switch {
	case seq <= last:
		return true
	case seq == last+1:
		w.last[kind] = seq
		return true
	}
	return false
}

// session lists the fleet and then applies events until the connection changes or
// events are lost.
func (f *Fleet) session(gen uint64, n int) error {
	f.takeQueue(nil) // the listing below covers everything queued so far
	f.setState(Syncing)
	info, err := f.svc.HubInfo(f.ctx)
	if err != nil {
		return err
	}
	w := &watch{epoch: info.Epoch, last: map[string]int64{}}
	for k, v := range info.Seq {
		w.last[k] = v
	}
	if f.beginListing(info.Devices) {
		// Nothing held (the first listing): each page goes into the cache as it is
		// decoded, so a consumer can show the fleet arriving instead of waiting for all
		// of it. Events wait in the queue until the listing is complete, as below.
		if err := f.list(f.ctx, f.installPage); err != nil {
			return err
		}
		f.endListing(n > 0)
	} else {
		listed := make(map[string]*twin.Doc, info.Devices)
		err := f.list(f.ctx, func(docs []*twin.Doc) {
			for _, d := range docs {
				listed[d.DeviceID] = d
			}
		})
		if err != nil {
			return err
		}
		f.reconcile(listed, n > 0)
	}
	var buf []rawEvent
	for {
		if f.gen.Load() != gen || !f.up.Load() {
			return errConnChanged
		}
		q, over := f.takeQueue(buf)
		buf = nil // the queue may now be appending into it
		if over {
			return errLost
		}
		if len(q) == 0 {
			buf = q
			select {
			case <-f.wake:
			case <-f.ctx.Done():
				return f.ctx.Err()
			}
			continue
		}
		if err := f.apply(q, w); err != nil {
			return err
		}
		clear(q)
		buf = q
	}
}

// list pages through SELECT * FROM devices: one goroutine fetches the next page while
// GOMAXPROCS decoders turn the previous ones into twins. put gets each decoded page, on
// list's goroutine; after an error it gets no more.
func (f *Fleet) list(ctx context.Context, put func([]*twin.Doc)) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan listedPage, 2)
	var fetchErr error
	go func() {
		defer close(pages)
		cont := ""
		for {
			p, next, err := f.fetchListPage(lctx, cont)
			if err != nil {
				fetchErr = err // read after pages is closed
				return
			}
			select {
			case pages <- p:
			case <-lctx.Done():
				return
			}
			if next == "" {
				return
			}
			cont = next
		}
	}()
	type decoded struct {
		docs []*twin.Doc
		err  error
	}
	results := make(chan decoded, 4)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Twins share keys, common values and equal small objects: installLocked
			// marks their sections shared, so they are copied before any write.
			dec := twin.Decoder{ShareValues: true}
			for p := range pages {
				var r decoded
				if r.docs, r.err = decodePage(&dec, p); r.err != nil {
					r.err = fmt.Errorf("listing the fleet: a twin the hub sent does not decode: %w", r.err)
				}
				results <- r
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	var err error
	for r := range results {
		if r.err != nil && err == nil {
			err = r.err
			cancel()
		}
		if err == nil {
			put(r.docs)
		}
	}
	if err != nil {
		return err
	}
	if fetchErr != nil {
		return fmt.Errorf("listing the fleet: %w", fetchErr)
	}
	return nil
}

// reconcile makes the held copy equal to a fresh listing: twins that differ are replaced,
// twins that are gone are dropped.
func (f *Fleet) reconcile(listed map[string]*twin.Doc, resync bool) {
	f.mu.Lock()
	for id := range f.docs {
		if _, ok := listed[id]; !ok {
			f.removeLocked(id)
		}
	}
	for id, d := range listed {
		if e := f.docs[id]; e != nil && same(e.doc, d) {
			continue
		}
		f.installLocked(id, d)
	}
	f.syncedLocked(resync)
	f.mu.Unlock()
	f.signal()
}

// beginListing says whether the listing about to start is streamed (nothing is held:
// pages go into the cache as they come, installPage) and, if so, sizes the map of twins
// for the devices the hub has and sets Status.Expected. The dirty set is not sized: Next
// empties it every page or few, and ranging over it costs its capacity.
func (f *Fleet) beginListing(devices int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.docs) > 0 {
		return false
	}
	f.docs = make(map[string]*entry, devices)
	f.status.Expected = devices
	f.changed = true
	return true
}

// installPage puts one page of a streamed listing into the cache and tells Next.
func (f *Fleet) installPage(docs []*twin.Doc) {
	f.mu.Lock()
	for _, d := range docs {
		f.installLocked(d.DeviceID, d)
	}
	f.changed = true
	held := len(f.docs)
	f.mu.Unlock()
	f.signal()
	if hook := f.paged.Load(); hook != nil {
		(*hook)(held)
	}
}

// endListing marks a streamed listing complete.
func (f *Fleet) endListing(resync bool) {
	f.mu.Lock()
	f.syncedLocked(resync)
	f.mu.Unlock()
	f.signal()
}

func (f *Fleet) syncedLocked(resync bool) {
	f.status.State = Synced
	f.status.SyncedAt = time.Now()
	f.status.Expected = 0
	if resync {
		f.status.Resyncs++
	}
	f.changed = true
}

// same reports whether two states of a twin are the same as far as the hub's writes go.
func same(a, b *twin.Doc) bool {
	return a.Version == b.Version && a.Etag == b.Etag && a.ConnectionState == b.ConnectionState &&
		a.Status == b.Status && a.StatusReason == b.StatusReason
}

// installLocked puts a twin read from the hub in place of whatever was held.
func (f *Fleet) installLocked(id string, d *twin.Doc) {
	e := f.docs[id]
	if e == nil {
		e = &entry{}
		f.docs[id] = e
		f.status.Devices++
	} else if e.doc.ConnectionState == "Connected" {
		f.status.Connected--
	}
	// its sections may share maps with other twins (Decoder.ShareValues): copy before writing
	e.doc, e.shared = d, sharedTags|sharedDesired|sharedReported
	if d.ConnectionState == "Connected" {
		f.status.Connected++
	}
	f.dirty[id] = e
}

func (f *Fleet) removeLocked(id string) {
	e := f.docs[id]
	if e == nil {
		return
	}
	if e.doc.ConnectionState == "Connected" {
		f.status.Connected--
	}
	delete(f.docs, id)
	f.status.Devices--
	f.dirty[id] = nil
}

// pushLocked adds an event for the consumer; when the ring is full it overwrites the
// oldest in place (no shifting under the lock while the consumer is behind).
func (f *Fleet) pushLocked(ev Event) {
	if len(f.ring) < maxRing {
		f.ring = append(f.ring, ev)
		return
	}
	f.ring[f.ringOld] = ev
	f.ringOld = (f.ringOld + 1) % len(f.ring)
	f.status.EventsDropped++
}

// apply applies a run of queued events, then re-reads the twins whose changes were
// missed. It returns errLost when the stream shows a loss.
func (f *Fleet) apply(q []rawEvent, w *watch) error {
	reread := map[string]struct{}{}
	var lost error
	f.mu.Lock()
	for _, r := range q {
		if err := f.applyOneLocked(r, w, reread); err != nil {
			lost = err
			break
		}
	}
	f.mu.Unlock()
	f.signal()
	if lost != nil {
		return lost
	}
	return f.reread(reread)
}

func (f *Fleet) applyOneLocked(r rawEvent, w *watch, reread map[string]struct{}) error {
	kind, _, _ := strings.Cut(r.topic, "/")
	if kind != "batch" {
		return f.applyEventLocked(kind, r.payload, w, reread)
	}
	events, ok := splitArrayMember(r.payload, "events")
	if !ok {
		f.svc.log.Warn("fleet: undecodable event batch")
		return errLost
	}
	for _, e := range events {
		if err := f.applyEventLocked(eventKind(e), e, w, reread); err != nil {
			return err
		}
	}
	return nil
}

// applyEventLocked applies one event of kind (twin, connection, identity, sync).
func (f *Fleet) applyEventLocked(kind string, payload []byte, w *watch, reread map[string]struct{}) error {
	r := rawEvent{payload: payload}
	switch kind {
	case "twin":
		ev, err := parseTwinEvent(r.payload)
		if err != nil {
			f.svc.log.Warn("fleet: undecodable twin event", "err", err)
			return errLost
		}
		if !w.check("twin", ev.seq) {
			return errLost
		}
		f.applyTwinLocked(ev, reread)
	case "connection":
		var ev connEvent
		if err := json.Unmarshal(r.payload, &ev); err != nil {
			return errLost
		}
		if !w.check("connection", ev.Seq) {
			return errLost
		}
		f.applyConnLocked(ev)
	case "identity":
		var ev identityEvent
		if err := json.Unmarshal(r.payload, &ev); err != nil {
			return errLost
		}
		if !w.check("identity", ev.Seq) {
			return errLost
		}
		f.applyIdentityLocked(ev, reread)
	case "sync":
		var ev syncEvent
		if err := json.Unmarshal(r.payload, &ev); err != nil {
			return errLost
		}
		if ev.Epoch != w.epoch {
			return errLost
		}
		for k, v := range ev.Seq {
			if v > w.last[k] {
				return errLost
			}
		}
	}
	return nil
}

func (f *Fleet) applyTwinLocked(ev twinEvent, reread map[string]struct{}) {
	id := ev.change.DeviceID
	e := f.docs[id]
	if e == nil {
		reread[id] = struct{}{}
		return
	}
	if _, pending := reread[id]; pending || ev.change.Version <= e.doc.Version {
		return
	}
	if ev.change.Version > e.doc.Version+1 {
		reread[id] = struct{}{}
		return
	}
	d := e.writable(ev.change.Section)
	if err := d.ApplyChange(ev.change); err != nil {
		reread[id] = struct{}{}
		return
	}
	if ev.etag != "" {
		d.Etag = ev.etag
	}
	if ev.change.Section == twin.Reported && ev.change.Time.After(d.LastActivityTime) {
		d.LastActivityTime = ev.change.Time
	}
	f.dirty[id] = e
	f.pushLocked(Event{Time: ev.change.Time, DeviceID: id, Kind: ev.change.Section.String(),
		Version: ev.change.Version, Op: ev.change.Op, Patch: ev.change.Patch})
}

func (f *Fleet) applyConnLocked(ev connEvent) {
	e := f.docs[ev.DeviceID]
	if e == nil || ev.SequenceNumber <= e.connSeq {
		return
	}
	e.connSeq = ev.SequenceNumber
	kind := "disconnected"
	if ev.State == "Connected" {
		kind = "connected"
	}
	if e.doc.ConnectionState != ev.State {
		if e.doc.ConnectionState == "Connected" {
			f.status.Connected--
		}
		if ev.State == "Connected" {
			f.status.Connected++
		}
		d := e.writableDoc()
		d.ConnectionState = ev.State
		if ev.Time.After(d.LastActivityTime) {
			d.LastActivityTime = ev.Time
		}
		f.dirty[ev.DeviceID] = e
	}
	f.pushLocked(Event{Time: ev.Time, DeviceID: ev.DeviceID, Kind: kind})
}

func (f *Fleet) applyIdentityLocked(ev identityEvent, reread map[string]struct{}) {
	switch ev.Op {
	case "deleted":
		delete(reread, ev.DeviceID)
		f.removeLocked(ev.DeviceID)
	default: // created, updated: the twin holds the identity's fields
		reread[ev.DeviceID] = struct{}{}
	}
	f.pushLocked(Event{Time: ev.Time, DeviceID: ev.DeviceID, Kind: ev.Op})
}
