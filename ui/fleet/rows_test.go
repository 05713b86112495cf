package fleet

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/theme"
	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
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

// TestCountsNarrowKeepTheFailed: at 50 columns the counts line used to end "≠ 1 diffe…",
// the failed count cut off, and a lost hub's warning with it (QA, session 6). Narrow,
// the hub's state and the failed come first, in short words.
func TestCountsNarrowKeepTheFailed(t *testing.T) {
	st := theme.New(true, false)
	c := common.Counts{Total: 200, Connected: 197, Pending: 12, Failed: 3, Different: 1, Disabled: 1}
	tests := map[string]struct {
		status common.Status
		want   []string
	}{
		"in sync":   {common.Status{State: common.StateSynced}, []string{"200 devices", "● 197/200 up", "✗ 3 failed"}},
		"hub lost":  {common.Status{State: common.StateReconnecting}, []string{"⚠ hub lost", "✗ 3 failed"}},
		"resyncing": {common.Status{State: common.StateSyncing}, []string{"resyncing…", "✗ 3 failed"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			line := ansi.Strip(renderCounts(st, c, tc.status, true, 50))
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Fatalf("%q does not show %q", line, w)
				}
			}
			if common.Width(line) > 50 {
				t.Fatalf("%q is wider than 50", line)
			}
		})
	}
}
