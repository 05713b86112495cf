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

// Store is the console's live copy of the fleet, fed one batch at a time. It is only
// touched from the bubbletea goroutine (Update and View); commands never read it.
type Store struct {
	docs    map[string]*twin.Doc
	sums    map[string]twin.Summary
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
		sums:    make(map[string]twin.Summary),
		history: make(map[string][]HistoryEntry),
	}
}

// Len is the number of devices.
func (s *Store) Len() int { return len(s.docs) }

// Get returns a device's twin (an immutable snapshot) or nil.
func (s *Store) Get(id string) *twin.Doc { return s.docs[id] }

// Summary returns the cached desired-vs-reported summary of a device.
func (s *Store) Summary(id string) twin.Summary { return s.sums[id] }

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

func (s *Store) account(d *twin.Doc, sum twin.Summary, sign int) {
	s.counts.Total += sign
	if d.ConnectionState == "Connected" {
		s.counts.Connected += sign
	}
	if sum.Pending > 0 {
		s.counts.Pending += sign
	}
	if Failed(d, sum) {
		s.counts.Failed += sign
	}
	if d.Status == "disabled" {
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
	for id, d := range b.Twins {
		old, had := s.docs[id]
		if had {
			s.account(old, s.sums[id], -1)
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
		s.docs[id], s.sums[id] = d, sum
		s.account(d, sum, 1)
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
	overlay := map[string]any{}
	for _, e := range b.Events {
		sec := sectionOf(e.Kind)
		entry := HistoryEntry{Event: e}
		if sec != "" && e.Patch != nil {
			old := s.docs[e.DeviceID]
			flatten(e.Patch, sec, func(path string, v any) {
				key := e.DeviceID + "\x00" + path
				ov, had := overlay[key]
				if !had && old != nil {
					ov, had = lookupPath(old, path)
				}
				entry.Lines = append(entry.Lines, DiffLine{Path: path, Old: ov, HadOld: had, New: v, Deleted: v == nil})
				overlay[key] = v
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

func flatten(m map[string]any, prefix string, fn func(string, any)) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := prefix + "." + k
		if sub, ok := m[k].(map[string]any); ok && len(sub) > 0 {
			flatten(sub, p, fn)
			continue
		}
		fn(p, m[k])
	}
}

func lookupPath(d *twin.Doc, path string) (any, bool) {
	parts := strings.Split(path, ".")
	var root map[string]any
	switch parts[0] {
	case "reported":
		root = d.Reported.Values
	case "desired":
		root = d.Desired.Values
	case "tags":
		root = d.Tags
	}
	return twin.Lookup(root, parts[1:]...)
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
