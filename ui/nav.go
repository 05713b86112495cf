package ui

import (
	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/edit"
	"github.com/twinops/twinops/ui/twinview"
)

func (m *Model) push(s screenID) {
	if m.screen == s {
		return
	}
	m.stack = append(m.stack, m.screen)
	m.screen = s
}

// navigate handles the screens' navigation messages.
func (m *Model) navigate(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case common.OpenTwinMsg:
		m.twin = twinview.New(m.c, msg.ID)
		m.twin.SetSize(m.c.Width, m.c.Height-1)
		m.push(screenTwin)
	case common.OpenEditMsg:
		if m.c.ReadOnly {
			return nil, true
		}
		m.keepDraft()
		m.edit = edit.New(m.c, msg.ID)
		m.edit.SetSize(m.c.Width, m.c.Height-1)
		m.push(screenEdit)
		if msg.External {
			var cmd tea.Cmd
			m.edit, cmd = m.edit.StartEditor()
			return cmd, true
		}
	case common.OpenEventsMsg:
		m.events.SetDevice(msg.ID)
		m.push(screenEvents)
	case common.OpenRolloutMsg:
		if m.c.ReadOnly {
			return nil, true
		}
		var cmd tea.Cmd
		m.rollout, cmd = m.rollout.Plan(msg.IDs, msg.Label)
		m.rollout.Replaces(m.stopped)
		m.push(screenRollout)
		return cmd, true
	case common.SentMsg:
		delete(m.c.Drafts, msg.ID)
		if m.edit.ID() != msg.ID {
			break
		}
		m.edit = edit.New(m.c, "") // sent: nothing of it may be kept as a draft later
		m.edit.SetSize(m.c.Width, m.c.Height-1)
		if m.screen == screenEdit {
			m.screen = screenFleet // leave without keeping a draft, then pop
			if n := len(m.stack); n > 0 {
				m.screen, m.stack = m.stack[n-1], m.stack[:n-1]
			}
		}
	case common.ShowDevicesMsg:
		m.fleet.ShowDevices(msg.IDs, msg.Label)
		m.screen, m.stack = screenFleet, nil
	case common.BackMsg:
		m.back()
	default:
		return nil, false
	}
	return nil, true
}

func (m *Model) back() {
	if m.screen == screenEdit {
		m.keepDraft()
	}
	if len(m.stack) == 0 {
		m.screen = screenFleet
		return
	}
	m.screen = m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
}

// keepDraft saves an unsent edit so that reopening the editor resumes it.
func (m *Model) keepDraft() {
	if m.edit.ID() == "" {
		return
	}
	if m.edit.Dirty() {
		m.c.Drafts[m.edit.ID()] = m.edit.Draft()
		m.flash, m.flashErr, m.flashAt = "your edit of "+m.edit.ID()+" is kept as a draft; e reopens it", false, m.c.Now()
	} else {
		delete(m.c.Drafts, m.edit.ID())
	}
}
