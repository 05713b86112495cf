package query

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that the parser never panics, that every error is a *SyntaxError
// positioned within the input (or just after it), and that a query that parses also
// runs over the fixture fleet with JSON-marshalable rows.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`SELECT * FROM devices WHERE tags.ring = 'canary' AND properties.reported.firmware.version != '2.1.0'`,
		`SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices WHERE properties.desired.firmware.version = '2.1.0' GROUP BY properties.reported.firmware.status`,
		`SELECT COUNT() AS total FROM devices WHERE is_defined(properties.reported.firmware)`,
		`SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired','wifi']`,
		`SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN ['d1','d2']`,
		`SELECT TOP 3 deviceId, tags['a b'][0] AS x, -version % 0x1F FROM devices WHERE NOT (a < "\u00e9\'")`,
		`SELECT MIN(lastActivityTime), MAX(properties.desired.$metadata.$lastUpdated) FROM devices`,
		`tags.region NIN ['eu', null, true, 1e3] OR STARTSWITH(deviceId, 'x')`,
		`SELECT * FROM devices WHERE 'unterminated`,
		`properties.reported.battery * 2 + 1 > 100 OR version % 2 = 0 AND NOT tags.x = 1`,
		`properties.reported.mixed IN [3, 'x', true, null] OR properties.reported.ips[1] = 'fe80::4'`,
		`lastActivityTime >= '2026-11-27T09:00:00.0000000Z' OR statusUpdateTime = '0001-01-01T00:00:00'`,
		`IS_OBJECT(properties.reported.firmware) AND properties.desired.$metadata.firmware.$lastUpdatedVersion = 2`,
		`(tags.region = 'us' OR tags.ring = 'broad') AND -properties.reported.battery < -20`,
		`SELECT tags.region AS r, COUNT() AS n, SUM(properties.reported.battery) AS s FROM devices GROUP BY tags.region`,
		`SELECT deviceId, [1, tags.model] AS a, properties.reported.$version FROM devices WHERE deviceId NIN ['d2']`,
	} {
		f.Add(s)
	}
	docs := fleet(f)
	tb := NewTable(4) // few columns, so that fuzzing also evicts and rebuilds them
	for _, d := range docs {
		tb.Put(d)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (*Query, error){Parse, ParseWhere} {
			q, err := parse(s)
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("%q: error %T %v is not a *SyntaxError", s, err, err)
				}
				if se.Pos < 1 || se.Pos > utf8.RuneCountInString(s)+1 {
					t.Fatalf("%q: position %d outside the input", s, se.Pos)
				}
				if se.Msg == "" || !strings.Contains(se.Caret(), "^") {
					t.Fatalf("%q: empty message or caret: %q", s, se.Caret())
				}
				continue
			}
			checkRoundTrip(t, q)
			checkAgainstRef(t, q, docs)
			res, err := q.Run(seq(docs))
			if err != nil {
				t.Fatalf("%q: Run: %v", s, err)
			}
			if _, err := json.Marshal(res.Rows); err != nil {
				t.Fatalf("%q: rows do not marshal: %v", s, err)
			}
			if got, _ := tb.Run(q); !reflect.DeepEqual(got, res) {
				t.Fatalf("%q: over a Table %v, over the twins %v", s, got.Rows, res.Rows)
			}
			for _, d := range docs {
				q.Match(d)
			}
		}
	})
}

// checkRoundTrip holds the printer and the parser together: the canonical text of a
// parsed WHERE condition parses back to the same canonical text and selects the same
// twins.
func checkRoundTrip(t *testing.T, q *Query) {
	if q.st.where == nil {
		return
	}
	text := q.st.where.String()
	if utf8.RuneCountInString(text) > MaxQueryLength {
		return // escaping can lengthen a query past the limit
	}
	again, err := ParseWhere(text)
	if err != nil {
		t.Fatalf("%q: canonical condition %q does not parse: %v", q.src, text, err)
	}
	if got := again.st.where.String(); got != text {
		t.Fatalf("%q: canonical condition changed on re-parse:\n%s\n%s", q.src, text, got)
	}
	for _, d := range fleet(t) {
		if q.Match(d) != again.Match(d) {
			t.Fatalf("%q: re-parsed %q matches %s differently", q.src, text, d.DeviceID)
		}
	}
}
