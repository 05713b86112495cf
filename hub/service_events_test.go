package hub

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

// patchTags writes tags to device id n times (one twin event each).
func patchTags(t *testing.T, h *Hub, id string, n int) {
	t.Helper()
	for i := range n {
		p := TwinPatch{Tags: map[string]any{"n": float64(i)}, HasTags: true}
		if _, err := h.PatchTwin(context.Background(), id, p, "*"); err != nil {
			t.Fatal(err)
		}
	}
}

// A service client that subscribes after events went by unencoded gets positions from
// hub.info that count them, and then every later event with consecutive seqs.
func TestEventFeedLateSubscriber(t *testing.T) {
	h := startHub(t, t.TempDir())
	createDevice(t, h, "late")
	svc := dialService(t, h, "late") // its session marks the feed until the next check
	h.service()
	ev := watch(t, h) // called after publishEvent for the same event
	h.feed.refresh(h)
	if h.feed.wanted() {
		t.Fatal("feed still wanted after a check with no event subscription")
	}
	const before, after = 5, 3
	patchTags(t, h, "late", before)
	for range before {
		nextEvent(t, ev, EventTwin)
	}
	h.svc.mu.Lock()
	batched, buf := h.svc.batchN, h.svc.batch
	h.svc.mu.Unlock()
	if batched != 0 || buf != nil {
		t.Fatalf("with no subscriber %d events were batched (%d bytes)", batched, len(buf))
	}

	if err := svc.subscribe("$twinops/events/batch"); err != nil {
		t.Fatal(err)
	}
	if !h.feed.wanted() {
		t.Fatal("feed not wanted after an event subscription's SUBACK")
	}
	h.feed.refresh(h)
	if !h.feed.wanted() {
		t.Fatal("a check cleared the feed while a client holds an event subscription")
	}
	_ = svc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	svc.publish("$twinops/req/hub.info/?$rid=1", []byte(`{}`))
	if err := svc.flush(); err != nil {
		t.Fatal(err)
	}
	var info struct {
		Seq map[string]int64 `json:"seq"`
	}
	for info.Seq == nil {
		topic, body, err := svc.readPublish()
		if err != nil {
			t.Fatal(err)
		}
		if topic == "$twinops/res/200/?$rid=1" {
			if err := json.Unmarshal(body, &info); err != nil {
				t.Fatalf("hub.info %s: %v", body, err)
			}
		}
	}
	if info.Seq["twin"] != before {
		t.Fatalf("hub.info twin seq %d, want %d (the events nobody received still count)", info.Seq["twin"], before)
	}

	patchTags(t, h, "late", after)
	want := info.Seq["twin"] + 1
	for want <= before+after {
		topic, body, err := svc.readPublish()
		if err != nil {
			t.Fatalf("waiting for twin seq %d: %v", want, err)
		}
		if topic != "$twinops/events/batch" {
			continue
		}
		var b struct {
			Events []struct {
				Kind     string `json:"kind"`
				Seq      json.RawMessage
				DeviceID string `json:"deviceId"`
			} `json:"events"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatalf("batch %s: %v", body, err)
		}
		for _, e := range b.Events {
			if e.Kind != "twin" {
				continue
			}
			if string(e.Seq) != strconv.FormatInt(want, 10) || e.DeviceID != "late" {
				t.Fatalf("twin event seq %s device %q, want seq %d device late", e.Seq, e.DeviceID, want)
			}
			want++
		}
	}

	svc.close() // its connection record goes on disconnect; the next check clears the feed
	deadline := time.Now().Add(waitTimeout)
	for h.feed.refresh(h); h.feed.wanted(); h.feed.refresh(h) {
		if time.Now().After(deadline) {
			t.Fatal("feed still wanted after the only subscriber disconnected")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With nobody subscribed, an event costs no allocation; with a subscriber, full batch
// buffers are sized once (not grown by doubling): bytes allocated stay near bytes sent.
func TestEventFeedAllocations(t *testing.T) {
	h := startHub(t, t.TempDir())
	c := &twin.Change{DeviceID: "alloc", Version: 7, Section: twin.Reported, Op: twin.OpPatch,
		Patch: map[string]any{"temperature": 21.5, "fan": map[string]any{"speed": 4.0, "mode": "auto"}},
		Time:  time.Unix(1_800_000_000, 0)}
	e := Event{Kind: EventTwin, Twin: c}
	h.feed.refresh(h)
	if n := testing.AllocsPerRun(1000, func() { h.publishEvent(e) }); n != 0 {
		t.Errorf("%v allocations per event with no subscriber, want 0", n)
	}

	h.feed.mark()
	h.svc.mu.Lock()
	h.svc.batchArmed = true // no flush timers: batches go out when full, whatever the machine's speed
	h.svc.mu.Unlock()
	const events = 20000
	for range 1000 { // warm up: the batch size settles
		h.publishEvent(e)
	}
	_, _, body := encodeEvent(nil, e, 1_000_000)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range events {
		h.publishEvent(e)
	}
	runtime.ReadMemStats(&m1)
	sent := float64(events * (len(body) + len(`,{"kind":"twin",`) - 1))
	ratio := float64(m1.TotalAlloc-m0.TotalAlloc) / sent
	t.Logf("%.2f bytes allocated per byte batched, %.0f bytes per event", ratio, float64(m1.TotalAlloc-m0.TotalAlloc)/events)
	if ratio > 1.5 {
		t.Errorf("%.2f bytes allocated per byte of events batched, want at most 1.5 (buffers grown by doubling cost ~4)", ratio)
	}
}
