package common

import (
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
)

func TestFit(t *testing.T) {
	tests := map[string]struct {
		in   string
		w    int
		want string
	}{
		"pads":           {"ab", 4, "ab  "},
		"exact":          {"abcd", 4, "abcd"},
		"cuts with …":    {"abcdef", 4, "abc…"},
		"width one":      {"abc", 1, "…"},
		"zero width":     {"abc", 0, ""},
		"wide runes cut": {"→→→→", 3, "→→…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Fit(tc.in, tc.w); got != tc.want || Width(got) != max(tc.w, 0) {
				t.Fatalf("Fit(%q, %d) = %q, want %q", tc.in, tc.w, got, tc.want)
			}
		})
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		ago  time.Duration
		want string
	}{
		"now": {0, "now"}, "seconds": {42 * time.Second, "42s"}, "minutes": {5 * time.Minute, "5m"},
		"hours": {3 * time.Hour, "3h"}, "days": {72 * time.Hour, "3d"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Age(now, now.Add(-tc.ago)); got != tc.want {
				t.Fatalf("Age = %q, want %q", got, tc.want)
			}
		})
	}
	if Age(now, time.Time{}) != "-" {
		t.Fatal("zero time should be -")
	}
}

func doc(id string, at time.Time, reported map[string]any) *twin.Doc {
	d := twin.New(id, at)
	if err := d.Patch(twin.Reported, reported, at); err != nil {
		panic(err)
	}
	return d
}

func TestStoreApplyCountsAndHistory(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := NewStore()
	a := doc("a", at, map[string]any{"fw": map[string]any{"v": "1"}})
	a.ConnectionState = "Connected"
	b := doc("b", at, map[string]any{"firmware": map[string]any{"status": "failed"}})
	msg := s.Apply(Batch{Twins: map[string]*twin.Doc{"a": a, "b": b}, Status: Status{State: StateSynced}})
	if !msg.Added || len(msg.Changed) != 2 || !s.Synced {
		t.Fatalf("first batch: %+v synced %v", msg, s.Synced)
	}
	if c := s.Counts(); c != (Counts{Total: 2, Connected: 1, Failed: 1}) {
		t.Fatalf("counts %+v", c)
	}
	// Two changes to a in one batch: the second diff is against the first.
	a2 := a.Clone()
	patch1 := map[string]any{"fw": map[string]any{"v": "2"}}
	patch2 := map[string]any{"fw": map[string]any{"v": "3"}, "gone": nil}
	a2.ConnectionState = "Disconnected"
	s.Apply(Batch{
		Twins: map[string]*twin.Doc{"a": a2, "b": nil},
		Events: []Event{
			{Time: at, DeviceID: "a", Kind: "reported", Version: 3, Patch: patch1},
			{Time: at.Add(time.Second), DeviceID: "a", Kind: "reported", Version: 4, Patch: patch2},
		},
	})
	if c := s.Counts(); c != (Counts{Total: 1}) {
		t.Fatalf("counts after update and delete %+v", c)
	}
	h := s.History("a")
	if len(h) != 2 || len(h[0].Lines) != 1 || len(h[1].Lines) != 1 {
		t.Fatalf("history %+v", h)
	}
	if l := h[1].Lines[0]; l.Path != "reported.fw.v" || l.Old != "2" || l.New != "3" {
		t.Fatalf("second diff %+v, want reported.fw.v 2 -> 3 (deleting an absent key is no change)", l)
	}
	if got := s.Rate(at.Add(2*time.Second), 3); got[1] != 1 || got[2] != 1 {
		t.Fatalf("rate %v", got)
	}
	var kinds []int64
	s.EventsNewestFirst(func(e Event) bool { kinds = append(kinds, e.Version); return true })
	if len(kinds) != 2 || kinds[0] != 4 {
		t.Fatalf("events newest first %v", kinds)
	}
}

func TestStoreEventRing(t *testing.T) {
	s := NewStore()
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	evs := make([]Event, maxEvents+10)
	for i := range evs {
		evs[i] = Event{Time: at, DeviceID: "x", Kind: "connected", Version: int64(i)}
	}
	s.Apply(Batch{Events: evs})
	all := s.Events()
	if len(all) != maxEvents || all[0].Version != 10 || all[len(all)-1].Version != int64(maxEvents+9) {
		t.Fatalf("ring kept %d events from %d to %d", len(all), all[0].Version, all[len(all)-1].Version)
	}
}
