package query

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/twinops/twinops/twin"
)

// TestReviewMergedTablesMatchRun: an aggregate answered as the hub does (one Aggregator per
// shard Table, AddTable, Merge) gives what Query.Run gives over all the twins, for every
// aggregate of tableQueries and the fixtures (MIN/MAX of mixed kinds, AVG, GROUP BY keys of
// mixed kinds, objects and times, TOP), whatever the split into shards and with shards
// that hold nothing.
func TestReviewMergedTablesMatchRun(t *testing.T) {
	qs := parseAll(t, append(append([]string(nil), tableQueries...), fixtureQueries()...))
	f := &tableFleet{r: rand.New(rand.NewPCG(7, 11)), now: t0}
	var docs []*twin.Doc
	for range 80 {
		docs = append(docs, f.doc(t))
	}
	for _, shards := range []int{1, 2, 3, 7, 100} {
		tables := make([]*Table, shards)
		for i := range tables {
			tables[i] = NewTable(0)
		}
		for _, d := range docs {
			tables[f.r.IntN(shards)].Put(d)
		}
		for _, q := range qs {
			if !q.Aggregate() {
				continue
			}
			var all *Aggregator
			for _, tb := range tables {
				a := q.NewAggregator()
				a.AddTable(tb)
				if all == nil {
					all = a
				} else {
					all.Merge(a)
				}
			}
			want, _ := q.Run(func(yield func(*twin.Doc) bool) {
				for _, d := range docs {
					if !yield(d) {
						return
					}
				}
			})
			got, _ := json.Marshal(all.Rows())
			// A group holding 0 and -0 shows whichever came first: not a difference.
			zero := strings.NewReplacer(":-0,", ":0,", ":-0}", ":0}")
			if w := zero.Replace(rowsJSON(t, want)); zero.Replace(string(got)) != w {
				t.Errorf("%d shards, %q:\nmerged: %s\nRun:    %s", shards, q, got, w)
			}
		}
	}
}
