package query_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twin/query"
)

// rollout makes three twins in the middle of a firmware rollout.
func rollout() []*twin.Doc {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	var docs []*twin.Doc
	for i, status := range []string{"succeeded", "downloading", "succeeded", ""} {
		d := twin.New(fmt.Sprintf("pump-%d", i+1), now)
		d.Patch(twin.Desired, map[string]any{"firmware": map[string]any{"version": "2.1.0"}}, now)
		if status != "" {
			d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": status}}, now)
		}
		docs = append(docs, d)
	}
	return docs
}

// The rollout-progress query: devices by reported firmware status. The device that has
// not reported a status yet is counted in a row without "status".
func ExampleQuery_Run() {
	q, err := query.Parse(`SELECT properties.reported.firmware.status AS status, COUNT() AS n
		FROM devices WHERE properties.desired.firmware.version = '2.1.0'
		GROUP BY properties.reported.firmware.status`)
	if err != nil {
		panic(err)
	}
	res, _ := q.Run(slices.Values(rollout()))
	out, _ := json.Marshal(res.Rows)
	fmt.Println(res.ItemType, string(out))
	// Output: raw [{"n":1},{"n":1,"status":"downloading"},{"n":2,"status":"succeeded"}]
}

// The console's ':' prompt takes a bare condition.
func ExampleParseWhere() {
	q, _ := query.ParseWhere(`properties.reported.firmware.status != 'succeeded'`)
	for _, d := range rollout() {
		if q.Match(d) {
			fmt.Println(d.DeviceID)
		}
	}
	// Output: pump-2
}

// A malformed query says where and what was expected.
func ExampleSyntaxError() {
	_, err := query.Parse(`SELECT * FROM devices WHERE tags.ring = AND tags.region = 'eu'`)
	var se *query.SyntaxError
	if errors.As(err, &se) {
		fmt.Println(se)
		fmt.Println(se.Caret())
	}
	// Output:
	// col 41: expected a value after '=', found 'AND'
	// SELECT * FROM devices WHERE tags.ring = AND tags.region = 'eu'
	//                                         ^
}
