package rollout

import (
	"encoding/json"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
)

// The plan and its review: the form's fields read and checked, the devices the rollout
// changes, and the deliberate confirmation that starts it.

// updateConfirm takes the review's confirmation: the number of devices that will change
// or "yes", then enter. Enter on an empty or wrong answer starts nothing.
func (m Model) updateConfirm(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.phase, m.err, m.fresh = phasePlan, "", true // back to the field, its text selected
		m.confirm.Blur()
		return m, m.fields[m.focus].Focus()
	case "enter":
		typed := strings.ToLower(strings.TrimSpace(m.confirm.Value()))
		n := strconv.Itoa(m.changing)
		switch typed {
		case "":
			return m, nil
		case "yes", n:
			m.err = ""
			m.confirm.Blur()
			return m.start()
		}
		m.err = strconv.Quote(typed) + " does not confirm: type " + n + " or yes, then enter"
		m.confirm.SetValue("")
		return m, nil
	}
	var cmd tea.Cmd
	m.confirm, cmd = m.confirm.Update(msg)
	return m, cmd
}

// parse reads the plan's fields; it returns what is wrong with them ("" when nothing) and
// the field that holds it (-1 for none).
func (m *Model) parse() (string, int) {
	path := strings.TrimSpace(m.fields[0].Value())
	if path == "" {
		return "the desired path is empty: type one like firmware.version", 0
	}
	parts := strings.Split(path, ".")
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "$ ") {
			return "bad path " + strconv.Quote(path) + ": use dotted keys without $ or spaces, like firmware.version", 0
		}
	}
	raw := strings.TrimSpace(m.fields[1].Value())
	if raw == "" {
		return "the value is empty: type the new value, like 2.1.0", 1
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		v = raw // a bare word is a string
	}
	rate, err := strconv.ParseFloat(strings.TrimSpace(m.fields[2].Value()), 64)
	if err != nil || rate <= 0 {
		return "the rate must be a positive number of devices per second", 2
	}
	lim, ok := parseLimit(m.fields[3].Value())
	if !ok {
		return "the failure limit must be a share like 5%, a device count like 10 (1 pauses at the first failure), or off", 3
	}
	if _, ok := parseWave(m.fields[4].Value(), 1); !ok {
		return "the first wave must be a device count like 10, a share like 1%, or off", 4
	}
	if _, terr := twin.ParsePatch(twin.Desired, mustJSON(nest(parts, v))); terr != nil {
		return "the hub would refuse this patch: " + terr.Message, 1
	}
	if len(m.ids) == 0 {
		return "no devices chosen: go back, filter or mark devices, and press r again", -1
	}
	m.path, m.value, m.rate, m.limit = parts, v, rate, lim
	m.unlike = unlikeCurrent(m.c.Store, m.ids, parts, v)
	m.changing = len(m.affected())
	m.wave, _ = parseWave(m.fields[4].Value(), m.changing)
	return "", -1
}

func nest(path []string, v any) map[string]any {
	out := map[string]any{path[len(path)-1]: v}
	for i := len(path) - 2; i >= 0; i-- {
		out = map[string]any{path[i]: out}
	}
	return out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// affected lists the chosen devices whose desired value at the path differs.
func (m Model) affected() []string {
	var out []string
	for _, id := range m.ids {
		d := m.c.Store.Get(id)
		if d == nil {
			continue
		}
		if cur, ok := twin.Lookup(d.Desired.Values, m.path...); ok && twin.Equal(cur, m.value) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// focusField moves the focus to field i, its text selected: typing replaces it.
func (m *Model) focusField(i int) tea.Cmd {
	m.fields[m.focus].Blur()
	m.focus, m.fresh = i, true
	return m.fields[m.focus].Focus()
}

// review reads the plan: its review if it is right, otherwise the error, with the focus
// on the field at fault.
func (m *Model) review() tea.Cmd {
	var field int
	if m.err, field = m.parse(); m.err != "" {
		if field >= 0 {
			return m.focusField(field)
		}
		return nil
	}
	m.fields[m.focus].Blur()
	m.phase = phaseConfirm
	m.confirm.SetValue("")
	return m.confirm.Focus()
}
