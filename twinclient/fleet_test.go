package twinclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/twin"
)

// fleetView is what a consumer builds from batches.
type fleetView struct {
	twins  map[string]*twin.Doc
	events int
	status Status
}

func (v *fleetView) apply(b Batch) {
	for id, d := range b.Twins {
		if d == nil {
			delete(v.twins, id)
		} else {
			v.twins[id] = d
		}
	}
	v.events += len(b.Events)
	v.status = b.Status
}

// comparable renders a twin without what the cache does not track exactly
// (lastActivityTime, kept by the hub without events).
func comparable(d *twin.Doc) string {
	c := d.Clone()
	c.LastActivityTime = time.Time{}
	b, _ := json.Marshal(c)
	return string(b)
}

// hubState reads every twin from the hub through the service API.
func hubState(t testing.TB, ctx context.Context, s *Service) map[string]string {
	t.Helper()
	out := map[string]string{}
	for page, err := range s.Query(ctx, "SELECT * FROM devices", 1000) {
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page {
			d := new(twin.Doc)
			if err := d.UnmarshalJSON(raw); err != nil {
				t.Fatal(err)
			}
			out[d.DeviceID] = comparable(d)
		}
	}
	return out
}

// diffStates describes the first differences between the cache and the hub.
func diffStates(view map[string]*twin.Doc, want map[string]string) string {
	var ids []string
	for id := range want {
		ids = append(ids, id)
	}
	for id := range view {
		if _, ok := want[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	msg, n := "", 0
	for _, id := range ids {
		got := ""
		if d := view[id]; d != nil {
			got = comparable(d)
		}
		if got != want[id] && n < 3 {
			msg += fmt.Sprintf("\n%s:\n  cache %s\n  hub   %s", id, got, want[id])
			n++
		}
	}
	return msg
}

// waitEqual consumes batches until the consumer's view equals the hub's state.
func waitEqual(t *testing.T, ctx context.Context, f *Fleet, v *fleetView, admin *Service) {
	t.Helper()
	for {
		want := hubState(t, ctx, admin)
		if v.status.State == Synced && diffStates(v.twins, want) == "" {
			return
		}
		b, err := f.Next(ctx)
		if err != nil {
			t.Fatalf("fleet never matched the hub (%v); status %+v; differences:%s", err, v.status, diffStates(v.twins, want))
		}
		v.apply(b)
	}
}

func TestFleetMatchesHub(t *testing.T) {
	sh := startSvcHub(t)
	admin := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []string
	for i := range 30 {
		id := fmt.Sprintf("dev-%02d", i)
		if _, err := admin.CreateDevice(ctx, Identity{DeviceID: id}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	watcher := sh.dial(t, "service")
	f := watcher.Fleet(ctx)
	v := &fleetView{twins: map[string]*twin.Doc{}}
	waitEqual(t, ctx, f, v, admin)
	if len(v.twins) != 30 {
		t.Fatalf("initial load: %d twins, want 30", len(v.twins))
	}

	// devices connect and report
	var devs []*Device
	for _, id := range ids[:5] {
		cs, err := admin.DeviceConnectionString(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		d, err := DialDevice(ctx, DeviceOptions{ConnectionString: cs, URL: sh.url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		devs = append(devs, d)
	}
	step := func(n int) {
		for range n {
			id := ids[rng.IntN(len(ids))]
			var err error
			switch rng.IntN(5) {
			case 0, 1:
				_, err = admin.PatchTwin(ctx, id, Patch{Desired: map[string]any{"k": float64(rng.IntN(100)), "gone": nil}}, "*")
			case 2:
				_, err = admin.ReplaceTwin(ctx, id, Patch{Tags: map[string]any{"ring": fmt.Sprint(rng.IntN(3))}}, "")
			case 3:
				d := devs[rng.IntN(len(devs))]
				_, err = d.PatchReported(ctx, map[string]any{"battery": float64(rng.IntN(100))})
			case 4:
				_, err = admin.PatchTwin(ctx, id, Patch{Tags: map[string]any{"n": float64(rng.IntN(9))}, Desired: map[string]any{"m": "x"}}, "")
			}
			if err != nil && !IsStatus(err, 404) {
				t.Fatal(err)
			}
		}
	}
	step(100)
	waitEqual(t, ctx, f, v, admin)

	// identities come and go
	if err := admin.DeleteDevice(ctx, "dev-29", "*"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDevice(ctx, Identity{DeviceID: "dev-new"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UpdateDevice(ctx, Identity{DeviceID: "dev-28", Status: "disabled", StatusReason: "test"}, "*"); err != nil {
		t.Fatal(err)
	}
	ids = append(ids[:28], "dev-new")
	devs[0].Close()
	devs = devs[1:]
	step(50)
	waitEqual(t, ctx, f, v, admin)

	// reconnects: the cache resynchronises by itself
	watcher.dropConn()
	step(50)
	waitEqual(t, ctx, f, v, admin)
	if st := f.Status(); st.Resyncs < 1 {
		t.Fatalf("status %+v after a reconnect: want at least one resync", st)
	}

	// dropped events: every 5th event is lost, as if the hub's queue for us overflowed
	var n atomic.Int64
	drop := func(string) bool { return n.Add(1)%5 == 0 }
	f.drop.Store(&drop)
	step(80)
	f.drop.Store(nil)
	waitEqual(t, ctx, f, v, admin)

	// the cache's own snapshot agrees with what the consumer built
	snap := f.Snapshot()
	if len(snap) != len(v.twins) {
		t.Fatalf("snapshot has %d twins, consumer view %d", len(snap), len(v.twins))
	}
	if v.events == 0 {
		t.Fatal("no events were handed to the consumer")
	}
	t.Logf("status %+v, %d events", f.Status(), v.events)
}

// Batches hand out immutable snapshots: a later change gives a new *twin.Doc and leaves
// the one handed out as it was.
func TestFleetSnapshotsAreImmutable(t *testing.T) {
	sh := startSvcHub(t)
	admin := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	if _, err := admin.CreateDevice(ctx, Identity{DeviceID: "a"}); err != nil {
		t.Fatal(err)
	}
	f := admin.Fleet(ctx)
	v := &fleetView{twins: map[string]*twin.Doc{}}
	waitEqual(t, ctx, f, v, admin)
	first := v.twins["a"]
	before := comparable(first)
	if _, err := admin.PatchTwin(ctx, "a", Patch{Desired: map[string]any{"x": 1.0}}, ""); err != nil {
		t.Fatal(err)
	}
	waitEqual(t, ctx, f, v, admin)
	if v.twins["a"] == first {
		t.Fatal("the changed twin is the same pointer as the snapshot handed out before")
	}
	if comparable(first) != before {
		t.Fatal("a snapshot handed out earlier was modified")
	}
}

// Closing the Service stops the fleet worker, paho and every goroutine they started.
func TestServiceCloseLeavesNoGoroutines(t *testing.T) {
	sh := startSvcHub(t)
	admin := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	if _, err := admin.CreateDevice(ctx, Identity{DeviceID: "g"}); err != nil {
		t.Fatal(err)
	}
	before := goleak.IgnoreCurrent()
	cs, _ := sh.h.ServiceConnectionString("service")
	s, err := DialService(ctx, ServiceOptions{URL: sh.url, ConnectionString: cs})
	if err != nil {
		t.Fatal(err)
	}
	f := s.Fleet(ctx)
	waitSynced(t, ctx, f, 1)
	s.dropConn() // a reconnect on the way
	if _, err := s.GetTwin(ctx, "g"); err != nil && !errors.Is(err, ErrDisconnected) {
		t.Fatal(err)
	}
	s.Close()
	if _, err := f.Next(ctx); !errors.Is(err, ErrClosed) {
		for err == nil {
			_, err = f.Next(ctx)
		}
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v, want ErrClosed", err)
		}
	}
	// the hub's side of the connection ends on its own goroutines
	goleak.VerifyNone(t, before, goleak.IgnoreTopFunction("github.com/mochi-mqtt/server/v2.(*Client).WriteLoop"),
		goleak.IgnoreAnyFunction("github.com/mochi-mqtt/server/v2.(*Server).EstablishConnection"))
}

// The hub restarts (same data, same address): the client reconnects by itself and the
// cache resynchronises, with what changed while it was away.
func TestFleetSurvivesHubRestart(t *testing.T) {
	dir := t.TempDir()
	h1, err := hub.New(hub.Config{DataDir: dir, PlainAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.Start(); err != nil {
		t.Fatal(err)
	}
	addr := h1.PlainAddr().String()
	sh := &svcHub{h: h1, url: "mqtt://" + addr, data: dir}
	ctx := testCtx(t)
	for _, id := range []string{"a", "b"} {
		if _, err := h1.CreateDevice(ctx, hub.Identity{DeviceID: id}); err != nil {
			t.Fatal(err)
		}
	}
	watcher := sh.dial(t, "service")
	f := watcher.Fleet(ctx)
	v := &fleetView{twins: map[string]*twin.Doc{}}
	waitSynced(t, ctx, f, 2)
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}
	h2, err := hub.New(hub.Config{DataDir: dir, PlainAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h2.Close() })
	if _, err := h2.PatchTwin(ctx, "a", hub.TwinPatch{HasDesired: true, Desired: map[string]any{"after": "restart"}}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h2.CreateDevice(ctx, hub.Identity{DeviceID: "c"}); err != nil {
		t.Fatal(err)
	}
	sh.h = h2
	admin := sh.dial(t, "iothubowner")
	for k, d := range f.Snapshot() {
		v.twins[k] = d
	}
	waitEqual(t, ctx, f, v, admin)
	if v.twins["a"].Desired.Values["after"] != "restart" || v.twins["c"] == nil {
		t.Fatalf("cache after the restart: a %v, c %v", v.twins["a"].Desired.Values, v.twins["c"])
	}
}

// A burst of new devices (ids with quotes and backslash-free oddities included) reaches
// the cache by batched re-reads, and the cache stays exact.
func TestFleetBurstOfCreates(t *testing.T) {
	sh := startSvcHub(t)
	admin := sh.dial(t, "iothubowner")
	ctx := testCtx(t)
	if _, err := admin.CreateDevice(ctx, Identity{DeviceID: "first"}); err != nil {
		t.Fatal(err)
	}
	f := admin.Fleet(ctx)
	v := &fleetView{twins: map[string]*twin.Doc{}}
	waitEqual(t, ctx, f, v, admin)
	ids := []string{"o'brien", "a+b", "x#1", "50%", "(paren)", "semi;colon"}
	for i := range 60 {
		ids = append(ids, fmt.Sprintf("burst-%02d", i))
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := admin.CreateDevice(ctx, Identity{DeviceID: id}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waitEqual(t, ctx, f, v, admin)
	if len(v.twins) != len(ids)+1 {
		t.Fatalf("cache holds %d twins, want %d", len(v.twins), len(ids)+1)
	}
}

func TestQueryString(t *testing.T) {
	cases := map[string]string{"plain": `'plain'`, "o'brien": `'o\'brien'`, `back\slash`: `'back\\slash'`}
	for in, want := range cases {
		if got := queryString(in); got != want {
			t.Errorf("queryString(%q) = %s, want %s", in, got, want)
		}
	}
}
