package fleet

import (
	"cmp"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// Sync states of a row, in sort order.
const (
	syncIn = iota
	syncPending
	syncDifferent
	syncFailed
)

// row is one device's precomputed cells; rebuilt only when its twin changes.
type row struct {
	id         string
	connected  bool
	disabled   bool
	sync, n    int       // sync state and how many leaves pending/different
	since      time.Time // oldest pending desired change
	fwRep      string
	fwDes      string
	fwStatus   string
	fwProgress string
	last       time.Time
	tags       string
	tagVals    string         // values only, for narrow screens
	status     string         // the identity's status (enabled, disabled)
	search     string         // lower-case text that / matches against, made when first needed (searchText)
	tagsSrc    map[string]any // the tags map the text was made from, held so its address cannot be reused
	qmatch     bool           // matches the : query (cached)
	inView     bool
}

// newRow makes a device's row. prev is its previous row (nil for none), whose texts are
// reused where the twin shares them; tags (may be nil) remembers tag texts across rows.
func newRow(d *twin.Doc, sum twin.Summary, failed bool, prev *row, tags tagCache) *row {
	r := &row{id: d.DeviceID, connected: d.ConnectionState == "Connected", disabled: d.Status == "disabled",
		status: d.Status, last: d.LastActivityTime}
	switch {
	case failed:
		r.sync, r.n = syncFailed, 0
	case sum.Different > 0:
		r.sync, r.n = syncDifferent, sum.Different
	case sum.Pending > 0:
		r.sync, r.n, r.since = syncPending, sum.Pending, sum.OldestPending
	}
	if v, ok := twin.Lookup(d.Reported.Values, "firmware", "version"); ok {
		r.fwRep = common.Plain(v)
	}
	if v, ok := twin.Lookup(d.Desired.Values, "firmware", "version"); ok {
		r.fwDes = common.Plain(v)
	}
	if v, ok := twin.Lookup(d.Reported.Values, "firmware", "status"); ok {
		r.fwStatus = common.Plain(v)
	}
	if v, ok := twin.Lookup(d.Reported.Values, "firmware", "progress"); ok {
		r.fwProgress = common.Plain(v)
	}
	r.tagsSrc = d.Tags
	if prev == nil || r.tagsSrc == nil || mapID(prev.tagsSrc) != mapID(r.tagsSrc) {
		r.tags, r.tagVals = tags.text(d.Tags)
		return r
	}
	// Same tags map (snapshots share unchanged sections): reuse the text, and the search
	// text too when the rest of it is the same.
	r.tags, r.tagVals = prev.tags, prev.tagVals
	if prev.fwRep == r.fwRep && prev.fwDes == r.fwDes && prev.fwStatus == r.fwStatus && prev.status == r.status {
		r.search = prev.search
	}
	return r
}

// searchText is the lower-case text / matches against (id, tags, firmware, status),
// made on first use: most rows of a large fleet are never filtered.
func (r *row) searchText() string {
	if r.search == "" {
		r.search = strings.ToLower(r.id + " " + r.tags + " " + r.fwRep + " " + r.fwDes + " " + r.fwStatus + " " + r.status)
	}
	return r.search
}

// tagCache remembers tag texts by the identity of their map, within one batch (while
// its twins hold the maps, so no address is reused). A fleet listed by a sharing decoder
// (twinclient's) has one tags map per distinct set of tags, so its first listing renders
// a few texts instead of one per device. It stops remembering after maxTagCache maps,
// where the maps are not shared.
type tagCache map[uintptr][2]string

const maxTagCache = 1024

func (c tagCache) text(tags map[string]any) (string, string) {
	if c == nil || len(tags) == 0 {
		return tagText(tags)
	}
	id := mapID(tags)
	if t, ok := c[id]; ok {
		return t[0], t[1]
	}
	a, b := tagText(tags)
	if len(c) < maxTagCache {
		c[id] = [2]string{a, b}
	}
	return a, b
}

// tagText renders scalar tags as "k=v k=v" and as "v v", keys sorted.
func tagText(tags map[string]any) (string, string) {
	if len(tags) == 0 {
		return "", ""
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b, v strings.Builder
	for _, k := range keys {
		if _, ok := tags[k].(map[string]any); ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
			v.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(common.Plain(tags[k]))
		v.WriteString(common.Plain(tags[k]))
	}
	return b.String(), v.String()
}

// syncText is the SYNC cell: "✓ in sync", "… pending 3" (with the oldest pending
// change's age when wide), "≠ differs 2" (reported after a desired change and still
// disagrees), "✗ fw failed" (firmware.status failed).
func (r *row) syncText(now time.Time, wide bool) string {
	switch r.sync {
	case syncPending:
		if wide && !r.since.IsZero() {
			return "… pending " + strconv.Itoa(r.n) + " " + common.Age(now, r.since)
		}
		return "… pending " + strconv.Itoa(r.n)
	case syncDifferent:
		return "≠ differs " + strconv.Itoa(r.n)
	case syncFailed:
		return "✗ fw failed"
	}
	return "✓ in sync"
}

// fwText is the FIRMWARE cell: "1.2.0" when in sync, "1.2.0→1.3.0" while it differs.
func (r *row) fwText() string {
	if r.fwDes == "" || r.fwDes == r.fwRep {
		return r.fwRep
	}
	rep := r.fwRep
	if rep == "" {
		rep = "?"
	}
	return rep + "→" + r.fwDes
}

// Sortable columns.
const (
	colDevice = iota
	colConn
	colStatus
	colSync
	colFirmware
	colFwStatus
	colLast
	colTags
	numCols
)

var colNames = [numCols]string{"DEVICE", "CONN", "STATUS", "SYNC", "FIRMWARE", "FW STATUS", "LAST", "TAGS"}

func compareRows(a, b *row, col int) int {
	var c int
	switch col {
	case colConn:
		c = cmp.Compare(b2i(a.connected), b2i(b.connected))
	case colStatus:
		c = cmp.Compare(b2i(a.disabled), b2i(b.disabled))
	case colSync:
		c = cmp.Or(cmp.Compare(a.sync, b.sync), cmp.Compare(a.n, b.n))
	case colFirmware:
		c = cmp.Or(strings.Compare(a.fwRep, b.fwRep), strings.Compare(a.fwDes, b.fwDes))
	case colFwStatus:
		c = strings.Compare(a.fwStatus, b.fwStatus)
	case colLast:
		c = b.last.Compare(a.last) // most recent first
	case colTags:
		c = strings.Compare(a.tags, b.tags)
	}
	if c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sortRows(rows []*row, col int, desc bool) {
	slices.SortFunc(rows, func(a, b *row) int {
		c := compareRows(a, b, col)
		if desc {
			return -c
		}
		return c
	})
}

// matchFilter reports whether every space-separated word of f occurs in the row.
func matchFilter(r *row, words []string) bool {
	for _, w := range words {
		if !strings.Contains(r.searchText(), w) {
			return false
		}
	}
	return true
}

// mapID is the identity of a map (0 for nil), to tell whether a new snapshot shares a
// section with the previous one.
func mapID(m map[string]any) uintptr {
	if m == nil {
		return 0
	}
	return reflect.ValueOf(m).Pointer()
}
