package query

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// tableQueries covers every construct of the language: SELECT *, projections, TOP,
// aggregates, GROUP BY, every operator and function, identity fields, $version and
// $metadata paths, objects, arrays and mixed kinds under one path.
var tableQueries = []string{
	`SELECT * FROM devices`,
	`SELECT TOP 3 * FROM devices WHERE tags.region = 'eu'`,
	`SELECT * FROM devices WHERE tags.ring = 'canary' AND properties.reported.firmware.version != '2.1.0'`,
	`SELECT * FROM devices WHERE tags.region <> 'eu' OR NOT properties.reported.battery < 50`,
	`SELECT * FROM devices WHERE (tags.region = 'us' OR tags.ring = 'broad') AND properties.reported.battery >= 20`,
	`SELECT * FROM devices WHERE properties.reported.battery * 2 + 1 > 100 OR version % 2 = 0`,
	`SELECT * FROM devices WHERE -properties.reported.battery < -50 AND properties.reported.battery / 0 > 0 OR properties.reported.battery = 0x32`,
	`SELECT * FROM devices WHERE tags.model IN ['m1', 'm3', 7, true, null] OR tags.region NIN ['eu', 'us']`,
	`SELECT * FROM devices WHERE tags.region NOT IN ['eu'] AND IS_DEFINED(tags.region)`,
	`SELECT * FROM devices WHERE tags.model IN [0, 'm2', false] OR tags.model NIN [-0, true, 'm1', null] AND tags.ring IN ['broad']`,
	`SELECT * FROM devices WHERE properties.reported.battery IN [10, '80', 55.5] OR lastActivityTime IN ['2026-11-27T08:00:00Z']`,
	`SELECT * FROM devices WHERE properties.reported.note IN [null, 1] OR statusReason NIN [null] OR properties.reported.mixed IN [true, 'x']`,
	`SELECT * FROM devices WHERE IS_NULL(properties.reported.note) OR properties.reported.note = null`,
	`SELECT * FROM devices WHERE IS_BOOL(tags.model) OR IS_NUMBER(tags.model) OR IS_STRING(tags.model)`,
	`SELECT * FROM devices WHERE IS_OBJECT(tags.model) OR IS_ARRAY(tags.model) OR IS_PRIMITIVE(tags.ring)`,
	`SELECT * FROM devices WHERE STARTSWITH(properties.reported.ip, '10.1') OR ENDSWITH(deviceId, '7') OR CONTAINS(tags.region, 's')`,
	`SELECT * FROM devices WHERE STARTS_WITH(lastActivityTime, '2026-11-26') OR ENDS_WITH(tags['region'], 'u')`,
	`SELECT * FROM devices WHERE lastActivityTime > '2026-11-26T12:00:00Z' AND connectionState = 'Connected'`,
	`SELECT * FROM devices WHERE lastActivityTime > 'zzz' OR lastActivityTime <= '2026-11-26T01:00:00.0000000Z' OR statusUpdateTime != '2026-11-27'`,
	`SELECT * FROM devices WHERE properties.reported.battery >= 40 AND properties.reported.battery < 80.5 OR tags.region > 'ap' AND tags.region <= 'eu'`,
	`SELECT * FROM devices WHERE lastActivityTime IN ['2026-11-27T09:00:00Z', 'x'] OR statusUpdateTime = '0001-01-01T00:00:00'`,
	`SELECT * FROM devices WHERE status = 'disabled' OR statusReason = null OR cloudToDeviceMessageCount > 2`,
	`SELECT * FROM devices WHERE etag != 'x' AND deviceEtag = '' AND authenticationType = 'sas' AND version > 3`,
	`SELECT * FROM devices WHERE x509Thumbprint.primaryThumbprint = null AND modelId = '' AND capabilities.iotEdge = false`,
	`SELECT * FROM devices WHERE properties.reported.$version > 2 AND properties.desired.$version >= 1`,
	`SELECT * FROM devices WHERE properties.desired.$metadata.firmware.$lastUpdated < '2026-11-27T05:00:00Z'`,
	`SELECT * FROM devices WHERE properties.desired.$metadata.firmware.version.$lastUpdatedVersion = 2 OR properties.reported.$metadata.$lastUpdated > '2026-11-27'`,
	`SELECT * FROM devices WHERE properties.reported.ips[1] = 'fe80::1' OR properties.reported.ips = ['a']`,
	`SELECT * FROM devices WHERE properties.reported.firmware = properties.reported.firmware OR tags.model = tags.model`,
	`SELECT * FROM devices WHERE tags.model > 'm2' OR tags.model < 3 OR tags.model >= false`,
	`SELECT * FROM devices WHERE DEVICEID >= 'dev-010' AND deviceId < 'dev-020'`,
	`tags.region = 'eu' AND properties.reported.firmware.status IN ['failed', 'installing']`,
	``,
	`SELECT deviceId, tags.region, properties.reported.battery AS b FROM devices WHERE tags.ring = 'canary'`,
	`SELECT TOP 5 deviceId, tags.model AS m, [1, tags.region] AS a, properties.reported.firmware AS fw FROM devices`,
	`SELECT LastActivityTime, connectionState, properties.desired.$metadata.firmware.$lastUpdated AS at, properties.reported.$version AS v FROM devices WHERE version > 2`,
	`SELECT tags, properties.desired, x509Thumbprint, capabilities FROM devices WHERE deviceId = 'dev-003'`,
	`SELECT properties.reported.ips[0] AS ip, properties.reported.battery / 10 AS tenth, tags.region = 'eu' AS eu FROM devices`,
	`SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`,
	`SELECT tags.region AS region, properties.reported.firmware.status AS status, COUNT() AS n, AVG(properties.reported.battery) AS b FROM devices GROUP BY tags.region, properties.reported.firmware.status`,
	`SELECT tags.model AS m, COUNT() AS n, MIN(properties.reported.battery) AS lo, MAX(tags.region) AS hi FROM devices GROUP BY tags.model`,
	`SELECT COUNT(), SUM(properties.reported.battery), AVG(properties.reported.battery), MIN(lastActivityTime), MAX(deviceId) FROM devices`,
	`SELECT COUNT(tags.model) AS c, MIN(tags.model) AS lo, MAX(tags.model) AS hi FROM devices WHERE connectionState = 'Connected'`,
	`SELECT TOP 2 connectionState AS c, COUNT() AS n FROM devices GROUP BY connectionState`,
	`SELECT lastActivityTime AS t, COUNT() AS n FROM devices GROUP BY lastActivityTime`,
	`SELECT properties.reported.firmware AS fw, COUNT() AS n FROM devices GROUP BY properties.reported.firmware`,
	`SELECT tags.region, tags.ring, tags.model, status, COUNT() AS n FROM devices GROUP BY tags.region, tags.ring, tags.model, status`,
	`SELECT etag AS e, tags.ring AS r, COUNT() AS n FROM devices WHERE version > 3 GROUP BY etag, tags.ring`,
}

// tableFleet makes n random twins from a small vocabulary, so that values repeat, paths
// are often missing, and one path holds several kinds across twins.
type tableFleet struct {
	r   *rand.Rand
	now time.Time
	seq int
}

func (f *tableFleet) pick(xs ...any) any { return xs[f.r.IntN(len(xs))] }

// model is a value of mixed kinds for tags.model.
func (f *tableFleet) model() any {
	return f.pick("m1", "m2", "m3", 3.0, 0.0, math.Copysign(0, -1), true, false, map[string]any{"a": 1.0}, []any{"x"}, nil)
}

func (f *tableFleet) doc(t testing.TB) *twin.Doc {
	f.seq++
	d := twin.New(fmt.Sprintf("dev-%03d", f.seq), f.now.Add(-72*time.Hour))
	tags := map[string]any{}
	for k, v := range map[string]any{"region": f.pick("eu", "us", "ap", 1.0), "ring": f.pick("canary", "broad", "early"), "model": f.model()} {
		if v != nil && f.r.IntN(5) > 0 {
			tags[k] = v
		}
	}
	f.patch(t, d, twin.Tags, tags)
	f.patch(t, d, twin.Desired, map[string]any{"firmware": map[string]any{"version": f.pick("2.1.0", "2.0.3")}})
	f.patch(t, d, twin.Reported, f.reported())
	if f.r.IntN(4) == 0 {
		d.Reported.Values["note"] = nil // a stored null (patches cannot write one)
	}
	f.identity(d)
	return d
}

func (f *tableFleet) reported() map[string]any {
	p := map[string]any{
		"firmware": map[string]any{"version": f.pick("2.0.3", "2.1.0", "1.9"), "status": f.pick("succeeded", "failed", "installing", 3.0)},
		"battery":  f.pick(10.0, 40.0, 55.5, 80.0, 0.0, "low"),
		"ip":       f.pick("10.1.2.3", "10.2.0.1", "192.168.0.1"),
	}
	if f.r.IntN(3) == 0 {
		p["ips"] = []any{"a", f.pick("fe80::1", "fe80::2")}
	}
	if f.r.IntN(4) > 0 {
		p["connectivity"] = f.pick("wifi", "wired", "cellular", map[string]any{"type": "wifi"})
		p["mixed"] = f.pick("x", 3.0, true, map[string]any{"a": 1.0}, []any{1.0})
	}
	if f.r.IntN(6) == 0 {
		p["firmware"] = "none" // an object in other twins, a string here
	}
	return p
}

func (f *tableFleet) patch(t testing.TB, d *twin.Doc, s twin.Section, p map[string]any) {
	t.Helper()
	at := f.now.Add(-time.Duration(f.r.IntN(8)) * time.Hour)
	if err := d.Patch(s, p, at); err != nil {
		t.Fatalf("patch %s of %s: %v", s, d.DeviceID, err)
	}
}

func (f *tableFleet) identity(d *twin.Doc) {
	d.ConnectionState = f.pick("Connected", "Disconnected").(string)
	d.LastActivityTime = f.now.Add(-time.Duration(f.r.IntN(48)) * time.Hour)
	if f.r.IntN(5) == 0 {
		d.Status, d.StatusReason = "disabled", "maintenance"
	}
	d.CloudToDeviceMessageCount = f.r.IntN(5)
	if f.r.IntN(5) == 0 {
		d.X509Thumbprint.PrimaryThumbprint = "AB12"
	}
}

// change modifies d in place as the hub does: a reported patch, a tags patch, or
// identity fields.
func (f *tableFleet) change(t testing.TB, d *twin.Doc) {
	switch f.r.IntN(4) {
	case 0:
		f.patch(t, d, twin.Reported, f.reported())
	case 1:
		f.patch(t, d, twin.Tags, map[string]any{"region": f.pick("eu", "us", nil), "model": f.model()})
	case 2:
		f.patch(t, d, twin.Desired, map[string]any{"firmware": map[string]any{"version": f.pick("2.1.0", "2.0.3", nil)}})
	default:
		f.identity(d)
	}
}

// sameResults runs every query over tb both through the Table and through Query.Run over
// the Table's twins, and fails on the first difference.
func sameResults(t *testing.T, tb *Table, qs []*Query, round int) {
	t.Helper()
	for _, q := range qs {
		got, err := tb.Run(q)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := q.Run(tb.All())
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d, %q:\nTable: %s\nRun:   %s", round, q, rowsJSON(t, got), rowsJSON(t, want))
		}
	}
}

func rowsJSON(t *testing.T, r *Result) string {
	t.Helper()
	if r.ItemType == ItemTwin {
		var ids []string
		for _, x := range r.Rows {
			ids = append(ids, x.(*twin.Doc).DeviceID)
		}
		return fmt.Sprint(ids)
	}
	b, err := json.Marshal(r.Rows)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixtureQueries are the queries of TestMatch and TestRun, sorted.
func fixtureQueries() []string {
	var qs []string
	for _, c := range matchCases {
		qs = append(qs, c.q)
	}
	for _, c := range runCases {
		qs = append(qs, c.q)
	}
	slices.Sort(qs)
	return qs
}

func parseAll(t testing.TB, srcs []string) []*Query {
	t.Helper()
	var qs []*Query
	for _, s := range srcs {
		q, err := ParseWhere(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		qs = append(qs, q)
	}
	return qs
}

// TestTableMatchesRun is the property test of the column index: random twins, random
// in-place changes, replacements, deletions and insertions, and after each round every
// query (tableQueries and the fixture queries of TestMatch and TestRun) gives through the
// Table exactly what Query.Run gives over the same twins. Small
// column limits force eviction and rebuilding.
func TestTableMatchesRun(t *testing.T) {
	qs := parseAll(t, append(slices.Clone(tableQueries), fixtureQueries()...))
	t.Run("fixture twins", func(t *testing.T) {
		tb := NewTable(0)
		for _, d := range fleet(t) {
			tb.Put(d)
		}
		sameResults(t, tb, qs, 0)
	})
	for _, c := range []struct{ maxCols, directMin int }{{1, 1024}, {4, 1024}, {0, 1024}, {0, 2}, {3, 4}} {
		maxCols := c.maxCols
		t.Run(fmt.Sprintf("maxColumns=%d,directMin=%d", c.maxCols, c.directMin), func(t *testing.T) {
			f := &tableFleet{r: rand.New(rand.NewPCG(uint64(maxCols), uint64(c.directMin))), now: t0}
			tb := NewTable(maxCols)
			tb.directMin = c.directMin // small: columns of many strings stop interning
			docs := map[string]*twin.Doc{}
			for range 60 {
				d := f.doc(t)
				docs[d.DeviceID] = d
				tb.Put(d)
			}
			sameResults(t, tb, qs, 0)
			for round := 1; round <= 25; round++ {
				f.mutate(t, tb, docs)
				if round%3 == 0 { // queries in a shuffled order, so columns are built and evicted differently
					f.r.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
				}
				sameResults(t, tb, qs, round)
			}
			if tb.Len() != len(docs) {
				t.Fatalf("Len %d, want %d", tb.Len(), len(docs))
			}
			if n := tb.Columns(); maxCols > 0 && n > maxCols {
				t.Fatalf("%d columns kept, limit %d", n, maxCols)
			}
		})
	}
}

// mutate applies one round of random changes to docs and tells tb.
func (f *tableFleet) mutate(t *testing.T, tb *Table, docs map[string]*twin.Doc) {
	ids := make([]string, 0, len(docs))
	for id := range docs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for range 1 + f.r.IntN(15) {
		id := ids[f.r.IntN(len(ids))]
		d := docs[id]
		switch op := f.r.IntN(10); {
		case d == nil:
		case op < 6: // in place, as the hub patches
			f.change(t, d)
			tb.Changed(id)
		case op < 8: // replaced by a changed copy
			nd := d.Clone()
			f.change(t, nd)
			docs[id] = nd
			tb.Put(nd)
		default:
			delete(docs, id)
			tb.Delete(id)
		}
	}
	for range f.r.IntN(4) {
		d := f.doc(t)
		docs[d.DeviceID] = d
		tb.Put(d)
	}
}

// TestTableColumnStrings checks that a column's string table holds only strings some row
// still has: replacing every value does not grow it.
func TestTableColumnStrings(t *testing.T) {
	tb := NewTable(0)
	q, err := ParseWhere(`properties.reported.ip = 'x'`)
	if err != nil {
		t.Fatal(err)
	}
	var docs []*twin.Doc
	for i := range 100 {
		d := twin.New(fmt.Sprintf("d%03d", i), t0)
		docs = append(docs, d)
		tb.Put(d)
	}
	for round := range 20 {
		for i, d := range docs {
			if err := d.Patch(twin.Reported, map[string]any{"ip": fmt.Sprintf("10.%d.%d", round, i%10)}, t0); err != nil {
				t.Fatal(err)
			}
			tb.Changed(d.DeviceID)
		}
		if _, err := tb.Run(q); err != nil {
			t.Fatal(err)
		}
	}
	col := tb.cols["properties.reported.ip"]
	if col == nil {
		t.Fatal("no column for properties.reported.ip")
	}
	if live := len(col.codes); live != 10 || len(col.strs) > 20 {
		t.Fatalf("%d live strings in %d slots, want 10 live in at most 20", live, len(col.strs))
	}
}

// TestTableDirectColumn: a column of mostly distinct strings stops interning, and reads
// and groups the same.
func TestTableDirectColumn(t *testing.T) {
	tb := NewTable(0)
	tb.directMin = 8
	var docs []*twin.Doc
	for i := range 100 {
		d := twin.New(fmt.Sprintf("d%03d", i), t0)
		if err := d.Patch(twin.Reported, map[string]any{"ip": fmt.Sprintf("10.0.0.%d", i%50), "n": float64(i % 3)}, t0); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
		tb.Put(d)
	}
	qs := parseAll(t, []string{
		`properties.reported.ip = '10.0.0.7' OR STARTSWITH(properties.reported.ip, '10.0.0.4')`,
		`SELECT properties.reported.ip AS ip, COUNT() AS n FROM devices GROUP BY properties.reported.ip`,
	})
	sameResults(t, tb, qs, 0)
	if col := tb.cols["properties.reported.ip"]; col == nil || col.direct == nil {
		t.Fatal("a column of 50 distinct strings over 100 rows still interns")
	}
	for i, d := range docs[:30] {
		if err := d.Patch(twin.Reported, map[string]any{"ip": nil, "n": fmt.Sprint(i)}, t0); err != nil {
			t.Fatal(err)
		}
		tb.Changed(d.DeviceID)
	}
	sameResults(t, tb, qs, 1)
}

// TestTableDoesNotAllocatePerTwin: a warm query over a Table allocates per query, not per
// twin.
func TestTableDoesNotAllocatePerTwin(t *testing.T) {
	f := &tableFleet{r: rand.New(rand.NewPCG(3, 4)), now: t0}
	tb := NewTable(0)
	for range 500 {
		tb.Put(f.doc(t))
	}
	q, err := ParseWhere(`tags.region = 'eu' AND tags.ring = 'canary' AND properties.reported.firmware.status = 'failed' AND lastActivityTime > '2026-11-26T00:00:00Z'`)
	if err != nil {
		t.Fatal(err)
	}
	count := func() {
		n := 0
		for range tb.Select(q) {
			n++
		}
	}
	count()
	if allocs := testing.AllocsPerRun(20, count); allocs > 10 {
		t.Fatalf("%v allocations per query over 500 twins, want a few", allocs)
	}
}

// TestTableConcurrent runs queries and in-place changes at once, as the hub does: writers
// change twins under a write lock and tell the Table; readers query under the read lock,
// several at a time. Run with -race.
func TestTableConcurrent(t *testing.T) {
	f := &tableFleet{r: rand.New(rand.NewPCG(5, 6)), now: t0}
	tb := NewTable(3)
	var docs []*twin.Doc
	for range 200 {
		d := f.doc(t)
		docs = append(docs, d)
		tb.Put(d)
	}
	qs := parseAll(t, tableQueries)
	var mu sync.RWMutex
	var readers sync.WaitGroup
	done, writerDone := make(chan struct{}), make(chan struct{})
	go func() { // the writer
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			mu.Lock()
			d := docs[i%len(docs)]
			d.ConnectionState = []string{"Connected", "Disconnected"}[i%2]
			d.LastActivityTime = t0.Add(time.Duration(i) * time.Second)
			tb.Changed(d.DeviceID)
			mu.Unlock()
		}
	}()
	for g := range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := range 60 {
				q := qs[(i*7+g)%len(qs)]
				mu.RLock()
				got, err := tb.Run(q)
				want, _ := q.Run(tb.All())
				mu.RUnlock()
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%q differs under concurrent changes (err %v)", q, err)
					return
				}
			}
		}()
	}
	readers.Wait()
	close(done)
	<-writerDone
}
