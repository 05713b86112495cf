package ui

import (
	"fmt"
	"image/color"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

// eachSize runs a golden case at 80x24 and 160x48.
func eachSize(t *testing.T, build func(t *testing.T, m Model) Model) {
	for _, s := range sizes {
		t.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(t *testing.T) {
			m, _ := newTestModel(t, 40, false)
			m = size(t, m, s.w, s.h)
			goldenView(t, build(t, m))
		})
	}
}

// liveBatch is a batch in which dev-00004 reports a firmware step and dev-00001 disconnects.
func liveBatch(m Model) common.Batch {
	d := m.c.Store.Get("dev-00004").Clone()
	at := uitest.Clock.Add(-time.Second)
	patch := map[string]any{"firmware": map[string]any{"status": "installing", "progress": 80.0}}
	if err := d.Patch(twin.Reported, patch, at); err != nil {
		panic(err)
	}
	d1 := m.c.Store.Get("dev-00001").Clone()
	d1.ConnectionState = "Disconnected"
	return common.Batch{
		Twins: map[string]*twin.Doc{d.DeviceID: d, d1.DeviceID: d1},
		Events: []common.Event{
			{Time: at, DeviceID: "dev-00004", Kind: "reported", Version: d.Version, Patch: patch},
			{Time: at, DeviceID: "dev-00001", Kind: "disconnected"},
		},
	}
}

func TestGoldenFleetFilter(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model {
		m = keys(t, m, "/")
		return typeText(t, m, "eu-west early")
	})
}

func TestGoldenFleetQuery(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model {
		m = keys(t, m, ":")
		m = typeText(t, m, "properties.reported.firmware.status = 'failed'")
		return keys(t, m, "enter")
	})
}

func TestGoldenFleetAggregate(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model {
		m = keys(t, m, ":")
		m = typeText(t, m, "SELECT properties.reported.firmware.status AS status, COUNT() AS n FROM devices GROUP BY properties.reported.firmware.status")
		return keys(t, m, "enter")
	})
}

func TestGoldenFleetSortedBySync(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model {
		for i := 0; i < 8 && !containsText(m.Render(), "SYNC▲"); i++ {
			m = keys(t, m, ">")
		}
		return keys(t, m, "s")
	})
}

func TestGoldenTwin(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model {
		m = keys(t, m, "j", "j", "j", "j", "enter")
		return update(t, m, batchMsg{batch: liveBatch(m)})
	})
}

func TestGoldenEdit(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model {
		m = keys(t, m, "j", "j", "j", "j", "e", "down", "down", "end", "backspace", "backspace")
		return typeText(t, m, `1"`)
	})
}

func TestGoldenEditInvalid(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model {
		m = keys(t, m, "e", "down", "down", "end", "backspace")
		return m
	})
}

func TestGoldenEditConflict(t *testing.T) {
	for _, s := range sizes {
		t.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(t *testing.T) {
			m, be := newTestModel(t, 40, false)
			m = size(t, m, s.w, s.h)
			m = keys(t, m, "e", "down", "down", "end", "backspace", "backspace", "backspace", "backspace", "backspace", "backspace", "backspace")
			m = typeText(t, m, `"9.9.9"`)
			be.Mutate("dev-00000", twin.Desired, map[string]any{"firmware": map[string]any{"version": "2.0.0"}, "mode": "eco"})
			m = keys(t, m, "ctrl+s")
			goldenView(t, m)
		})
	}
}

func TestGoldenEvents(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model {
		m = update(t, m, batchMsg{batch: liveBatch(m)})
		return keys(t, m, "v")
	})
}

func TestGoldenRolloutConfirm(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model {
		m = keys(t, m, "r")
		m = typeText(t, m, "1.6.0")
		return keys(t, m, "enter")
	})
}

func TestGoldenHelp(t *testing.T) {
	eachSize(t, func(t *testing.T, m Model) Model { return keys(t, m, "?") })
}

func TestGoldenMonoAndReadOnly(t *testing.T) {
	for _, s := range sizes {
		t.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(t *testing.T) {
			be := uitest.NewBackend(uitest.Now, uitest.Fleet(40)...)
			dark := false
			m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, Mono: true, ReadOnly: true})
			m = update(t, m, batchMsg{batch: be.InitialBatch()})
			m = size(t, m, s.w, s.h)
			goldenView(t, keys(t, m, "j"))
		})
	}
}

func TestGoldenStartingUp(t *testing.T) {
	eachSize(t, func(t *testing.T, m0 Model) Model {
		be := uitest.NewBackend(uitest.Now)
		dark := true
		m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark})
		m = update(t, m, tea.WindowSizeMsg{Width: m0.c.Width, Height: m0.c.Height})
		return update(t, m, batchMsg{batch: common.Batch{Status: common.Status{State: "failed", LastError: "embedded hub: data dir is locked by another twinops (pid 4242); run with --data DIR", ErrorTime: uitest.Clock}}})
	})
}

func TestGoldenLightTheme(t *testing.T) {
	for _, s := range sizes {
		t.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(t *testing.T) {
			m, _ := newTestModel(t, 40, false)
			m = update(t, m, tea.BackgroundColorMsg{Color: color.White})
			m = size(t, m, s.w, s.h)
			goldenView(t, keys(t, m, "j", "j", "j", "j", "enter"))
		})
	}
}
