package twinclient

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/twin"
)

func TestPageParts(t *testing.T) {
	cases := map[string]struct {
		body      string
		items     string // "" when not recognised
		cont      string
		wantMatch bool
	}{
		"more pages":     {`{"items":[{"a":1},{"b":2}],"continuation":"dG9rOjEwMDA6ZGV2LTAwMDk5OQ","itemType":"twin"}`, `[{"a":1},{"b":2}]`, "dG9rOjEwMDA6ZGV2LTAwMDk5OQ", true},
		"last page":      {`{"items":[{"a":1}],"itemType":"twin"}`, `[{"a":1}]`, "", true},
		"empty":          {`{"items":[],"itemType":"twin"}`, `[]`, "", true},
		"raw rows":       {`{"items":[{"a":1}],"itemType":"raw"}`, "", "", false},
		"spaces":         {`{ "items":[],"itemType":"twin"}`, "", "", false},
		"other order":    {`{"items":[],"itemType":"twin","continuation":"x"}`, "", "", false},
		"escaped token":  {`{"items":[],"continuation":"a\"b","itemType":"twin"}`, "", "", false},
		"object before":  {`{"items":[],"x":{"continuation":"abc"},"itemType":"twin"}`, "", "", false},
		"string in item": {`{"items":[{"continuation":"abc"}],"itemType":"twin"}`, `[{"continuation":"abc"}]`, "", true},
		"no array":       {`{"items":{},"itemType":"twin"}`, "", "", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			items, cont, ok := pageParts([]byte(c.body))
			if ok != c.wantMatch || string(items) != c.items || cont != c.cont {
				t.Fatalf("pageParts = %q, %q, %v; want %q, %q, %v", items, cont, ok, c.items, c.cont, c.wantMatch)
			}
		})
	}
}

// A page in the hub's form and the same page split decode to the same twins.
func TestDecodePageForms(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var docs []string
	for _, id := range []string{"a", "b"} {
		d := twin.New(id, now)
		if err := d.Patch(twin.Tags, map[string]any{"site": map[string]any{"b": "43"}}, now); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(d.AppendJSON(nil)))
	}
	body := `{"items":[` + strings.Join(docs, ",") + `],"itemType":"twin"}`
	items, _, ok := pageParts([]byte(body))
	if !ok {
		t.Fatal("the hub's form is not recognised")
	}
	split, _, ok := splitPage([]byte(body))
	if !ok {
		t.Fatal("splitPage failed")
	}
	forms := map[string]listedPage{"array": {array: items}, "split": {}}
	for _, it := range split {
		forms["split"] = listedPage{items: append(forms["split"].items, it)}
	}
	for name, p := range forms {
		t.Run(name, func(t *testing.T) {
			got, err := decodePage(&twin.Decoder{ShareValues: true}, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(docs) {
				t.Fatalf("%d twins, want %d", len(got), len(docs))
			}
			for i, d := range got {
				if s := string(d.AppendJSON(nil)); s != docs[i] {
					t.Errorf("twin %d:\n%s\nwant\n%s", i, s, docs[i])
				}
			}
		})
	}
}

// The hub's own answers are in the form pageParts reads, over several pages, so the
// listing decodes them without splitting.
func TestFleetListPagesInHubForm(t *testing.T) {
	sh := startSvcHub(t)
	admin := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	const n = listPage + 5
	for i := range n {
		if _, err := sh.h.CreateDevice(ctx, hub.Identity{DeviceID: fmt.Sprintf("dev-%04d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	f := newFleet(ctx, admin)
	defer f.stop()
	cont, total := "", 0
	for page := 0; ; page++ {
		p, next, err := f.fetchListPage(ctx, cont)
		if err != nil {
			t.Fatal(err)
		}
		if p.array == nil {
			t.Fatalf("page %d of the hub's answer was not recognised: the listing split it", page)
		}
		docs, err := decodePage(&twin.Decoder{}, p)
		if err != nil {
			t.Fatal(err)
		}
		total += len(docs)
		if next == "" {
			break
		}
		cont = next
	}
	if total != n {
		t.Fatalf("listed %d twins, want %d", total, n)
	}
}
