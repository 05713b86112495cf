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
	Total, Connected, Pending, Failed, Disabled int
}

// entry is what the store keeps per device besides the twin: its summary and the flags
// the counts are made of, so that replacing a twin does not re-examine the old one.
type entry struct {
	sum                         twin.Summary
	connected, failed, disabled bool
}

// Store is the console's live copy of the fleet, fed one batch at a time. It is only
// touched from the bubbletea goroutine (Update and View); commands never read it.
type Store struct {
	docs    map[string]*twin.Doc
	sums    map[string]entry
	history map[string][]HistoryEntry
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
	return &Store{
		docs:    make(map[string]*twin.Doc),
		sums:    make(map[string]entry),
		history: make(map[string][]HistoryEntry),
	}
}

// Len is the number of devices.
func (s *Store) Len() int { return len(s.docs) }

// Get returns a device's twin (an immutable snapshot) or nil.
func (s *Store) Get(id string) *twin.Doc { return s.docs[id] }

// Summary returns the cached desired-vs-reported summary of a device.
func (s *Store) Summary(id string) twin.Summary { return s.sums[id].sum }

// IsFailed reports whether a device counts as failed (see Failed), from the cache.
func (s *Store) IsFailed(id string) bool { return s.sums[id].failed }

// Counts returns the fleet totals.
func (s *Store) Counts() Counts { return s.counts }

// Each calls fn for every device in no particular order.
func (s *Store) Each(fn func(*twin.Doc)) {
	for _, d := range s.docs {
		fn(d)
	}
}

// IDs returns every device id, sorted.
func (s *Store) IDs() []string {
	ids := make([]string, 0, len(s.docs))
	for id := range s.docs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// History returns a device's recent changes, newest last.
func (s *Store) History(id string) []HistoryEntry { return s.history[id] }

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

// Failed reports whether a twin counts as failed: the device contradicts desired, or
// reports firmware.status "failed".
func Failed(d *twin.Doc, sum twin.Summary) bool {
	if sum.Different > 0 {
		return true
	}
	st, _ := twin.Lookup(d.Reported.Values, "firmware", "status")
	return st == "failed"
}

func (s *Store) account(e entry, sign int) {
	s.counts.Total += sign
	if e.connected {
		s.counts.Connected += sign
	}
	if e.sum.Pending > 0 {
		s.counts.Pending += sign
	}
	if e.failed {
		s.counts.Failed += sign
	}
	if e.disabled {
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
	s.recordHistory(b)
	if len(s.docs) == 0 && len(b.Twins) > 1024 { // first listing: size the maps once
		s.docs = make(map[string]*twin.Doc, len(b.Twins))
		s.sums = make(map[string]entry, len(b.Twins))
	}
	for id, d := range b.Twins {
		_, had := s.docs[id]
		if had {
			s.account(s.sums[id], -1)
		}
		if d == nil {
			if had {
				delete(s.docs, id)
				delete(s.sums, id)
				delete(s.history, id)
				msg.Added = true
			}
			msg.Changed[id] = true
			continue
		}
		if !had {
			msg.Added = true
		}
		sum := twin.Summarize(d)
		e := entry{sum: sum, connected: d.ConnectionState == "Connected", failed: Failed(d, sum), disabled: d.Status == "disabled"}
		s.docs[id], s.sums[id] = d, e
		s.account(e, 1)
		msg.Changed[id] = false
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
// store held before (with an overlay for several changes to one device in one batch).
func (s *Store) recordHistory(b Batch) {
	type key struct{ dev, path string }
	var overlay map[key]any
	seen := make(map[string]bool, len(b.Events))
	path := make([]string, 0, 12)
	for _, e := range b.Events {
		sec := sectionOf(e.Kind)
		entry := HistoryEntry{Event: e}
		if sec != "" && e.Patch != nil {
			var root map[string]any
			if old := s.docs[e.DeviceID]; old != nil {
				root = sectionValues(old, sec)
			}
			repeat := seen[e.DeviceID]
			seen[e.DeviceID] = true
			if overlay == nil && len(b.Events) > 1 {
				overlay = map[key]any{}
			}
			flatten(e.Patch, path, func(p []string, v any) {
				dotted := sec + "." + strings.Join(p, ".")
				var ov any
				var had bool
				if repeat {
					ov, had = overlay[key{e.DeviceID, dotted}]
				}
				if !had {
					ov, had = twin.Lookup(root, p...)
				}
				if (v == nil && !had) || (had && v != nil && twin.Equal(ov, v)) {
					return // no change: deleting what was not there, or setting the same value
				}
				entry.Lines = append(entry.Lines, DiffLine{Path: dotted, Old: ov, HadOld: had, New: v, Deleted: v == nil})
				if overlay != nil {
					overlay[key{e.DeviceID, dotted}] = v
				}
			})
		}
		h := append(s.history[e.DeviceID], entry)
		if len(h) > maxHistory {
			h = append(h[:0:0], h[len(h)-maxHistory:]...)
		}
		s.history[e.DeviceID] = h
	}
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
