// Package common holds what every console screen shares: the size, styles, key map,
// clock and back end (Common), the back-end seam (Backend, Batch, Event, Status), the
// live fleet copy (Store) and the navigation messages screens send to the root.
package common

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/theme"
	"github.com/twinops/twinops/twin"
)

// Backend is everything the console needs from a hub. cmd/twinops adapts twinclient to
// it; tests use a fake. Every method may block and is called from a tea.Cmd goroutine,
// never from Update.
type Backend interface {
	// Next blocks until something changed and returns everything since the last call.
	Next(ctx context.Context) (Batch, error)
	// GetTwin reads one twin from the hub.
	GetTwin(ctx context.Context, id string) (*twin.Doc, error)
	// PatchTwin merge-patches desired and/or tags with an etag ("*" for any). A stale
	// etag fails with an error whose Status (see ErrorStatus) is 412.
	PatchTwin(ctx context.Context, id string, p Patch, etag string) (*twin.Doc, error)
	// Info describes the hub for the status line.
	Info() HubInfo
}

// Patch is a merge patch of a twin's back-end sections; a nil map is left alone.
type Patch struct {
	Desired, Tags map[string]any
}

// HubInfo describes the hub the console talks to.
type HubInfo struct {
	Name     string // e.g. "embedded demo hub" or the URL host
	URL      string
	Embedded bool
}

// Batch is what one call to Backend.Next returns.
type Batch struct {
	Twins  map[string]*twin.Doc // latest state per changed device; nil = deleted
	Events []Event              // the changes in order
	Status Status
}

// Event is one change in the fleet, for the event stream and a twin's history.
type Event struct {
	Time     time.Time
	DeviceID string
	Kind     string // reported, desired, tags, connected, disconnected, created, deleted
	Version  int64
	// Op is OpReplace when Patch is a whole new section (twin replace); otherwise
	// ("patch" or "") Patch is a merge patch as applied.
	Op    string
	Patch map[string]any
}

// OpReplace is Event.Op for a section replaced whole.
const OpReplace = "replace"

// Connection states of Status.State.
const (
	StateConnecting   = "connecting"
	StateSyncing      = "syncing"
	StateSynced       = "synced"
	StateReconnecting = "reconnecting"
)

// Status is the back end's connection state.
type Status struct {
	State     string
	LastError string
	ErrorTime time.Time
	// Expected is, while the first listing of the fleet is arriving (State syncing,
	// twins handed out as they come), how many devices the hub has; 0 when unknown or
	// when no such listing is under way: the fleet says "loading 37000 of 100000
	// devices".
	Expected int
}

// StatusCoder is implemented by hub errors that carry an HTTP-style status.
type StatusCoder interface{ StatusCode() int }

// Common is shared by every screen. The root owns it and updates it in place; screens
// hold the pointer and read it in Update and View only (never from a command).
type Common struct {
	Width, Height int
	Styles        *theme.Styles
	Keys          KeyMap
	Now           func() time.Time
	ReadOnly      bool
	Backend       Backend
	Store         *Store
	Ctx           context.Context
	Drafts        map[string]Draft // unsent edits by device id: never lost while the console runs
}

// Draft is an operator's unsent edit of one twin.
type Draft struct {
	Desired, Tags string // the edited JSON texts
	Base          *twin.Doc
}

// Navigation and cross-screen messages, sent by screens and handled by the root.
type (
	// OpenTwinMsg asks the root to show one twin.
	OpenTwinMsg struct{ ID string }
	// OpenEditMsg asks the root to edit one twin's desired properties and tags;
	// External opens $EDITOR instead of the in-place editor.
	OpenEditMsg struct {
		ID       string
		External bool
	}
	// OpenEventsMsg asks the root to show the event stream, of one device when ID is set.
	OpenEventsMsg struct{ ID string }
	// OpenRolloutMsg asks the root to start planning a rollout on these devices.
	OpenRolloutMsg struct {
		IDs   []string
		Label string
	}
	// ShowDevicesMsg asks the root to show these devices in the fleet view.
	ShowDevicesMsg struct {
		IDs   []string
		Label string
	}
	// BackMsg asks the root to go back to the previous screen.
	BackMsg struct{}
	// FlashMsg shows a short message in the status line (Err marks it as an error).
	FlashMsg struct {
		Text string
		Err  bool
	}
	// FleetChangedMsg tells screens that the store applied a batch.
	FleetChangedMsg struct {
		Changed map[string]bool // device ids whose twin changed (true = deleted)
		// Fresh holds every changed twin that was not deleted, as the store now has it
		// (in no order), so that a screen rebuilding per-device state needs no lookups.
		Fresh  []FreshTwin
		Events []Event
		Added  bool // a device was added or removed
	}
	// TickMsg is the once-a-second clock tick that ages relative times.
	TickMsg struct{ Time time.Time }
)

// FreshTwin is a changed twin as the store holds it: its summary and failed flag.
type FreshTwin struct {
	ID     string
	Doc    *twin.Doc
	Sum    twin.Summary
	Failed bool
}

// Send wraps a message in a command.
func Send(msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }

// ErrorStatus returns the status code carried by a hub error, or 0.
func ErrorStatus(err error) int {
	for err != nil {
		if sc, ok := err.(StatusCoder); ok {
			return sc.StatusCode()
		}
		if te, ok := err.(*twin.Error); ok {
			return te.Status
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return 0
		}
		err = u.Unwrap()
	}
	return 0
}

// SentMsg tells the root that an edit of a device was sent and accepted.
type SentMsg struct{ ID string }
