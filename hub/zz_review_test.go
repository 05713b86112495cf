package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twin/query"
)

// TestReviewReconnectKeepsStoredSubscriptions: a persistent device that reconnects while
// mochi still holds its session in memory (a take-over) keeps its stored subscriptions,
// so that after a restart the lazily restored session still holds them and desired
// notifications reach the device (sessionPresent=1 tells it not to subscribe again).
func TestReviewReconnectKeepsStoredSubscriptions(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	x := createDevice(t, h, "again")
	subscribeTwin(t, h, x)
	rc, present, err := dialSession(t, h, x, false) // takes the in-memory session over
	if err != nil {
		t.Fatal(err)
	}
	if !present {
		t.Error("reconnect: sessionPresent=0")
	}
	if topic, err := rc.getTwin("r0"); err != nil || topic != "$iothub/twin/res/200/?$rid=r0" {
		t.Fatalf("GET after take-over: %q, %v", topic, err)
	}
	rc.close()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := startHub(t, dir)
	if keys := storedSessionKeys(t, h2, "again"); len(keys) != 3 {
		t.Errorf("stored session after a take-over: %q; want the client record and 2 subscriptions", keys)
	}
	rc, present, err = dialSession(t, h2, x, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	if !present {
		t.Error("after restart: sessionPresent=0")
	}
	if _, err := h2.PatchTwin(context.Background(), "again", TwinPatch{Desired: map[string]any{"k": 1}, HasDesired: true}, "*"); err != nil {
		t.Fatal(err)
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	if topic, _, err := rc.readPublish(); err != nil || !strings.HasPrefix(topic, "$iothub/twin/PATCH/properties/desired/") {
		t.Fatalf("desired notification after take-over and restart: %q %v", topic, err)
	}
}

// reviewRef answers src the old way, walking every twin under the shard read locks (no
// column index), as the JSON of its rows (ids for SELECT *).
func reviewRef(t *testing.T, h *Hub, src string) string {
	t.Helper()
	q, err := query.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	if q.Aggregate() {
		res, err := q.Run(func(yield func(*twin.Doc) bool) { h.forEachTwin(yield) })
		if err != nil {
			t.Fatal(err)
		}
		out = res.Rows
	} else {
		rows := map[string]any{}
		var ids []string
		h.forEachTwin(func(d *twin.Doc) bool {
			if q.Match(d) {
				ids = append(ids, d.DeviceID)
				rows[d.DeviceID] = d.DeviceID
				if !q.SelectAll() {
					b, _ := json.Marshal(q.Project(d))
					var v any
					_ = json.Unmarshal(b, &v)
					rows[d.DeviceID] = v
				}
			}
			return true
		})
		slices.Sort(ids)
		if top := q.Top(); top >= 0 && len(ids) > top {
			ids = ids[:top]
		}
		for _, id := range ids {
			out = append(out, rows[id])
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reviewGot answers src through Hub.Query, all pages of pageSize.
func reviewGot(t *testing.T, h *Hub, src string, pageSize int) string {
	t.Helper()
	var out []any
	cont := ""
	for {
		p, err := h.Query(context.Background(), src, pageSize, cont)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		for _, it := range p.Items {
			if d, ok := it.(*twin.Doc); ok {
				out = append(out, d.DeviceID)
			} else {
				var v any
				if err := json.Unmarshal(it.(json.RawMessage), &v); err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
		if cont = p.Continuation; cont == "" {
			break
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var reviewQueries = []string{
	"SELECT * FROM devices",
	"SELECT * FROM devices WHERE tags.k = 1",
	"SELECT * FROM devices WHERE tags.k = '1' OR tags.k = true",
	"SELECT * FROM devices WHERE status = 'disabled'",
	"SELECT * FROM devices WHERE connectionState = 'Connected'",
	"SELECT * FROM devices WHERE lastActivityTime > '2001-01-01T00:00:00Z'",
	"SELECT * FROM devices WHERE properties.desired.mode = 'eco'",
	"SELECT * FROM devices WHERE NOT (properties.desired.mode = 'eco')",
	"SELECT * FROM devices WHERE version > 2",
	"SELECT * FROM devices WHERE properties.reported.n >= 3",
	"SELECT TOP 3 * FROM devices WHERE tags.k != 'x'",
	"SELECT deviceId, tags.k AS k FROM devices WHERE IS_DEFINED(tags.k)",
	"SELECT tags.k AS k, COUNT() AS c, MIN(properties.reported.n) AS lo, MAX(properties.reported.n) AS hi, SUM(properties.reported.n) AS s FROM devices GROUP BY tags.k",
	"SELECT COUNT() AS c, AVG(properties.reported.n) AS a, MIN(tags.k) AS lo, MAX(tags.k) AS hi FROM devices",
	"SELECT status, connectionState, COUNT() AS c FROM devices GROUP BY status, connectionState",
	"SELECT TOP 2 tags.k AS k, COUNT() AS c FROM devices GROUP BY tags.k",
}

// reviewCompare checks every review query, paged by 1 and by 100, against reviewRef.
func reviewCompare(t *testing.T, h *Hub, step string) {
	t.Helper()
	for _, src := range reviewQueries {
		want := reviewRef(t, h, src)
		for _, size := range []int{1, 100} {
			if got := reviewGot(t, h, src, size); got != want {
				t.Errorf("%s: %s (page size %d):\n got %s\nwant %s", step, src, size, got, want)
			}
		}
	}
}

// TestReviewQueryIndexFollowsEveryChange builds the column indexes, then changes twins in
// every way the hub does and checks each query against a walk of the twins.
func TestReviewQueryIndexFollowsEveryChange(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	ctx := context.Background()
	devs := map[string]Identity{}
	for i := range 12 {
		id := fmt.Sprintf("r%02d", i)
		devs[id] = createDevice(t, h, id)
	}
	reviewCompare(t, h, "fresh")

	// Tags of mixed kinds (spread over the shards), desired patches and replaces.
	kinds := []any{1.0, "1", true, nil, map[string]any{"a": 1.0}, 2.0, "x", 0.0}
	for i, k := range kinds {
		id := fmt.Sprintf("r%02d", i)
		if _, err := h.PatchTwin(ctx, id, TwinPatch{Tags: map[string]any{"k": k}, HasTags: true}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.PatchTwin(ctx, "r03", TwinPatch{Desired: map[string]any{"mode": "eco"}, HasDesired: true}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ReplaceTwin(ctx, "r04", TwinPatch{Desired: map[string]any{"mode": "eco"}, HasDesired: true}, ""); err != nil {
		t.Fatal(err)
	}
	reviewCompare(t, h, "tags and desired")
	if _, err := h.ReplaceTwin(ctx, "r03", TwinPatch{Desired: map[string]any{"other": 1.0}, HasDesired: true}, ""); err != nil {
		t.Fatal(err)
	}
	reviewCompare(t, h, "desired replaced")

	// Reported patches (in place), a GET (activity only) and a connection.
	d := mustDial(t, h, devs["r05"])
	d.subscribe("$iothub/twin/res/#", 0)
	for i, n := range []string{"3", "7", "-1"} {
		rid := fmt.Sprint(i)
		if m := d.request("$iothub/twin/PATCH/properties/reported/?$rid="+rid, rid, `{"n":`+n+`}`); !strings.HasPrefix(m.topic, "$iothub/twin/res/204/") {
			t.Fatalf("reported: %q", m.topic)
		}
		reviewCompare(t, h, "reported "+n)
	}
	d2 := mustDial(t, h, devs["r06"])
	d2.subscribe("$iothub/twin/res/#", 0)
	if m := d2.request("$iothub/twin/GET/?$rid=g", "g", ""); !strings.HasPrefix(m.topic, "$iothub/twin/res/200/") {
		t.Fatalf("GET: %q", m.topic)
	}
	reviewCompare(t, h, "connected and active")

	// Registry: disable (disconnects r06), key change, delete and re-create with the same id.
	x, err := h.GetDevice(ctx, "r06")
	if err != nil {
		t.Fatal(err)
	}
	x.Status = StatusDisabled
	if _, err := h.UpdateDevice(ctx, x, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.RegenerateKey(ctx, "r07", "swap"); err != nil {
		t.Fatal(err)
	}
	reviewCompare(t, h, "registry")
	if err := h.DeleteDevice(ctx, "r00", ""); err != nil {
		t.Fatal(err)
	}
	reviewCompare(t, h, "deleted")
	createDevice(t, h, "r00")
	reviewCompare(t, h, "re-created")
	if err := h.DeleteDevice(ctx, "r01", ""); err != nil {
		t.Fatal(err)
	}
	createDevice(t, h, "r01") // deleted and re-created between two queries
	reviewCompare(t, h, "deleted and re-created")

	d.close()
	d2.close()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := startHub(t, dir)
	reviewCompare(t, h2, "restored")
}

// TestReviewTopSurvivesLostCursor: a TOP query paged past its cached cursor (evicted by
// other paging queries, or expired) still returns at most TOP rows.
func TestReviewTopSurvivesLostCursor(t *testing.T) {
	h := startHub(t, t.TempDir())
	ctx := context.Background()
	for i := range 8 {
		createDevice(t, h, fmt.Sprintf("t%d", i))
	}
	const src = "SELECT TOP 3 * FROM devices"
	p, err := h.Query(ctx, src, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	n := len(p.Items)
	for range maxCursors + 1 { // other paging queries push the cursor out
		if _, err := h.Query(ctx, "SELECT * FROM devices", 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	for cont := p.Continuation; cont != ""; cont = p.Continuation {
		if p, err = h.Query(ctx, src, 1, cont); err != nil {
			t.Fatal(err)
		}
		n += len(p.Items)
	}
	if n != 3 {
		t.Errorf("%s paged by 1 after its cursor was evicted: %d rows, want 3", src, n)
	}
}

// TestReviewCleanConnectForgetsPendingSession: a device that connects with
// CleanSession=0 and at once again with CleanSession=1 has no stored session afterwards,
// even when the first connection's session record was not yet on disk when the second
// connected (after a restart, the stale record would give sessionPresent=1 with no
// subscriptions).
//
// The first connection's record write (SessionHook.OnSessionEstablished, after its
// CONNACK) used to land after the clean connection's scan-and-delete; now a connection's
// writes are dropped once a newer connection of its id has connected, and a clean
// connect waits for the writes queued before it (hub/store/session_seq.go).
func TestReviewCleanConnectForgetsPendingSession(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	var ids []string
	for i := range 20 {
		x := createDevice(t, h, fmt.Sprintf("cl%02d", i))
		ids = append(ids, x.DeviceID)
		rc, _, err := dialSession(t, h, x, false)
		if err != nil {
			t.Fatal(err)
		}
		rc.close()
		if rc, _, err = dialSession(t, h, x, true); err != nil {
			t.Fatal(err)
		}
		rc.close()
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := startHub(t, dir)
	for _, id := range ids {
		if keys := storedSessionKeys(t, h2, id); len(keys) != 0 {
			t.Errorf("%s: stored session %q after a clean connect", id, keys)
		}
	}
}
