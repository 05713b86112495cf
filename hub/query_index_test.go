package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/twinops/twinops/twin"
)

// queryIDs runs a SELECT * query through Hub.Query (all pages) and returns the ids.
func queryDeviceIDs(t *testing.T, h *Hub, q string) []string {
	t.Helper()
	var ids []string
	cont := ""
	for {
		p, err := h.Query(context.Background(), q, 100, cont)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, it := range p.Items {
			ids = append(ids, it.(*twin.Doc).DeviceID)
		}
		if cont = p.Continuation; cont == "" {
			return ids
		}
	}
}

// queryJSON runs an aggregate or projection through Hub.Query and returns its rows as JSON.
func queryJSON(t *testing.T, h *Hub, q string) string {
	t.Helper()
	p, err := h.Query(context.Background(), q, 1000, "")
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	b, err := json.Marshal(p.Items)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Queries read each shard's column index, built on the first query and then kept in step
// by the owner: a query sees twins created, patched in place (reported properties),
// replaced (tags and desired writes), connected and deleted after the index was built.
func TestQuerySeesChanges(t *testing.T) {
	h := startHub(t, t.TempDir())
	ctx := context.Background()
	devs := map[string]Identity{}
	for i := range 6 {
		id := fmt.Sprintf("q%d", i)
		devs[id] = createDevice(t, h, id)
	}
	const fwFailed = "SELECT * FROM devices WHERE properties.reported.fw.status = 'failed'"
	const connected = "SELECT * FROM devices WHERE connectionState = 'Connected'"
	const byRegion = "SELECT tags.region AS region, COUNT() AS n FROM devices GROUP BY tags.region"
	// Build the indexes (and their columns) before anything changes.
	if got := queryDeviceIDs(t, h, fwFailed); len(got) != 0 {
		t.Fatalf("failed before any report: %v", got)
	}
	if got := queryDeviceIDs(t, h, connected); len(got) != 0 {
		t.Fatalf("connected before any connection: %v", got)
	}
	if got, want := queryJSON(t, h, byRegion), `[{"n":6}]`; got != want {
		t.Fatalf("regions before tags: %s, want %s", got, want)
	}

	// In place: a device connects and reports.
	d := mustDial(t, h, devs["q2"])
	d.subscribe("$iothub/twin/res/#", 0)
	if m := d.request("$iothub/twin/PATCH/properties/reported/?$rid=1", "1", `{"fw":{"status":"failed"}}`); m.topic != "$iothub/twin/res/204/?$rid=1&$version=2" {
		t.Fatalf("reported patch answer %q", m.topic)
	}
	if got := queryDeviceIDs(t, h, fwFailed); !slices.Equal(got, []string{"q2"}) {
		t.Fatalf("failed after q2's report: %v, want [q2]", got)
	}
	if got := queryDeviceIDs(t, h, connected); !slices.Equal(got, []string{"q2"}) {
		t.Fatalf("connected after q2 connected: %v, want [q2]", got)
	}

	// Replaced: back-end tag writes swap in a new twin.
	for id, region := range map[string]string{"q1": "eu", "q3": "eu", "q4": "us"} {
		if _, err := h.PatchTwin(ctx, id, TwinPatch{Tags: map[string]any{"region": region}, HasTags: true}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := queryJSON(t, h, byRegion), `[{"n":3},{"n":2,"region":"eu"},{"n":1,"region":"us"}]`; got != want {
		t.Fatalf("regions after tag writes: %s, want %s", got, want)
	}

	// Created and deleted.
	createDevice(t, h, "q9")
	if err := h.DeleteDevice(ctx, "q3", ""); err != nil {
		t.Fatal(err)
	}
	if got, want := queryJSON(t, h, byRegion), `[{"n":4},{"n":1,"region":"eu"},{"n":1,"region":"us"}]`; got != want {
		t.Fatalf("regions after create and delete: %s, want %s", got, want)
	}
	if got, want := queryDeviceIDs(t, h, "SELECT * FROM devices"), []string{"q0", "q1", "q2", "q4", "q5", "q9"}; !slices.Equal(got, want) {
		t.Fatalf("all twins: %v, want %v", got, want)
	}

	// Disconnected again: the connection event is published once the owner applied it.
	ev := watch(t, h)
	d.close()
	for e := nextEvent(t, ev, EventConnection); e.Conn.Connected; e = nextEvent(t, ev, EventConnection) {
	}
	if got := queryDeviceIDs(t, h, connected); len(got) != 0 {
		t.Fatalf("connected after q2 disconnected: %v", got)
	}
}

// Queries run while devices report and connect, several at once (go test -race).
func TestQueryConcurrentWithChanges(t *testing.T) {
	h := startHub(t, t.TempDir())
	ctx := context.Background()
	for i := range 40 {
		createDevice(t, h, fmt.Sprintf("c%02d", i))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the writer: back-end writes on every twin, twice
		defer wg.Done()
		for round := range 2 {
			for i := range 40 {
				p := TwinPatch{Tags: map[string]any{"n": float64(round)}, HasTags: true}
				if _, err := h.PatchTwin(ctx, fmt.Sprintf("c%02d", i), p, ""); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := h.Query(ctx, "SELECT tags.n AS n, COUNT() AS c FROM devices GROUP BY tags.n", 0, ""); err != nil {
					t.Error(err)
					return
				}
				if _, err := h.Query(ctx, "SELECT deviceId FROM devices WHERE tags.n = 1", 100, ""); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got, want := queryJSON(t, h, "SELECT tags.n AS n, COUNT() AS c FROM devices GROUP BY tags.n"), `[{"c":40,"n":1}]`; got != want {
		t.Fatalf("after the writes: %s, want %s", got, want)
	}
}
