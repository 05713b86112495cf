package fleet

import (
	"runtime"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

func rowTwin(id string, tags map[string]any, fw string) *twin.Doc {
	d := twin.New(id, time.Unix(0, 0))
	d.Tags = tags
	d.Reported.Values = map[string]any{"firmware": map[string]any{"version": fw}}
	return d
}

// Tag texts are the same whether twins share one tags map (remembered by the cache) or
// each has its own, and a row that reuses its previous tag text still gets a search
// text that follows its firmware.
func TestRowTexts(t *testing.T) {
	shared := map[string]any{"region": "eu", "ring": "canary"}
	tests := map[string]struct {
		tags  func(i int) map[string]any
		cache tagCache
	}{
		"shared map, cache":    {func(int) map[string]any { return shared }, tagCache{}},
		"shared map, no cache": {func(int) map[string]any { return shared }, nil},
		"own maps, cache":      {func(int) map[string]any { return map[string]any{"region": "eu", "ring": "canary"} }, tagCache{}},
		"different maps, cache": {func(i int) map[string]any {
			return map[string]any{"region": []string{"eu", "us"}[i%2], "ring": "canary"}
		}, tagCache{}},
		"many own maps, cache": {func(i int) map[string]any { return map[string]any{"n": float64(i)} }, tagCache{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// The cache's contract: its maps live while it is used (a batch's twins
			// hold them). Keep them, or a freed map's address may come back for a new
			// map and the test would check a case the fleet never has.
			var held []map[string]any
			for i := range maxTagCache + 10 {
				tags := tc.tags(i)
				held = append(held, tags)
				r := newRow(rowTwin("dev", tags, "1.0"), twin.Summary{}, false, nil, tc.cache)
				wantTags, wantVals := tagText(tags)
				if r.tags != wantTags || r.tagVals != wantVals {
					t.Fatalf("row %d: tags %q / %q, want %q / %q", i, r.tags, r.tagVals, wantTags, wantVals)
				}
			}
			runtime.KeepAlive(held)
		})
	}
	prev := newRow(rowTwin("dev-1", shared, "1.0"), twin.Summary{}, false, nil, nil)
	if got := prev.searchText(); got != "dev-1 region=eu ring=canary 1.0   enabled" {
		t.Fatalf("search text %q", got)
	}
	next := newRow(rowTwin("dev-1", shared, "2.0"), twin.Summary{}, false, prev, nil)
	if !matchFilter(next, []string{"2.0", "canary"}) || matchFilter(next, []string{"1.0"}) {
		t.Fatalf("after a firmware change the search text is %q", next.searchText())
	}
	same := newRow(rowTwin("dev-1", shared, "2.0"), twin.Summary{}, false, next, nil)
	if same.search != next.search {
		t.Fatalf("an unchanged row did not keep its search text: %q vs %q", same.search, next.search)
	}
}
