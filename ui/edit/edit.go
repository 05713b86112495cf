// Package edit is the editor screen: a twin's desired properties and tags edited in
// place as JSON, validated as the operator types, sent as the smallest merge patch with
// the etag the edit started from. On a conflict (412) it shows theirs against yours and
// rebases the edit onto the new version; the edit is kept as a draft until it is sent.
package edit

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textarea"
	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

type mode int

const (
	modeEdit mode = iota
	modeSending
	modeConflict
)

// Keys are the editor's bindings (the textarea takes every other key).
type Keys struct {
	Send, Switch, Editor, Back, Rebase, Force, Keep key.Binding
}

func newKeys() Keys {
	return Keys{
		Send:   key.NewBinding(key.WithKeys("ctrl+s"), key.WithHelp("ctrl+s", "send the patch")),
		Switch: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "desired ⇄ tags")),
		Editor: key.NewBinding(key.WithKeys("ctrl+o"), key.WithHelp("ctrl+o", "open in $EDITOR")),
		Back:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back (edit kept as draft)")),
		Rebase: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "conflict: rebase yours onto theirs")),
		Force:  key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "conflict: overwrite theirs")),
		Keep:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "conflict: keep editing")),
	}
}

// buffer is one edited section.
type buffer struct {
	sec   twin.Section
	area  textarea.Model
	check validation
}

// Model is the editor screen.
type Model struct {
	c      *common.Common
	keys   Keys
	id     string
	base   *twin.Doc // the version the edit is based on
	bufs   [2]buffer // desired, tags
	active int
	mode   mode
	reqID  int
	theirs *twin.Doc // on conflict: the hub's current version
	clash  []string  // paths both sides changed
	note   string    // info line (restored draft, rebased, …)
	hubErr string    // the hub's last answer, as it came
	// quietRetries counts the sends retried by themselves since the operator's ctrl+s: a
	// 412 caused only by reported properties (a device reporting progress) is no conflict.
	quietRetries int
	width        int
	height       int
}

// Result messages; each carries the request id that asked, stale ones are dropped.
type (
	patchSentMsg struct {
		id    string // the device: request ids are per editor, and editors come and go
		reqID int
		doc   *twin.Doc
		err   error
	}
	theirsReadMsg struct {
		id    string
		reqID int
		doc   *twin.Doc
		err   error
	}
	editorDoneMsg struct {
		reqID int
		path  string
		err   error
	}
)

// New opens the editor on a device's current twin, or on the operator's unsent draft.
func New(c *common.Common, id string) Model {
	m := Model{c: c, keys: newKeys(), id: id}
	m.bufs[0] = buffer{sec: twin.Desired, area: newArea(c)}
	m.bufs[1] = buffer{sec: twin.Tags, area: newArea(c)}
	d, ok := c.Drafts[id]
	if cur := c.Store.Get(id); ok && d.Base != nil && draftInTwin(d, cur) {
		delete(c.Drafts, id) // sent after it was kept: nothing is left to restore
		ok = false
		m.note = "your edit based on v" + strconv.FormatInt(d.Base.Version, 10) + " is already in the twin (v" +
			strconv.FormatInt(cur.Version, 10) + "); draft dropped"
	}
	if ok && d.Base != nil {
		m.base = d.Base
		m.setText(0, d.Desired)
		m.setText(1, d.Tags)
		m.note = "restored your unsent edit (based on v" + strconv.FormatInt(d.Base.Version, 10) + ")"
	} else if doc := c.Store.Get(id); doc != nil {
		m.base = doc
		m.setText(0, pretty(doc.Desired.Values))
		m.setText(1, pretty(doc.Tags))
	}
	m.bufs[0].area.Focus()
	return m
}

// maxLines is the most lines the editor takes (and sets its line-number gutter's width).
const maxLines = 9999

func newArea(c *common.Common) textarea.Model {
	a := textarea.New()
	a.ShowLineNumbers = true
	// The gutter is as wide as MaxHeight's digits: with 0 (no limit) it was one digit,
	// so from line 10 on the text moved a column right and lines could run past the
	// screen's edge. 9,999 lines is about the textarea's own limit of 10,000.
	a.MaxHeight = maxLines
	a.MaxWidth = 0
	a.CharLimit = 64 << 10
	a.Prompt = ""
	a.SetStyles(textarea.DefaultStyles(c.Styles.Dark))
	return a
}

func (m *Model) setText(i int, s string) {
	m.bufs[i].area.SetValue(s)
	m.bufs[i].area.MoveToBegin()
	m.bufs[i].check = validate(m.bufs[i].sec, s)
}

// ID is the device edited.
func (m Model) ID() string { return m.id }

// Capturing is always true: the textarea takes the keys.
func (m Model) Capturing() bool { return true }

// SetSize sets the screen's body size.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	for i := range m.bufs {
		m.bufs[i].area.SetWidth(w)
		m.bufs[i].area.SetHeight(max(h-3, 3))
	}
}

// Help lists the editor's keys.
func (m Model) Help() []key.Binding {
	return []key.Binding{m.keys.Send, m.keys.Switch, m.keys.Editor, m.keys.Back, m.keys.Rebase, m.keys.Force, m.keys.Keep}
}

// Dirty reports whether the edit would change the twin it is based on (or cannot be
// parsed and differs from it as text): that is what must not be lost.
func (m Model) Dirty() bool {
	if m.base == nil {
		return false
	}
	desired, tags, ok := m.patches()
	if !ok {
		return m.bufs[0].area.Value() != pretty(m.base.Desired.Values) || m.bufs[1].area.Value() != pretty(m.base.Tags)
	}
	return len(desired) > 0 || len(tags) > 0
}

// Draft returns the edit as a draft, to keep when the screen is left.
func (m Model) Draft() common.Draft {
	return common.Draft{Desired: m.bufs[0].area.Value(), Tags: m.bufs[1].area.Value(), Base: m.base}
}

// patches computes the merge patches from the base to the edit; ok is false when a
// buffer is invalid.
func (m Model) patches() (desired, tags map[string]any, ok bool) {
	if m.bufs[0].check.value == nil || m.bufs[1].check.value == nil || m.base == nil {
		return nil, nil, false
	}
	desired = twin.MakePatch(m.base.Desired.Values, m.bufs[0].check.value)
	tags = twin.MakePatch(m.base.Tags, m.bufs[1].check.value)
	return desired, tags, true
}

// draftInTwin reports whether every change a draft makes to its base is already in the
// twin's current version (the edit was sent, or made by someone else).
func draftInTwin(d common.Draft, cur *twin.Doc) bool {
	if cur == nil || d.Base == nil || cur.Version == d.Base.Version {
		return false
	}
	desired, tags := validate(twin.Desired, d.Desired), validate(twin.Tags, d.Tags)
	if desired.value == nil || tags.value == nil {
		return false
	}
	yoursD := twin.MakePatch(d.Base.Desired.Values, desired.value)
	yoursT := twin.MakePatch(d.Base.Tags, tags.value)
	if len(yoursD) == 0 && len(yoursT) == 0 {
		return false
	}
	return twin.Equal(applyPatch(cur.Desired.Values, yoursD), cur.Desired.Values) &&
		twin.Equal(applyPatch(cur.Tags, yoursT), cur.Tags)
}

// StartEditor opens $EDITOR on the active buffer (used for E from other screens).
func (m Model) StartEditor() (Model, tea.Cmd) {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	f, err := os.CreateTemp("", "twinops-"+m.id+"-*.json")
	if err != nil {
		m.hubErr = "cannot open $EDITOR: " + err.Error()
		return m, nil
	}
	_, err = f.WriteString(m.bufs[m.active].area.Value() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		m.hubErr = "cannot open $EDITOR: " + err.Error()
		return m, nil
	}
	m.reqID++
	reqID, path := m.reqID, f.Name()
	cmd := exec.Command("sh", "-c", editor+` "$1"`, "editor", path)
	return m, tea.ExecProcess(cmd, func(err error) tea.Msg { return editorDoneMsg{reqID: reqID, path: path, err: err} })
}

// send patches the twin with the base's etag; force uses "*".
func send(ctx context.Context, be common.Backend, reqID int, id string, p common.Patch, etag string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		d, err := be.PatchTwin(ctx, id, p, etag)
		return patchSentMsg{id: id, reqID: reqID, doc: d, err: err}
	}
}

func readTheirs(ctx context.Context, be common.Backend, reqID int, id string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		d, err := be.GetTwin(ctx, id)
		return theirsReadMsg{id: id, reqID: reqID, doc: d, err: err}
	}
}
