package twinclient

import (
	"reflect"
	"testing"
)

// gateStep is one event fed to a desiredGate in a test.
type gateStep struct {
	op      string // "notify", "full", "sync"
	version int64
	value   map[string]any
}

func TestDesiredGate(t *testing.T) {
	p := func(k string, v any) map[string]any { return map[string]any{k: v} }
	tests := map[string]struct {
		steps        []gateStep
		wantVersions []int64 // delivered update versions, in order
		wantFull     []bool
		wantDesired  map[string]any
		wantHeld     []int64
	}{
		"first read delivered even at version 1": {
			steps:        []gateStep{{op: "full", version: 1, value: map[string]any{}}},
			wantVersions: []int64{1}, wantFull: []bool{true}, wantDesired: map[string]any{},
		},
		"notifications before the first read are held, stale ones dropped": {
			steps: []gateStep{
				{op: "notify", version: 3, value: p("a", 3.0)},
				{op: "notify", version: 4, value: p("b", 4.0)},
				{op: "full", version: 3, value: map[string]any{"a": 3.0}},
			},
			wantVersions: []int64{3, 4}, wantFull: []bool{true, false},
			wantDesired: map[string]any{"a": 3.0, "b": 4.0},
		},
		"in order after sync": {
			steps: []gateStep{
				{op: "full", version: 2, value: map[string]any{"a": 1.0}},
				{op: "notify", version: 3, value: p("a", nil)},
				{op: "notify", version: 4, value: p("c", map[string]any{"d": true})},
			},
			wantVersions: []int64{2, 3, 4}, wantFull: []bool{true, false, false},
			wantDesired: map[string]any{"c": map[string]any{"d": true}},
		},
		"out of order is reordered": {
			steps: []gateStep{
				{op: "full", version: 1, value: map[string]any{}},
				{op: "notify", version: 3, value: p("x", 3.0)},
				{op: "notify", version: 2, value: p("x", 2.0)},
			},
			wantVersions: []int64{1, 2, 3}, wantFull: []bool{true, false, false},
			wantDesired: map[string]any{"x": 3.0},
		},
		"duplicate dropped": {
			steps: []gateStep{
				{op: "full", version: 1, value: map[string]any{}},
				{op: "notify", version: 2, value: p("x", 2.0)},
				{op: "notify", version: 2, value: p("x", 99.0)},
			},
			wantVersions: []int64{1, 2}, wantFull: []bool{true, false},
			wantDesired: map[string]any{"x": 2.0},
		},
		"gap stays held": {
			steps: []gateStep{
				{op: "full", version: 1, value: map[string]any{}},
				{op: "notify", version: 5, value: p("x", 5.0)},
			},
			wantVersions: []int64{1}, wantFull: []bool{true},
			wantDesired: map[string]any{}, wantHeld: []int64{5},
		},
		"reconnect read drops older notifications and applies newer": {
			steps: []gateStep{
				{op: "full", version: 1, value: map[string]any{}},
				{op: "sync"},
				{op: "notify", version: 4, value: p("x", 4.0)}, // pushed while the read was in flight
				{op: "notify", version: 6, value: p("y", 6.0)},
				{op: "full", version: 5, value: map[string]any{"x": 5.0}},
			},
			wantVersions: []int64{1, 5, 6}, wantFull: []bool{true, true, false},
			wantDesired: map[string]any{"x": 5.0, "y": 6.0},
		},
		"reconnect read with nothing new delivers nothing": {
			steps: []gateStep{
				{op: "full", version: 3, value: map[string]any{"a": 1.0}},
				{op: "sync"},
				{op: "full", version: 3, value: map[string]any{"a": 1.0}},
			},
			wantVersions: []int64{3}, wantFull: []bool{true},
			wantDesired: map[string]any{"a": 1.0},
		},
		"read older than applied notifications is ignored": {
			steps: []gateStep{
				{op: "full", version: 1, value: map[string]any{}},
				{op: "notify", version: 2, value: p("x", 2.0)},
				{op: "sync"},
				{op: "full", version: 1, value: map[string]any{}},
			},
			wantVersions: []int64{1, 2}, wantFull: []bool{true, false},
			wantDesired: map[string]any{"x": 2.0},
		},
		"read closes a gap": {
			steps: []gateStep{
				{op: "full", version: 1, value: map[string]any{}},
				{op: "notify", version: 4, value: p("z", 4.0)},
				{op: "sync"},
				{op: "full", version: 3, value: map[string]any{"y": 3.0}},
			},
			wantVersions: []int64{1, 3, 4}, wantFull: []bool{true, true, false},
			wantDesired: map[string]any{"y": 3.0, "z": 4.0},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := newDesiredGate()
			var got []DesiredUpdate
			for _, s := range tc.steps {
				switch s.op {
				case "notify":
					ups, _ := g.notify(s.version, s.value)
					got = append(got, ups...)
				case "full":
					ups, _ := g.full(s.version, devCopyMap(s.value))
					got = append(got, ups...)
				case "sync":
					g.startSync()
				}
			}
			var versions []int64
			var fulls []bool
			for _, u := range got {
				versions = append(versions, u.Version)
				fulls = append(fulls, u.Full)
			}
			if !reflect.DeepEqual(versions, tc.wantVersions) || !reflect.DeepEqual(fulls, tc.wantFull) {
				t.Fatalf("delivered versions %v full %v, want %v full %v", versions, fulls, tc.wantVersions, tc.wantFull)
			}
			if last := got[len(got)-1]; !reflect.DeepEqual(last.Desired, tc.wantDesired) {
				t.Fatalf("last delivered desired %v, want %v", last.Desired, tc.wantDesired)
			}
			if !reflect.DeepEqual(g.desired, tc.wantDesired) {
				t.Fatalf("gate desired %v, want %v", g.desired, tc.wantDesired)
			}
			if held := g.heldVersions(); len(held) != len(tc.wantHeld) || (len(held) > 0 && !reflect.DeepEqual(held, tc.wantHeld)) {
				t.Fatalf("held %v, want %v", held, tc.wantHeld)
			}
		})
	}
}

func TestDesiredUpdatesAreCopies(t *testing.T) {
	g := newDesiredGate()
	ups, _ := g.full(1, map[string]any{"a": map[string]any{"b": 1.0}})
	ups[0].Desired["a"].(map[string]any)["b"] = 2.0
	if g.desired["a"].(map[string]any)["b"] != 1.0 {
		t.Fatal("a receiver's change to Desired reached the gate's copy")
	}
}

func TestMergePatches(t *testing.T) {
	tests := map[string]struct {
		a, b, base    map[string]any
		inexpressible bool
	}{
		"disjoint":             {a: map[string]any{"x": 1.0}, b: map[string]any{"y": 2.0}, base: map[string]any{"z": 0.0}},
		"delete then set":      {a: map[string]any{"x": nil}, b: map[string]any{"x": map[string]any{"k": 1.0}}, base: map[string]any{"x": map[string]any{"j": 1.0}}, inexpressible: true},
		"scalar then obj":      {a: map[string]any{"x": "s"}, b: map[string]any{"x": map[string]any{"k": 1.0}}, base: map[string]any{"x": map[string]any{"j": 1.0}}, inexpressible: true},
		"deep delete then set": {a: map[string]any{"o": map[string]any{"x": nil}}, b: map[string]any{"o": map[string]any{"x": map[string]any{"k": 1.0}}}, base: map[string]any{}, inexpressible: true},
		"set then delete":      {a: map[string]any{"x": map[string]any{"k": 1.0}}, b: map[string]any{"x": nil}, base: map[string]any{"x": 5.0}},
		"nested merge":         {a: map[string]any{"o": map[string]any{"p": 1.0, "q": nil}}, b: map[string]any{"o": map[string]any{"r": 3.0}}, base: map[string]any{"o": map[string]any{"q": 2.0, "s": 4.0}}},
		"array replaced":       {a: map[string]any{"l": []any{1.0}}, b: map[string]any{"l": []any{2.0, 3.0}}, base: map[string]any{"l": []any{0.0}}},
		"object to scalar":     {a: map[string]any{"o": map[string]any{"p": 1.0}}, b: map[string]any{"o": "s"}, base: map[string]any{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			seq := devCopyMap(tc.base)
			devMergePatch(seq, tc.a)
			devMergePatch(seq, tc.b)
			composed, ok := devMergePatches(tc.a, tc.b)
			if ok != !tc.inexpressible {
				t.Fatalf("mergePatches ok = %v, want %v", ok, !tc.inexpressible)
			}
			if !ok {
				return
			}
			once := devCopyMap(tc.base)
			devMergePatch(once, composed)
			if !reflect.DeepEqual(seq, once) {
				t.Fatalf("a then b = %v, composed = %v", seq, once)
			}
		})
	}
}

func TestDesiredInboxCoalesces(t *testing.T) {
	in := newDesiredInbox()
	in.put([]DesiredUpdate{{Version: 2, Desired: map[string]any{"a": 1.0}, Patch: map[string]any{"a": 1.0}}})
	in.put([]DesiredUpdate{{Version: 3, Desired: map[string]any{"a": 1.0, "b": 2.0}, Patch: map[string]any{"b": 2.0}}})
	u, ok := in.take()
	if !ok || u.Version != 3 || u.Full || !reflect.DeepEqual(u.Patch, map[string]any{"a": 1.0, "b": 2.0}) {
		t.Fatalf("coalesced update = %+v, %v", u, ok)
	}
	if _, ok := in.take(); ok {
		t.Fatal("take after take returned an update")
	}
	in.put([]DesiredUpdate{{Version: 4, Desired: map[string]any{}, Full: true}, {Version: 5, Desired: map[string]any{"c": 1.0}, Patch: map[string]any{"c": 1.0}}})
	u, _ = in.take()
	if u.Version != 5 || !u.Full || u.Patch != nil {
		t.Fatalf("a patch after a full read must stay full: %+v", u)
	}
	in.put([]DesiredUpdate{{Version: 6, Desired: map[string]any{}, Patch: map[string]any{"o": nil}}, {Version: 7, Desired: map[string]any{"o": map[string]any{"k": 1.0}}, Patch: map[string]any{"o": map[string]any{"k": 1.0}}}})
	u, _ = in.take()
	if u.Version != 7 || !u.Full || u.Patch != nil {
		t.Fatalf("patches that do not compose must become a full update: %+v", u)
	}
}
