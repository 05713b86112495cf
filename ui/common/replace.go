package common

import (
	"sort"
	"strings"

	"github.com/twinops/twinops/twin"
)

// removed lists, for a section replaced whole by next, every leaf the section held
// before (root as the store had it, with this batch's earlier changes of the device from
// hist[from:] applied over it) that next no longer has: a replace drops what it leaves
// out, which a merge-patch reading of next would never show.
func removed(sec string, root map[string]any, hist []HistoryEntry, from int, next map[string]any) []DiffLine {
	old := map[string]any{} // dotted path (without the section) -> leaf value
	flatten(root, make([]string, 0, 12), func(p []string, v any) { old[strings.Join(p, ".")] = v })
	if from >= 0 {
		prefix := sec + "."
		for _, h := range hist[from:] {
			for _, l := range h.Lines {
				p, ok := strings.CutPrefix(l.Path, prefix)
				if !ok {
					continue
				}
				for k := range old { // a deleted or replaced object takes its leaves with it
					if k == p || strings.HasPrefix(k, p+".") {
						delete(old, k)
					}
				}
				if !l.Deleted {
					old[p] = l.New
				}
			}
		}
	}
	var out []DiffLine
	for p, v := range old {
		if _, still := twin.Lookup(next, strings.Split(p, ".")...); still {
			continue
		}
		out = append(out, DiffLine{Path: sec + "." + p, Old: v, HadOld: true, Deleted: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
