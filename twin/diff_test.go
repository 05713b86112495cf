package twin

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// step is one write in a scenario: section, patch body, clock second.
type step struct {
	s    Section
	body string
	sec  int
}

func build(tb testing.TB, steps ...step) *Doc {
	tb.Helper()
	d := New("dev", t0)
	for _, st := range steps {
		mustPatch(tb, d, st.s, st.body, at(st.sec))
	}
	return d
}

func TestDiff(t *testing.T) {
	cases := map[string]struct {
		steps []step
		want  []string // "path state since-second"
	}{
		"in sync": {[]step{{Desired, `{"fw":{"v":"2"}}`, 1}, {Reported, `{"fw":{"v":"2"}}`, 2}},
			[]string{"fw.v in sync 1"}},
		"pending: device has not reported since": {[]step{{Reported, `{"fw":{"v":"1"}}`, 1}, {Desired, `{"fw":{"v":"2"}}`, 2}},
			[]string{"fw.v pending 2"}},
		"pending: leaf reported before, other leaves since": {[]step{{Reported, `{"fw":{"v":"1"}}`, 1},
			{Desired, `{"fw":{"v":"2"}}`, 2}, {Reported, `{"battery":50}`, 3}},
			[]string{"battery reported only 0", "fw.v pending 2"}},
		"different: device reported since and disagrees": {[]step{{Desired, `{"fw":{"v":"2"}}`, 1}, {Reported, `{"fw":{"v":"1"}}`, 2}},
			[]string{"fw.v different 1"}},
		"pending: leaf absent, section older": {[]step{{Reported, `{"x":1}`, 1}, {Desired, `{"freq":"5m"}`, 2}},
			[]string{"freq pending 2", "x reported only 0"}},
		"pending: new twin never reported": {[]step{{Desired, `{"freq":"5m"}`, 2}},
			[]string{"freq pending 2"}},
		"different: leaf absent, section reported since": {[]step{{Desired, `{"freq":"5m"}`, 1}, {Reported, `{"x":1}`, 2}},
			[]string{"freq different 1", "x reported only 0"}},
		"arrays compared whole": {[]step{{Desired, `{"l":[1,{"a":2}],"m":[1]}`, 1}, {Reported, `{"l":[1,{"a":2}],"m":[1,2]}`, 2}},
			[]string{"l in sync 1", "m different 1"}},
		"desired leaf, reported object": {[]step{{Desired, `{"a":1}`, 1}, {Reported, `{"a":{"b":1}}`, 2}},
			[]string{"a different 1"}},
		"desired object, reported leaf": {[]step{{Desired, `{"a":{"b":1}}`, 1}, {Reported, `{"a":1}`, 2}},
			[]string{"a.b different 1"}},
		"empty desired object is a leaf": {[]step{{Desired, `{"a":{}}`, 1}, {Reported, `{"a":{}}`, 2}},
			[]string{"a in sync 1"}},
		"numbers by value": {[]step{{Desired, `{"n":1.0}`, 1}, {Reported, `{"n":1}`, 2}},
			[]string{"n in sync 1"}},
		"reported only nested": {[]step{{Desired, `{"a":{"b":1}}`, 1}, {Reported, `{"a":{"b":1,"c":{"d":2}},"e":3}`, 2}},
			[]string{"a.b in sync 1", "a.c.d reported only 0", "e reported only 0"}},
		"empty twin": {nil, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := build(t, c.steps...)
			var got []string
			for _, l := range Diff(d) {
				sec := 0
				if !l.Since.IsZero() {
					sec = int(l.Since.Sub(t0).Seconds())
				}
				got = append(got, fmt.Sprintf("%s %s %d", l.Path, l.State, sec))
				if l.HasDesired != (l.State != ReportedOnly) {
					t.Errorf("%s: HasDesired %v for %s", l.Path, l.HasDesired, l.State)
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
			checkSummary(t, d)
		})
	}
}

// checkSummary fails unless Summarize agrees with Diff.
func checkSummary(tb testing.TB, d *Doc) {
	tb.Helper()
	var want Summary
	for _, l := range Diff(d) {
		switch l.State {
		case InSync:
			want.InSync++
		case Pending:
			want.Pending++
			if want.OldestPending.IsZero() || l.Since.Before(want.OldestPending) {
				want.OldestPending = l.Since
			}
		case Different:
			want.Different++
		case ReportedOnly:
			want.ReportedOnly++
		}
	}
	if got := Summarize(d); got != want {
		tb.Errorf("Summarize = %+v, Diff counts %+v", got, want)
	}
}

func TestSummarizeWithoutCaches(t *testing.T) {
	d := build(t, step{Desired, `{"a":{"b":1},"c":2}`, 1}, step{Reported, `{"a":{"b":1,"x":{"y":1,"z":[]}},"q":{}}`, 2})
	want := Summarize(d)
	lit := &Doc{Desired: Props{Values: d.Desired.Values, Meta: d.Desired.Meta},
		Reported: Props{Values: d.Reported.Values, Meta: d.Reported.Meta}}
	if got := Summarize(lit); got != want || want.ReportedOnly != 3 {
		t.Errorf("Summarize of a Doc built by hand = %+v, want %+v with 3 reported only", got, want)
	}
	checkSummary(t, lit)
}

func TestSummarizeOldestPending(t *testing.T) {
	d := build(t, step{Desired, `{"a":1}`, 5}, step{Desired, `{"b":1}`, 3}, step{Desired, `{"a":2}`, 7})
	// a set at 7, b at 3: both pending, oldest 3
	s := Summarize(d)
	if s.Pending != 2 || !s.OldestPending.Equal(at(3)) {
		t.Errorf("got %+v, want 2 pending, oldest at 3", s)
	}
}

func TestSummarizeDoesNotAllocate(t *testing.T) {
	d := build(t, step{Desired, `{"a":{"b":1,"c":[1]},"d":"x"}`, 1}, step{Reported, `{"a":{"b":2},"e":{"f":1}}`, 2})
	if n := testing.AllocsPerRun(100, func() { Summarize(d) }); n != 0 {
		t.Errorf("Summarize allocates %.0f times", n)
	}
}

func TestMakePatch(t *testing.T) {
	cases := map[string]struct{ old, new, want string }{
		"no change":        {`{"a":1,"b":{"c":[1]}}`, `{"a":1,"b":{"c":[1]}}`, `{}`},
		"removed key":      {`{"a":1,"b":2}`, `{"b":2}`, `{"a":null}`},
		"changed leaf":     {`{"a":1,"b":2}`, `{"a":3,"b":2}`, `{"a":3}`},
		"nested change":    {`{"o":{"x":1,"y":2}}`, `{"o":{"x":1,"y":3}}`, `{"o":{"y":3}}`},
		"nested removal":   {`{"o":{"x":1,"y":2}}`, `{"o":{"x":1}}`, `{"o":{"y":null}}`},
		"object to leaf":   {`{"o":{"x":1}}`, `{"o":1}`, `{"o":1}`},
		"leaf to object":   {`{"o":1}`, `{"o":{"x":1}}`, `{"o":{"x":1}}`},
		"array changed":    {`{"l":[1,2]}`, `{"l":[1]}`, `{"l":[1]}`},
		"to empty object":  {`{"o":{"x":1}}`, `{"o":{}}`, `{"o":{"x":null}}`},
		"new empty object": {`{}`, `{"o":{}}`, `{"o":{}}`},
		"everything gone":  {`{"a":1,"o":{"x":1}}`, `{}`, `{"a":null,"o":null}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			old, nw := parse(t, Desired, c.old), parse(t, Desired, c.new)
			p := MakePatch(old, nw)
			if got := js(p); got != c.want {
				t.Errorf("MakePatch = %s, want %s", got, c.want)
			}
			d := New("dev", t0)
			mustPatch(t, d, Desired, c.old, at(1))
			if err := d.Patch(Desired, p, at(2)); err != nil {
				t.Fatal(err)
			}
			if !Equal(d.Desired.Values, nw) {
				t.Errorf("applying the patch gave %s, want %s", js(d.Desired.Values), c.new)
			}
		})
	}
}

// randomValue returns a small random JSON value for property tests.
func randomValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(8); {
	case n == 0 && depth < 4:
		m := map[string]any{}
		for i := r.IntN(4); i > 0; i-- {
			m[string(rune('a'+r.IntN(5)))] = randomValue(r, depth+1)
		}
		return m
	case n == 1:
		return []any{float64(r.IntN(3)), "s"}
	case n == 2:
		return r.IntN(2) == 0
	case n == 3:
		return string(rune('p' + r.IntN(3)))
	case n == 4:
		return nil
	}
	return float64(r.IntN(4))
}

// randomPatch returns a random merge patch.
func randomPatch(r *rand.Rand) map[string]any {
	m := map[string]any{}
	for i := r.IntN(5); i > 0; i-- {
		m[string(rune('a'+r.IntN(5)))] = randomValue(r, 1)
	}
	return m
}

// TestApplyChangeReplays: a cache that replays the hub's changes (through their JSON)
// ends with exactly the hub's twin.
func TestApplyChangeReplays(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	hub := New("dev", t0)
	var cache Doc
	if err := cache.UnmarshalJSON([]byte(docJSON(t, hub))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		s := Section(r.IntN(3))
		op := OpPatch
		p := randomPatch(r)
		now := at(i).Add(123456789)
		var err *Error
		if s != Reported && r.IntN(4) == 0 {
			op = OpReplace
			err = hub.Replace(s, p, now)
		} else {
			err = hub.Patch(s, p, now)
		}
		if err != nil {
			t.Fatal(err)
		}
		c := Change{DeviceID: hub.DeviceID, Version: hub.Version, Section: s, Op: op, Patch: p, Time: now}
		b, _ := c.MarshalJSON()
		var back Change
		if err := back.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		if err := cache.ApplyChange(back); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if !reflect.DeepEqual(hub, &cache) {
			t.Fatalf("change %d (%s): cache differs:\n%s\n%s", i, b, docJSON(t, hub), docJSON(t, &cache))
		}
		checkSummary(t, hub)
	}
}

func TestApplyChangeRejects(t *testing.T) {
	d := build(t, step{Reported, `{"a":1}`, 1}) // version 2
	cases := map[string]struct {
		c      Change
		status int
		code   int
	}{
		"stale":        {Change{DeviceID: "dev", Version: 2, Section: Reported, Op: OpPatch, Patch: map[string]any{}}, 412, CodeStaleChange},
		"gap":          {Change{DeviceID: "dev", Version: 4, Section: Reported, Op: OpPatch, Patch: map[string]any{}}, 409, CodeVersionGap},
		"other device": {Change{DeviceID: "x", Version: 3, Section: Reported, Op: OpPatch, Patch: map[string]any{}}, 400, CodeInvalidArgument},
		"bad op":       {Change{DeviceID: "dev", Version: 3, Section: Reported, Op: "merge", Patch: map[string]any{}}, 400, CodeInvalidArgument},
		"bad patch":    {Change{DeviceID: "dev", Version: 3, Section: Reported, Op: OpPatch, Patch: map[string]any{"a.b": 1.0}}, 400, CodeInvalidArgument},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			before := docJSON(t, d)
			err := d.ApplyChange(c.c)
			if err == nil || err.Status != c.status || err.Code != c.code {
				t.Fatalf("got %v, want %d/%d", err, c.status, c.code)
			}
			if docJSON(t, d) != before {
				t.Error("rejected change changed the twin")
			}
		})
	}
}
