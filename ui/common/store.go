package common

import (
	"sort"
	"strings"
	"time"

	"github.com/twinops/twinops/twin"
)

const (
	maxEvents  = 10000 // events kept for the stream
	maxHistory = 32    // changes kept per device
	rateWindow = 60    // seconds of event rate kept for the sparkline
)

// DiffLine is one changed leaf in a twin's recent change.
type DiffLine struct {
	Path            string
	Old, New        any
	HadOld, Deleted bool
}

// HistoryEntry is one recent change of a twin, as a diff against the previous version.
type HistoryEntry struct {
	Event
	Lines []DiffLine
}

// Counts are the fleet totals shown at the top of the fleet view and in the status line.
type Counts struct {
	// Pending counts devices with a desired change not yet reported back, failed ones
	// excepted: a device whose firmware update failed counts once, as Failed.
	Total, Connected, Pending, Failed, Disabled int
	// Different counts devices that reported after a desired change and still disagree
	// with it (a failed device is counted as failed only).
	Different int
}

// record is what the store keeps per device: the twin, its summary, the flags the counts
// are made of (so that replacing a twin does not re-examine the old one) and its recent
// history. One map lookup finds all of it.
type record struct {
	doc                         *twin.Doc
	sum                         twin.Summary
	connected, failed, disabled bool
	hist                        []HistoryEntry
	stamp                       uint64 // the batch that last recorded history
	batchStart                  int    // index in hist of that batch's first entry
}

// Store is the console's live copy of the fleet, fed one batch at a time. It is only
// touched from the bubbletea goroutine (Update and View); commands never read it.
type Store struct {
	recs    map[string]*record
	batch   uint64
	events  []Event // ring buffer
	evStart int
	evTotal int64
	rate    [rateWindow]int
	rateSec int64
	counts  Counts
	Status  Status
	Synced  bool // the first full list has arrived
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{recs: make(map[string]*record)}
}

// Len is the number of devices.
func (s *Store) Len() int { return s.counts.Total }

// Get returns a device's twin (an immutable snapshot) or nil.
func (s *Store) Get(id string) *twin.Doc {
	if r := s.recs[id]; r != nil {
		return r.doc
	}
	return nil
}

// Summary returns the cached desired-vs-reported summary of a device.
func (s *Store) Summary(id string) twin.Summary {
	if r := s.recs[id]; r != nil {
		return r.sum
	}
	return twin.Summary{}
}

// IsFailed reports whether a device counts as failed (see Failed), from the cache.
func (s *Store) IsFailed(id string) bool {
	r := s.recs[id]
	return r != nil && r.failed
}

// Entry returns a device's twin, summary and failed flag with one lookup (nil when absent).
func (s *Store) Entry(id string) (*twin.Doc, twin.Summary, bool) {
	if r := s.recs[id]; r != nil {
		return r.doc, r.sum, r.failed
	}
	return nil, twin.Summary{}, false
}

// Counts returns the fleet totals.
func (s *Store) Counts() Counts { return s.counts }

// Each calls fn for every device in no particular order.
func (s *Store) Each(fn func(*twin.Doc)) {
	for _, r := range s.recs {
		if r.doc != nil {
			fn(r.doc)
		}
	}
}

// IDs returns every device id, sorted.
func (s *Store) IDs() []string {
	ids := make([]string, 0, len(s.recs))
	for id, r := range s.recs {
		if r.doc != nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// History returns a device's recent changes, newest last.
func (s *Store) History(id string) []HistoryEntry {
	if r := s.recs[id]; r != nil {
		return r.hist
	}
	return nil
}

// EventCount is how many events the store has seen.
func (s *Store) EventCount() int64 { return s.evTotal }

// Events returns the kept events, oldest first, as a new slice.
func (s *Store) Events() []Event {
	out := make([]Event, 0, len(s.events))
	out = append(out, s.events[s.evStart:]...)
	return append(out, s.events[:s.evStart]...)
}

// Rate returns events per second for the last n whole seconds before now, oldest first.
func (s *Store) Rate(now time.Time, n int) []int {
	if n > rateWindow {
		n = rateWindow
	}
	out := make([]int, n)
	cur := now.Unix()
	for i := 0; i < n; i++ {
		sec := cur - int64(n-i)
		if sec <= s.rateSec && s.rateSec-sec < rateWindow {
			out[i] = s.rate[sec%rateWindow]
		}
	}
	return out
}

// Failed reports whether a twin counts as failed: the device reports firmware.status
// "failed". A device that disagrees with desired is "different" (Summary.Different), not
// failed: it may simply not know a desired key.
func Failed(d *twin.Doc, _ twin.Summary) bool {
	st, _ := twin.Lookup(d.Reported.Values, "firmware", "status")
	return st == "failed"
}

// FirmwareError is the error a device reports for its firmware update (firmware.lastError,
// or firmware.error), "" when it reports none or d is nil.
func FirmwareError(d *twin.Doc) string {
	if d == nil {
		return ""
	}
	for _, k := range []string{"lastError", "error"} {
		if e, ok := twin.Lookup(d.Reported.Values, "firmware", k); ok && e != nil {
			return Plain(e)
		}
	}
	return ""
}

func (s *Store) account(r *record, sign int) {
	s.counts.Total += sign
	if r.connected {
		s.counts.Connected += sign
	}
	// A failed device is counted once, as failed: not also as pending or different.
	if r.failed {
		s.counts.Failed += sign
	} else {
		if r.sum.Pending > 0 {
			s.counts.Pending += sign
		}
		if r.sum.Different > 0 {
			s.counts.Different += sign
		}
	}
	if r.disabled {
		s.counts.Disabled += sign
	}
}

// Apply folds a batch into the store and says what changed.
func (s *Store) Apply(b Batch) FleetChangedMsg {
	msg := FleetChangedMsg{Changed: make(map[string]bool, len(b.Twins)), Events: b.Events}
	if b.Status.State != "" {
		s.Status = b.Status
		if b.Status.State == StateSynced {
			s.Synced = true
		}
	}
	s.batch++
	// first listing (whole, or its first pages when it arrives as it comes): size the map once
	if n := max(len(b.Twins), b.Status.Expected); len(s.recs) == 0 && n > 1024 {
		s.recs = make(map[string]*record, n)
	}
	s.recordHistory(b)
	// The per-twin work (the desired-vs-reported walk) is pure: do it on every core.
	ids := make([]string, 0, len(b.Twins))
	docs := make([]*twin.Doc, 0, len(b.Twins))
	for id, d := range b.Twins {
		ids, docs = append(ids, id), append(docs, d)
	}
	sums := make([]twin.Summary, len(ids))
	failed := make([]bool, len(ids))
	Parallel(len(ids), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if d := docs[i]; d != nil {
				sums[i] = twin.Summarize(d)
				failed[i] = Failed(d, sums[i])
			}
		}
	})
	msg.Fresh = make([]FreshTwin, 0, len(ids))
	for i, id := range ids {
		d := docs[i]
		r := s.recs[id]
		had := r != nil && r.doc != nil
		if had {
			s.account(r, -1)
		}
		if d == nil {
			if r != nil {
				delete(s.recs, id)
				msg.Added = msg.Added || had
			}
			msg.Changed[id] = true
			continue
		}
		if r == nil {
			r = &record{}
			s.recs[id] = r
		}
		if !had {
			msg.Added = true
		}
		r.doc, r.sum = d, sums[i]
		r.connected, r.failed, r.disabled = d.ConnectionState == "Connected", failed[i], d.Status == "disabled"
		s.account(r, 1)
		msg.Changed[id] = false
		msg.Fresh = append(msg.Fresh, FreshTwin{ID: id, Doc: d, Sum: sums[i], Failed: failed[i]})
	}
	for _, e := range b.Events {
		s.addEvent(e)
	}
	return msg
}

func (s *Store) addEvent(e Event) {
	s.evTotal++
	if len(s.events) < maxEvents {
		s.events = append(s.events, e)
	} else {
		s.events[s.evStart] = e
		s.evStart = (s.evStart + 1) % maxEvents
	}
	sec := e.Time.Unix()
	if sec > s.rateSec {
		for t := s.rateSec + 1; t <= sec && t-s.rateSec <= rateWindow; t++ {
			s.rate[t%rateWindow] = 0
		}
		s.rateSec = sec
	}
	if s.rateSec-sec < rateWindow {
		s.rate[sec%rateWindow]++
	}
}

// recordHistory turns the batch's events into per-device diffs against the version the
// store held before. When one device changed several times in the batch, the old value
// of a later change is the new value of the earlier one.
func (s *Store) recordHistory(b Batch) {
	path := make([]string, 0, 12)
	for _, e := range b.Events {
		r := s.recs[e.DeviceID]
		if r == nil {
			r = &record{}
			s.recs[e.DeviceID] = r
		}
		repeatFrom := -1 // index of this batch's first entry for the device, if any
		if r.stamp == s.batch {
			repeatFrom = r.batchStart
		} else {
			r.stamp, r.batchStart = s.batch, len(r.hist)
		}
		entry := HistoryEntry{Event: e}
		if sec := sectionOf(e.Kind); sec != "" && e.Patch != nil {
			var root map[string]any
			if r.doc != nil {
				root = sectionValues(r.doc, sec)
			}
			flatten(e.Patch, path, func(p []string, v any) {
				dotted := sec + "." + strings.Join(p, ".")
				ov, had := earlier(r.hist, repeatFrom, dotted)
				if !had {
					ov, had = twin.Lookup(root, p...)
				}
				if (v == nil && !had) || (had && v != nil && twin.Equal(ov, v)) {
					return // no change: deleting what was not there, or setting the same value
				}
				entry.Lines = append(entry.Lines, DiffLine{Path: dotted, Old: ov, HadOld: had, New: v, Deleted: v == nil})
			})
			if e.Op == OpReplace {
				entry.Lines = append(entry.Lines, removed(sec, root, r.hist, repeatFrom, e.Patch)...)
			}
		}
		r.hist = append(r.hist, entry)
		if len(r.hist) > maxHistory {
			drop := len(r.hist) - maxHistory
			r.hist = append(r.hist[:0:0], r.hist[drop:]...)
			r.batchStart = max(r.batchStart-drop, 0)
		}
	}
}

// earlier finds the newest value a path was given by history entries from index from on
// (this batch's), newest first.
func earlier(hist []HistoryEntry, from int, path string) (any, bool) {
	if from < 0 {
		return nil, false
	}
	for i := len(hist) - 1; i >= from; i-- {
		for _, l := range hist[i].Lines {
			if l.Path == path {
				return l.New, !l.Deleted
			}
		}
	}
	return nil, false
}

func sectionOf(kind string) string {
	switch kind {
	case "reported", "desired", "tags":
		return kind
	}
	return ""
}

func flatten(m map[string]any, path []string, fn func([]string, any)) {
	if len(m) == 1 { // the common case: no sorting needed
		for k, v := range m {
			visit(path, k, v, fn)
		}
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		visit(path, k, m[k], fn)
	}
}

func visit(path []string, k string, v any, fn func([]string, any)) {
	p := append(path, k)
	if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
		flatten(sub, p, fn)
		return
	}
	fn(p, v)
}

func sectionValues(d *twin.Doc, sec string) map[string]any {
	switch sec {
	case "reported":
		return d.Reported.Values
	case "desired":
		return d.Desired.Values
	}
	return d.Tags
}

// EventsNewestFirst calls fn for the kept events from the newest back until it returns false.
func (s *Store) EventsNewestFirst(fn func(Event) bool) {
	n := len(s.events)
	for i := 0; i < n; i++ {
		idx := (s.evStart + n - 1 - i) % n
		if !fn(s.events[idx]) {
			return
		}
	}
}
