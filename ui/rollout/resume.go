package rollout

import (
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"
)

// A rollout's writes stop with the console (a quit, a dropped SSH session). Its plan is
// kept between runs, so that the next console can say so and resume it: R opens its
// review, and starting it writes the devices that do not have the value yet.

// Saved is a rollout stopped by the console's end, as kept between runs: the plan as
// typed, the devices it was planned on, and how far it got.
type Saved struct {
	IDs    []string  `json:"ids"`
	Label  string    `json:"label"`
	Fields [5]string `json:"fields"` // path, value, rate, failure limit, first wave
	// Held says why its writes were held when the console ended ("" if they were not):
	// the failure limit's reason, or that the operator had paused them.
	Held    string    `json:"held,omitempty"`
	Written int       `json:"written"`
	Total   int       `json:"total"`
	At      time.Time `json:"at"` // when the console stopped it
}

// Save returns the rollout to keep when the console ends, nil unless it is writing (or
// paused with writes left).
func (m Model) Save() *Saved {
	if !m.Active() {
		return nil
	}
	s := &Saved{IDs: m.ids, Label: m.label, Written: m.written, Total: m.total, At: m.c.Now()}
	switch {
	case m.phase == phasePaused && m.autoPaused != "":
		s.Held = "it had auto-paused: " + m.autoPaused
	case m.phase == phasePaused:
		s.Held = "it was paused"
	}
	for i, f := range m.fields {
		s.Fields[i] = f.Value()
	}
	return s
}

// Summary is how the status line and the review name a stopped rollout.
func (s Saved) Summary() string {
	return "desired." + s.Fields[0] + " = " + s.Fields[1] + " on " + s.Label + ", stopped at " +
		strconv.Itoa(s.Written) + " of " + strconv.Itoa(s.Total) + " written"
}

// Resume opens the review of a stopped rollout, its plan as it was: starting it writes
// the chosen devices that do not have the value yet. A plan that no longer parses (the
// fleet changed) opens on the plan, with the error.
func (m Model) Resume(s Saved) (Model, tea.Cmd) {
	if m.Active() {
		return m, nil
	}
	m, cmd := m.Plan(s.IDs, s.Label)
	for i, v := range s.Fields {
		m.fields[i].SetValue(v)
	}
	m.resumed = "resuming the rollout stopped when the console ended (" + s.At.Local().Format("Jan 2 15:04") +
		", " + strconv.Itoa(s.Written) + " of " + strconv.Itoa(s.Total) + " written)"
	m.resumedHeld = s.Held
	if rc := m.review(); rc != nil {
		return m, rc
	}
	return m, cmd
}

// Replaces notes, on a plan that is not the stopped rollout's resume, that starting it
// forgets the stopped one.
func (m *Model) Replaces(s *Saved) {
	if s != nil && m.resumed == "" {
		m.replaces = s.Summary()
	}
}
