package edit

import (
	"os"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// Update handles a message.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case common.FleetChangedMsg:
		return m, nil // the edit is based on its own version; a 412 tells of newer ones
	case patchSentMsg:
		return m.patchSent(msg)
	case theirsReadMsg:
		if msg.id != m.id || msg.reqID != m.reqID {
			return m, nil
		}
		if msg.err != nil {
			m.mode = modeEdit
			m.hubErr = "412: the twin changed, and reading the new version failed: " + msg.err.Error()
			return m, nil
		}
		if m.base != nil && msg.doc != nil && m.quietRetries < maxQuietRetries &&
			twin.Equal(m.base.Desired.Values, msg.doc.Desired.Values) && twin.Equal(m.base.Tags, msg.doc.Tags) {
			// Only reported properties (or metadata) changed: the same patch, on the new version.
			m.quietRetries++
			m.base = msg.doc
			return m.send(msg.doc.Etag)
		}
		m.enterConflict(msg.doc)
		return m, nil
	case editorDoneMsg:
		if msg.reqID != m.reqID {
			return m, nil
		}
		defer os.Remove(msg.path)
		if msg.err != nil {
			m.hubErr = "$EDITOR failed: " + msg.err.Error() + " (your edit is unchanged)"
			return m, nil
		}
		b, err := os.ReadFile(msg.path)
		if err != nil {
			m.hubErr = "cannot read the edited file: " + err.Error()
			return m, nil
		}
		m.setText(m.active, strings.TrimRight(string(b), "\n"))
		m.note = "loaded from $EDITOR"
		m.clearStaleErr()
		return m, nil
	case tea.KeyPressMsg:
		return m.updateKeys(msg)
	}
	var cmd tea.Cmd
	m.bufs[m.active].area, cmd = m.bufs[m.active].area.Update(msg)
	return m, cmd
}

func (m Model) updateKeys(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if m.mode == modeConflict {
		switch {
		case key.Matches(msg, m.keys.Rebase):
			m.rebase()
		case key.Matches(msg, m.keys.Force):
			return m.send("*")
		case key.Matches(msg, m.keys.Keep):
			m.mode = modeEdit
		}
		return m, nil
	}
	switch {
	case key.Matches(msg, m.keys.Back):
		return m, common.Send(common.BackMsg{})
	case m.mode == modeSending:
		return m, nil // the text is being sent (and may be resent on a new version): not now
	case key.Matches(msg, m.keys.Switch):
		m.bufs[m.active].area.Blur()
		m.active = 1 - m.active
		return m, m.bufs[m.active].area.Focus()
	case key.Matches(msg, m.keys.Send):
		etag := "*"
		if m.base != nil {
			etag = m.base.Etag
		}
		m.quietRetries = 0
		return m.send(etag)
	case key.Matches(msg, m.keys.Editor):
		return m.StartEditor()
	}
	b := &m.bufs[m.active]
	before := b.area.Value()
	var cmd tea.Cmd
	b.area, cmd = b.area.Update(msg)
	if v := b.area.Value(); v != before {
		b.check = validate(b.sec, v)
		m.note = ""
		m.clearStaleErr()
	}
	return m, cmd
}

// maxQuietRetries bounds the sends retried because the twin changed in its reported
// properties only (a device reporting every second could otherwise keep the editor
// retrying); after that the conflict screen shows what changed.
const maxQuietRetries = 3

// notSentInvalid is the answer to ctrl+s on invalid JSON; it goes once the JSON is valid.
const notSentInvalid = "not sent: fix the JSON first (the error is shown above the editor)"

// clearStaleErr drops the "fix the JSON first" error once both buffers are valid.
func (m *Model) clearStaleErr() {
	if _, _, ok := m.patches(); ok && m.hubErr == notSentInvalid {
		m.hubErr = ""
	}
}

// send validates the edit and sends the smallest merge patch with an etag.
func (m Model) send(etag string) (Model, tea.Cmd) {
	desired, tags, ok := m.patches()
	if !ok {
		m.hubErr = notSentInvalid
		m.mode = modeEdit
		return m, nil
	}
	var p common.Patch
	if len(desired) > 0 {
		p.Desired = desired
	}
	if len(tags) > 0 {
		p.Tags = tags
	}
	if p.Desired == nil && p.Tags == nil {
		m.note, m.hubErr, m.mode = "nothing to send: the edit equals the twin", "", modeEdit
		return m, nil
	}
	m.mode, m.hubErr, m.note = modeSending, "", ""
	m.reqID++
	return m, send(m.c.Ctx, m.c.Backend, m.reqID, m.id, p, etag)
}

func (m Model) patchSent(msg patchSentMsg) (Model, tea.Cmd) {
	if msg.id != m.id || msg.reqID != m.reqID {
		return m, nil
	}
	if msg.err != nil {
		status := common.ErrorStatus(msg.err)
		if status == 412 {
			m.reqID++
			m.hubErr = describe(status, msg.err)
			return m, readTheirs(m.c.Ctx, m.c.Backend, m.reqID, m.id)
		}
		m.mode = modeEdit
		m.hubErr = describe(status, msg.err)
		return m, nil
	}
	m.mode = modeEdit
	delete(m.c.Drafts, m.id)
	m.settle(msg.doc)
	flash := "patched " + m.id
	if msg.doc != nil {
		flash += " → twin v" + itoa64(msg.doc.Version)
	}
	m.note = "sent: " + flash
	return m, tea.Batch(common.Send(common.FlashMsg{Text: flash}), common.Send(common.SentMsg{ID: m.id}))
}

// settle makes the editor hold what the hub now has, after a send: the twin the hub
// answered with, or (without one) the base with the sent edit in it. Otherwise the
// editor's text, which after "f overwrite theirs" still holds the values the operator
// did not touch as they were before the other writer's change, would differ from the new
// base and be kept as a draft that reverts that change when sent.
func (m *Model) settle(doc *twin.Doc) {
	if doc == nil && m.base != nil {
		doc = m.base.Clone()
		if v := m.bufs[0].check.value; v != nil {
			doc.Desired.Values = v
		}
		if v := m.bufs[1].check.value; v != nil {
			doc.Tags = v
		}
	}
	if doc == nil {
		return
	}
	m.base = doc
	m.setText(0, pretty(doc.Desired.Values))
	m.setText(1, pretty(doc.Tags))
}

func (m *Model) enterConflict(theirs *twin.Doc) {
	m.mode = modeConflict
	m.theirs = theirs
	m.clash = nil
	if m.base == nil || theirs == nil {
		return
	}
	for i, b := range m.bufs {
		if b.check.value == nil {
			continue
		}
		baseVals, theirVals := m.base.Desired.Values, theirs.Desired.Values
		prefix := "desired."
		if i == 1 {
			baseVals, theirVals, prefix = m.base.Tags, theirs.Tags, "tags."
		}
		for _, p := range conflicts(twin.MakePatch(baseVals, theirVals), twin.MakePatch(baseVals, b.check.value)) {
			m.clash = append(m.clash, prefix+p)
		}
	}
}

// rebase replays the operator's changes (base → yours) onto theirs; on a clash yours wins
// and the clashing paths stay listed.
func (m *Model) rebase() {
	if m.theirs == nil || m.base == nil {
		return
	}
	for i := range m.bufs {
		b := &m.bufs[i]
		if b.check.value == nil {
			continue
		}
		baseVals, theirVals := m.base.Desired.Values, m.theirs.Desired.Values
		if i == 1 {
			baseVals, theirVals = m.base.Tags, m.theirs.Tags
		}
		yours := twin.MakePatch(baseVals, b.check.value)
		m.setText(i, pretty(applyPatch(theirVals, yours)))
	}
	m.note = "rebased onto v" + itoa64(m.theirs.Version) + "; check and ctrl+s to send"
	if len(m.clash) > 0 {
		m.note += " (yours kept on " + strings.Join(m.clash, ", ") + ")"
	}
	m.base, m.theirs, m.mode, m.hubErr = m.theirs, nil, modeEdit, ""
}
