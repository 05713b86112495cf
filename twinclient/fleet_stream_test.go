package twinclient

import (
	"fmt"
	"testing"

	"github.com/twinops/twinops/twin"
)

// The first listing hands its twins out page by page (State Syncing, Expected set), and
// changes made while it is under way, to twins already handed out and to twins not yet
// listed, still end in an exact copy.
func TestFleetFirstListingStreams(t *testing.T) {
	const n = 2*listPage + 100 // three pages
	sh := startSvcHub(t)
	populate(t, sh.h, n)
	admin := sh.dial(t, "iothubowner")
	svc := sh.dial(t, "service")
	ctx := testCtx(t)

	firstPage := make(chan int, 1)
	resume := make(chan struct{})
	hook := func(held int) {
		select {
		case firstPage <- held:
			select { // hold the listing until the test has seen the first page
			case <-resume:
			case <-ctx.Done():
			}
		default:
		}
	}
	f := svc.fleetWith(ctx, func(f *Fleet) { f.paged.Store(&hook) })

	var held int
	select {
	case held = <-firstPage:
	case <-ctx.Done():
		t.Fatal("the listing never installed a page")
	}
	if held != listPage {
		t.Fatalf("first page held %d twins, want %d", held, listPage)
	}
	v := &fleetView{twins: map[string]*twin.Doc{}}
	for len(v.twins) < held {
		b, err := f.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v.apply(b)
	}
	st := v.status
	if st.State != Syncing || st.Expected != n || st.Devices != listPage || len(v.twins) != listPage {
		t.Fatalf("while the first page is in: state %v, expected %d, devices %d, handed out %d; want syncing, %d, %d, %d",
			st.State, st.Expected, st.Devices, len(v.twins), n, listPage, listPage)
	}
	// Change a twin already handed out and one the listing has not reached.
	var early string
	for id := range v.twins {
		early = id
		break
	}
	late := fmt.Sprintf("dev-%06d", n-1)
	if _, ok := v.twins[late]; ok {
		t.Fatalf("%s was in the first page; the hub lists in id order", late)
	}
	for _, id := range []string{early, late} {
		if _, err := admin.PatchTwin(ctx, id, Patch{Desired: map[string]any{"note": "during the listing"}}, ""); err != nil {
			t.Fatal(err)
		}
	}
	close(resume)
	waitEqual(t, ctx, f, v, admin)
	if st := f.Status(); st.Expected != 0 || st.Devices != n || st.Resyncs != 0 {
		t.Fatalf("after the listing: %+v, want expected 0, %d devices, no resync", st, n)
	}
	for _, id := range []string{early, late} {
		if got, _ := twin.Lookup(v.twins[id].Desired.Values, "note"); got != "during the listing" {
			t.Fatalf("%s: desired note %v after the listing", id, got)
		}
	}
}

// A listing after a reconnect, with twins held, is not streamed: the consumer never sees
// a partial fleet, and Expected stays 0.
func TestFleetResyncIsNotStreamed(t *testing.T) {
	sh := startSvcHub(t)
	populate(t, sh.h, 50)
	svc := sh.dial(t, "service")
	ctx := testCtx(t)
	pages := make(chan int, 16)
	hook := func(held int) { pages <- held }
	f := svc.fleetWith(ctx, func(f *Fleet) { f.paged.Store(&hook) })
	v := &fleetView{twins: map[string]*twin.Doc{}}
	for v.status.State != Synced || len(v.twins) != 50 {
		b, err := f.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v.apply(b)
	}
	if got := len(pages); got != 1 {
		t.Fatalf("first listing: %d pages streamed, want 1", got)
	}
	svc.dropConn()
	for resynced := false; !resynced; {
		b, err := f.Next(ctx)
		if err != nil {
			t.Fatalf("no resync after the dropped connection (%v): %+v", err, v.status)
		}
		if b.Status.Expected != 0 {
			t.Fatalf("a resync set Expected %d", b.Status.Expected)
		}
		v.apply(b)
		resynced = b.Status.State == Synced && b.Status.Resyncs == 1
	}
	if len(v.twins) != 50 || len(pages) != 1 {
		t.Fatalf("after the resync: %d twins, %d pages streamed; want 50, 1", len(v.twins), len(pages))
	}
}
