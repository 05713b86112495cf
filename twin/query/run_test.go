package query

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/twinops/twinops/twin"
)

// runCases are the queries of TestRun with their rows over the fixture twins.
// TestTableMatchesRun runs them over random twins too.
var runCases = map[string]struct {
	q        string
	itemType string
	want     string // JSON of the rows; for SELECT * the device ids
}{
	"facts: rollout GROUP BY": {
		`SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`,
		ItemRaw, `[{"n":1,"status":"downloading"},{"n":2,"status":"succeeded"}]`},
	"facts: count is_defined": {
		`SELECT COUNT() AS total FROM devices WHERE is_defined(properties.reported.firmware)`,
		ItemRaw, `[{"total":3}]`},
	"facts: select star IN": {
		`SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired','wifi']`,
		ItemTwin, `["d1","d2"]`},
	"select star ordered by deviceId": {`SELECT * FROM devices`, ItemTwin, `["d1","d2","d3","d4","d5"]`},
	"TOP":                             {`SELECT TOP 2 * FROM devices WHERE tags.region = 'eu'`, ItemTwin, `["d1","d3"]`},
	"TOP 0":                           {`SELECT TOP 0 * FROM devices`, ItemTwin, `[]`},
	"group with undefined key": {
		`SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices GROUP BY properties.reported.firmware.status`,
		ItemRaw, `[{"n":2},{"n":1,"status":"downloading"},{"n":2,"status":"succeeded"}]`},
	"group by mixed kinds": {
		`SELECT properties.reported.mixed AS m, COUNT() AS n FROM devices GROUP BY properties.reported.mixed`,
		ItemRaw, `[{"n":1},{"m":true,"n":1},{"m":3,"n":1},{"m":"x","n":1},{"m":{"a":1},"n":1}]`},
	"min max across kinds": {
		`SELECT MIN(properties.reported.mixed) AS lo, MAX(properties.reported.mixed) AS hi FROM devices`,
		ItemRaw, `[{"hi":"x","lo":true}]`},
	"array constant projection": {
		`SELECT [1, tags.region, tags.none, 'a\n\t\r\b\f\/'] AS a, +properties.reported.battery AS b, deviceId[0] AS c FROM devices WHERE deviceId = 'd1'`,
		ItemRaw, `[{"a":[1,"eu","a\n\t\r\b\f/"],"b":80}]`},
	"COUNT(*) as in SQL": {`SELECT COUNT(*) AS n FROM devices`, ItemRaw, `[{"n":5}]`},
	"count empty":        {`SELECT COUNT() AS n FROM devices WHERE deviceId = 'nope'`, ItemRaw, `[{"n":0}]`},
	"unnamed aggregates": {
		`SELECT COUNT(), SUM(properties.reported.battery), AVG(properties.reported.battery) FROM devices`,
		ItemRaw, `[{"$1":5,"$2":185.5,"$3":46.375}]`},
	"min max": {
		`SELECT MIN(properties.reported.battery) AS lo, MAX(properties.reported.battery) AS hi, MAX(deviceId) AS last FROM devices`,
		ItemRaw, `[{"hi":80,"last":"d5","lo":10}]`},
	"avg of nothing": {`SELECT AVG(tags.nothing) AS a, SUM(tags.nothing) AS s, COUNT(tags.model) AS c FROM devices`, ItemRaw, `[{"c":3,"s":0}]`},
	"two group keys": {
		`SELECT tags.region AS region, tags.ring AS ring, COUNT() AS n FROM devices WHERE IS_DEFINED(tags.region) GROUP BY tags.region, tags.ring`,
		ItemRaw, `[{"n":2,"region":"eu","ring":"broad"},{"n":1,"region":"eu","ring":"canary"},{"n":1,"region":"us","ring":"canary"}]`},
	"group TOP": {
		`SELECT TOP 1 tags.region AS r, COUNT() AS n FROM devices GROUP BY tags.region`,
		ItemRaw, `[{"n":1}]`},
	"group key without alias": {
		`SELECT tags.region, COUNT() AS n FROM devices WHERE IS_DEFINED(tags.region) GROUP BY tags.region`,
		ItemRaw, `[{"n":3,"region":"eu"},{"n":1,"region":"us"}]`},
	"projection": {
		`SELECT deviceId, tags.region, properties.reported.battery AS b FROM devices WHERE tags.ring = 'canary'`,
		ItemRaw, `[{"b":80,"deviceId":"d1","region":"eu"},{"b":40,"deviceId":"d2","region":"us"}]`},
	"projection canonical names": {
		`SELECT DeviceId, LastActivityTime, STATUS FROM devices WHERE deviceId = 'd1'`,
		ItemRaw, `[{"deviceId":"d1","lastActivityTime":"2026-11-27T09:00:00Z","status":"enabled"}]`},
	"projection of objects and expressions": {
		`SELECT properties.reported.firmware AS fw, properties.reported.battery / 10 AS tenth, tags.region = 'eu' AS eu FROM devices WHERE deviceId = 'd1'`,
		ItemRaw, `[{"eu":true,"fw":{"status":"downloading","version":"2.0.0"},"tenth":8}]`},
	"projection of $version and metadata time": {
		`SELECT properties.desired.$version AS v, properties.desired.$metadata.firmware.$lastUpdated AS at FROM devices WHERE deviceId = 'd2'`,
		ItemRaw, `[{"at":"2026-11-27T07:00:00Z","v":2}]`},
	"projection never set time": {
		`SELECT statusUpdateTime AS t FROM devices WHERE deviceId = 'd5'`,
		ItemRaw, `[{"t":"0001-01-01T00:00:00Z"}]`},
	"projection of tags whole": {
		`SELECT tags FROM devices WHERE deviceId IN ['d4', 'd5']`,
		ItemRaw, `[{"tags":{"region":"eu","ring":"broad"}},{"tags":{}}]`},
	"projection array index": {
		`SELECT properties.reported.ips[0] AS ip FROM devices WHERE IS_DEFINED(properties.reported.ips)`,
		ItemRaw, `[{"ip":"10.0.0.4"}]`},
	"projection TOP": {`SELECT TOP 1 deviceId FROM devices`, ItemRaw, `[{"deviceId":"d1"}]`},
	"projection of a section with $metadata and $version": {
		`SELECT properties.reported AS r FROM devices WHERE deviceId = 'd5'`,
		ItemRaw, `[{"r":{"$metadata":{"$lastUpdated":"0001-01-01T00:00:00Z"},"$version":1}}]`},
	"projection of properties": {
		`SELECT properties FROM devices WHERE deviceId = 'd5'`,
		ItemRaw, `[{"properties":{"desired":{"$metadata":{"$lastUpdated":"0001-01-01T00:00:00Z"},"$version":1},"reported":{"$metadata":{"$lastUpdated":"0001-01-01T00:00:00Z"},"$version":1}}}]`},
	"projection of metadata node": {
		`SELECT properties.desired.$metadata.firmware AS m FROM devices WHERE deviceId = 'd1'`,
		ItemRaw, `[{"m":{"$lastUpdated":"2026-11-27T07:00:00Z","$lastUpdatedVersion":2,"version":{"$lastUpdated":"2026-11-27T07:00:00Z","$lastUpdatedVersion":2}}}]`},
	"projection of x509Thumbprint": {
		`SELECT x509Thumbprint FROM devices WHERE deviceId = 'd5'`,
		ItemRaw, `[{"x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null}}]`},
	"projection of constant identity fields": {
		`SELECT statusReason, modelId, capabilities.iotEdge AS edge FROM devices WHERE deviceId = 'd5'`,
		ItemRaw, `[{"edge":false,"modelId":"","statusReason":null}]`},
	"projection of missing is left out": {
		`SELECT deviceId, properties.reported.nothing AS x FROM devices WHERE deviceId = 'd5'`,
		ItemRaw, `[{"deviceId":"d5"}]`},
}

func TestRun(t *testing.T) {
	docs := fleet(t)
	for name, c := range runCases {
		t.Run(name, func(t *testing.T) {
			q, err := Parse(c.q)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.q, err)
			}
			res, err := q.Run(seq(docs))
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.ItemType != c.itemType {
				t.Errorf("ItemType = %q, want %q", res.ItemType, c.itemType)
			}
			var got []byte
			if c.itemType == ItemTwin {
				idl := make([]string, 0, len(res.Rows))
				for _, r := range res.Rows {
					idl = append(idl, r.(*twin.Doc).DeviceID)
				}
				got, _ = json.Marshal(idl)
			} else if got, err = json.Marshal(res.Rows); err != nil {
				t.Fatalf("rows do not marshal: %v", err)
			}
			if string(got) != c.want {
				t.Errorf("%s\n got %s\nwant %s", c.q, got, c.want)
			}
		})
	}
}

func TestSelectStarRowsMarshalAsTwins(t *testing.T) {
	docs := fleet(t)
	q, err := Parse(`SELECT * FROM devices WHERE deviceId = 'd2'`)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := q.Run(seq(docs))
	b, err := json.Marshal(res.Rows)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil || len(rows) != 1 {
		t.Fatalf("rows %s: %v", b, err)
	}
	if rows[0]["deviceId"] != "d2" || twinLookup(rows[0], "properties", "reported", "firmware", "status") != "succeeded" {
		t.Errorf("row is not the twin in IoT Hub's shape: %s", b)
	}
}

func twinLookup(m map[string]any, path ...string) any {
	v, _ := twin.Lookup(m, path...)
	return v
}

func TestAccessors(t *testing.T) {
	cases := map[string]struct {
		q         string
		agg, star bool
		top       int
	}{
		"star":       {`SELECT * FROM devices`, false, true, -1},
		"top":        {`SELECT TOP 7 * FROM devices`, false, true, 7},
		"count":      {`SELECT COUNT() AS n FROM devices`, true, false, -1},
		"projection": {`SELECT deviceId FROM devices`, false, false, -1},
		"group":      {`SELECT tags.a AS a, COUNT() AS n FROM devices GROUP BY tags.a`, true, false, -1},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			q, err := Parse(c.q)
			if err != nil {
				t.Fatal(err)
			}
			if q.Aggregate() != c.agg || q.SelectAll() != c.star || q.Top() != c.top || q.String() != c.q {
				t.Errorf("Aggregate %v SelectAll %v Top %d String %q; want %v %v %d", q.Aggregate(), q.SelectAll(), q.Top(), q.String(), c.agg, c.star, c.top)
			}
		})
	}
}

// TestRunLargeFleet runs queries over enough twins to be scanned in parallel parts and
// checks the merged results against the small fleet's, scaled.
func TestRunLargeFleet(t *testing.T) {
	base := fleet(t)
	const copies = 3000
	var docs []*twin.Doc
	for i := range copies {
		for _, d := range base {
			c := d.Clone()
			c.DeviceID = fmt.Sprintf("%s-%04d", d.DeviceID, copies-1-i) // reverse order: Run sorts
			docs = append(docs, c)
		}
	}
	cases := map[string]struct{ q, want string }{
		"rollout": {`SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`,
			`[{"n":3000,"status":"downloading"},{"n":6000,"status":"succeeded"}]`},
		"totals": {`SELECT COUNT() AS n, MIN(properties.reported.battery) AS lo, MAX(properties.reported.battery) AS hi, AVG(properties.reported.battery) AS avg FROM devices`,
			`[{"avg":46.375,"hi":80,"lo":10,"n":15000}]`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			q, err := Parse(c.q)
			if err != nil {
				t.Fatal(err)
			}
			res, _ := q.Run(seq(docs))
			if got, _ := json.Marshal(res.Rows); string(got) != c.want {
				t.Errorf("got %s\nwant %s", got, c.want)
			}
		})
	}
	t.Run("select star sorted", func(t *testing.T) {
		q, _ := Parse(`SELECT * FROM devices WHERE tags.region = 'eu'`)
		res, _ := q.Run(seq(docs))
		if len(res.Rows) != 3*copies {
			t.Fatalf("%d rows, want %d", len(res.Rows), 3*copies)
		}
		for i := 1; i < len(res.Rows); i++ {
			if a, b := res.Rows[i-1].(*twin.Doc).DeviceID, res.Rows[i].(*twin.Doc).DeviceID; a >= b {
				t.Fatalf("rows not ordered by deviceId: %q before %q", a, b)
			}
		}
	})
}

// TestRunReadsDocsOnlyWhileYielded holds the hub's locking contract: Run evaluates a doc
// while the iterator yields it, and rows share no memory with the docs.
func TestRunReadsDocsOnlyWhileYielded(t *testing.T) {
	cases := map[string]struct{ q, want string }{
		"group by object": {`SELECT properties.reported.firmware AS fw, COUNT() AS n FROM devices WHERE deviceId = 'd1' GROUP BY properties.reported.firmware`,
			`[{"fw":{"status":"downloading","version":"2.0.0"},"n":1}]`},
		"projection of object": {`SELECT properties.reported.firmware AS fw, tags.ring AS ring FROM devices WHERE deviceId = 'd1'`,
			`[{"fw":{"status":"downloading","version":"2.0.0"},"ring":"canary"}]`},
		"max": {`SELECT MAX(properties.reported.firmware.version) AS v FROM devices`, `[{"v":"2.1.0"}]`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			docs := fleet(t)
			q, err := Parse(c.q)
			if err != nil {
				t.Fatal(err)
			}
			res, _ := q.Run(func(yield func(*twin.Doc) bool) {
				for _, d := range docs {
					ok := yield(d)
					// After the yield the "hub" changes the twin in place.
					if fw, isMap := d.Reported.Values["firmware"].(map[string]any); isMap {
						fw["status"] = "changed"
					}
					d.Reported.Values["firmware"] = "gone"
					d.Tags = nil
					if !ok {
						return
					}
				}
			})
			if got, _ := json.Marshal(res.Rows); string(got) != c.want {
				t.Errorf("got %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestAggregatorMerge checks that aggregating shards separately (on goroutines, as the
// hub may) and merging gives exactly the rows of one Run over all twins.
func TestAggregatorMerge(t *testing.T) {
	base := fleet(t)
	var docs []*twin.Doc
	for i := range 40 {
		for _, d := range base {
			c := d.Clone()
			c.DeviceID = fmt.Sprintf("%s-%02d", d.DeviceID, i)
			if i%3 == 0 {
				c.Reported.Values["battery"] = float64(i)
			}
			docs = append(docs, c)
		}
	}
	cases := map[string]string{
		"rollout":  `SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`,
		"totals":   `SELECT COUNT() AS n, SUM(properties.reported.battery) AS s, MIN(properties.reported.battery) AS lo, MAX(properties.reported.battery) AS hi, AVG(properties.reported.battery) AS avg FROM devices`,
		"two keys": `SELECT tags.region AS r, tags.ring AS g, COUNT() AS n, MAX(deviceId) AS last FROM devices GROUP BY tags.region, tags.ring`,
		"top":      `SELECT TOP 2 tags.region AS r, COUNT() AS n FROM devices GROUP BY tags.region`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			q, err := Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := q.Run(seq(docs))
			wantJSON, _ := json.Marshal(want.Rows)
			for _, shards := range []int{2, 3, 7} {
				parts := make([]*Aggregator, shards)
				done := make(chan int, shards)
				for s := range shards {
					go func() {
						a := q.NewAggregator()
						for i := s; i < len(docs); i += shards {
							a.Add(docs[i])
						}
						parts[s] = a
						done <- s
					}()
				}
				for range shards {
					<-done
				}
				for _, p := range parts[1:] {
					parts[0].Merge(p)
				}
				if got, _ := json.Marshal(parts[0].Rows()); string(got) != string(wantJSON) {
					t.Errorf("%d shards merged:\n got %s\nwant %s", shards, got, wantJSON)
				}
			}
		})
	}
	q, _ := Parse(`SELECT * FROM devices`)
	if q.NewAggregator() != nil {
		t.Error("NewAggregator of SELECT * is not nil")
	}
}
