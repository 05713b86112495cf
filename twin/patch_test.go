package twin

import (
	"strings"
	"testing"
)

func TestPatchMerge(t *testing.T) {
	cases := map[string]struct {
		before, patch, want string
	}{
		"add member":                {`{}`, `{"a":1}`, `{"a":1}`},
		"overwrite leaf":            {`{"a":1,"b":2}`, `{"a":"x"}`, `{"a":"x","b":2}`},
		"null deletes":              {`{"a":1,"b":2}`, `{"a":null}`, `{"b":2}`},
		"null on missing key":       {`{"b":2}`, `{"a":null}`, `{"b":2}`},
		"nested objects merge":      {`{"a":{"x":1,"y":2}}`, `{"a":{"y":3,"z":4}}`, `{"a":{"x":1,"y":3,"z":4}}`},
		"nested null deletes":       {`{"a":{"x":1,"y":2}}`, `{"a":{"x":null}}`, `{"a":{"y":2}}`},
		"delete last nested member": {`{"a":{"x":1}}`, `{"a":{"x":null}}`, `{"a":{}}`},
		"object replaces leaf":      {`{"a":1}`, `{"a":{"b":1,"c":null}}`, `{"a":{"b":1}}`},
		"leaf replaces object":      {`{"a":{"b":1}}`, `{"a":true}`, `{"a":true}`},
		"array replaced whole":      {`{"a":[1,2,3]}`, `{"a":[4]}`, `{"a":[4]}`},
		"nulls inside arrays kept":  {`{}`, `{"a":[null,{"b":null}]}`, `{"a":[null,{"b":null}]}`},
		"empty patch":               {`{"a":1}`, `{}`, `{"a":1}`},
		"empty object stored":       {`{}`, `{"a":{}}`, `{"a":{}}`},
		"facts notification example": {`{"route":"r1","telemetrySendFrequency":"1m"}`,
			`{"telemetrySendFrequency":"5m","route":null}`, `{"telemetrySendFrequency":"5m"}`},
		"facts tags example": {`{}`, `{"deploymentLocation":{"building":"43","floor":"1"}}`,
			`{"deploymentLocation":{"building":"43","floor":"1"}}`},
	}
	for name, c := range cases {
		for _, s := range []Section{Tags, Desired, Reported} {
			t.Run(name+"/"+s.String(), func(t *testing.T) {
				d := New("dev", t0)
				mustPatch(t, d, s, c.before, at(1))
				mustPatch(t, d, s, c.patch, at(2))
				if got := js(d.section(s)); got != c.want {
					t.Errorf("got %s, want %s", got, c.want)
				}
				if s != Tags {
					checkMetaMirrors(t, s.String(), d.props(s).Values, d.props(s).Meta)
				}
			})
		}
	}
}

func TestPatchDoesNotAliasThePatch(t *testing.T) {
	d := New("dev", t0)
	p := parse(t, Desired, `{"a":{"b":1},"l":[1,{"c":2}]}`)
	if err := d.Patch(Desired, p, at(1)); err != nil {
		t.Fatal(err)
	}
	p["a"].(map[string]any)["b"] = 99.0
	p["l"].([]any)[1].(map[string]any)["c"] = 99.0
	mustPatch(t, d, Desired, `{"a":{"x":1}}`, at(2))
	if got, want := js(d.Desired.Values), `{"a":{"b":1,"x":1},"l":[1,{"c":2}]}`; got != want {
		t.Errorf("twin changed through the patch: %s, want %s", got, want)
	}
	if got, want := js(p), `{"a":{"b":99},"l":[1,{"c":99}]}`; got != want {
		t.Errorf("patch changed by the twin: %s, want %s", got, want)
	}
}

func TestPatchGoValues(t *testing.T) {
	d := New("dev", t0)
	p := map[string]any{"i": 3, "i64": int64(-7), "f32": float32(0.5), "s": "x", "o": map[string]any{"n": 1}}
	if err := d.Patch(Reported, p, at(1)); err != nil {
		t.Fatal(err)
	}
	if got, want := js(d.Reported.Values), `{"f32":0.5,"i":3,"i64":-7,"o":{"n":1},"s":"x"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, ok := d.Reported.Values["i"].(float64); !ok {
		t.Errorf("int stored as %T, want float64", d.Reported.Values["i"])
	}
}

func TestVersionsAndEtag(t *testing.T) {
	type step struct {
		op   string // "patch" or "replace"
		s    Section
		body string
		// twin version, desired $version, reported $version after the step
		version, desired, reported int64
	}
	cases := map[string][]step{
		"new twin": {},
		"reported patches": {
			{"patch", Reported, `{"a":1}`, 2, 1, 2},
			{"patch", Reported, `{"a":1}`, 3, 1, 3}, // identical values still count
		},
		"desired then tags": {
			{"patch", Desired, `{"a":1}`, 2, 2, 1},
			{"patch", Tags, `{"t":1}`, 3, 2, 1},
			{"replace", Desired, `{"b":2}`, 4, 3, 1},
			{"replace", Tags, `{}`, 5, 3, 1},
		},
		"empty patch": {
			{"patch", Desired, `{}`, 2, 2, 1},
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			d := New("dev", t0)
			if d.Version != 1 || d.Desired.Version != 1 || d.Reported.Version != 1 {
				t.Fatalf("new twin versions %d/%d/%d, want 1/1/1", d.Version, d.Desired.Version, d.Reported.Version)
			}
			seen := map[string]bool{d.Etag: true}
			for i, st := range steps {
				var err *Error
				if st.op == "patch" {
					err = d.Patch(st.s, parse(t, st.s, st.body), at(i+1))
				} else {
					err = d.Replace(st.s, parse(t, st.s, st.body), at(i+1))
				}
				if err != nil {
					t.Fatal(err)
				}
				if d.Version != st.version || d.Desired.Version != st.desired || d.Reported.Version != st.reported {
					t.Errorf("step %d: versions %d/%d/%d, want %d/%d/%d", i, d.Version, d.Desired.Version,
						d.Reported.Version, st.version, st.desired, st.reported)
				}
				if seen[d.Etag] {
					t.Errorf("step %d: etag %s seen before", i, d.Etag)
				}
				seen[d.Etag] = true
			}
		})
	}
}

func TestEtagDiffersBetweenLives(t *testing.T) {
	a, b := New("dev", t0), New("dev", at(1))
	if a.Etag == b.Etag {
		t.Errorf("a device created again got the etag of its previous life: %s", a.Etag)
	}
	if len(a.Etag) != 12 || !strings.HasSuffix(a.Etag, "=") {
		t.Errorf("etag %q is not base64 of 8 bytes like Azure's", a.Etag)
	}
}

func TestPatchMetadata(t *testing.T) {
	d := New("dev", t0)
	mustPatch(t, d, Desired, `{"fw":{"version":"1.0","url":"u"},"freq":"1m"}`, at(1)) // $version 2
	mustPatch(t, d, Desired, `{"fw":{"version":"2.0"}}`, at(2))                       // $version 3
	mustPatch(t, d, Reported, `{"fw":{"version":"1.0","status":"ok"},"old":1}`, at(3))
	mustPatch(t, d, Reported, `{"fw":{"status":null},"old":null}`, at(4))

	cases := map[string]struct {
		p       Props
		path    []string
		updated int
		version int64
	}{
		"desired root":           {d.Desired, nil, 2, 3},
		"desired touched parent": {d.Desired, []string{"fw"}, 2, 3},
		"desired touched leaf":   {d.Desired, []string{"fw", "version"}, 2, 3},
		"desired untouched leaf": {d.Desired, []string{"fw", "url"}, 1, 2},
		"desired untouched top":  {d.Desired, []string{"freq"}, 1, 2},
		"reported root":          {d.Reported, nil, 4, 0},
		"parent of deleted key":  {d.Reported, []string{"fw"}, 4, 0},
		"sibling of deleted key": {d.Reported, []string{"fw", "version"}, 3, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := metaAt(c.p, c.path...)
			if m == nil {
				t.Fatal("no metadata")
			}
			if !m.LastUpdated().Equal(at(c.updated)) {
				t.Errorf("$lastUpdated %v, want %v", m.LastUpdated(), at(c.updated))
			}
			if m.LastUpdatedVersion() != c.version {
				t.Errorf("$lastUpdatedVersion %d, want %d", m.LastUpdatedVersion(), c.version)
			}
		})
	}
	if metaAt(d.Reported, "fw", "status") != nil || metaAt(d.Reported, "old") != nil {
		t.Error("metadata of deleted keys kept")
	}
	checkMetaMirrors(t, "desired", d.Desired.Values, d.Desired.Meta)
	checkMetaMirrors(t, "reported", d.Reported.Values, d.Reported.Meta)
}

func TestReplace(t *testing.T) {
	d := New("dev", t0)
	mustPatch(t, d, Desired, `{"keep":{"a":1},"change":1,"drop":{"x":1}}`, at(1))
	old := d.Desired.Values
	if err := d.Replace(Desired, parse(t, Desired, `{"keep":{"a":1},"change":2,"new":{"y":1},"nil":null}`), at(2)); err != nil {
		t.Fatal(err)
	}
	if got, want := js(d.Desired.Values), `{"change":2,"keep":{"a":1},"new":{"y":1}}`; got != want {
		t.Errorf("desired %s, want %s", got, want)
	}
	if got, want := js(MakePatch(old, d.Desired.Values)), `{"change":2,"drop":null,"new":{"y":1}}`; got != want {
		t.Errorf("the old section changed under the caller: MakePatch(old, new) = %s, want %s", got, want)
	}
	if m := metaAt(d.Desired, "keep", "a"); !m.LastUpdated().Equal(at(1)) || m.LastUpdatedVersion() != 2 {
		t.Errorf("unchanged leaf metadata %+v, want time 1 version 2", m)
	}
	if m := metaAt(d.Desired, "change"); !m.LastUpdated().Equal(at(2)) || m.LastUpdatedVersion() != 3 {
		t.Errorf("changed leaf metadata %+v, want time 2 version 3", m)
	}
	if !d.Desired.Meta.LastUpdated().Equal(at(2)) {
		t.Errorf("root not touched by replace")
	}
	checkMetaMirrors(t, "desired", d.Desired.Values, d.Desired.Meta)

	mustPatch(t, d, Tags, `{"a":{"b":1}}`, at(3))
	if err := d.Replace(Tags, parse(t, Tags, `{"c":1}`), at(4)); err != nil {
		t.Fatal(err)
	}
	if got := js(d.Tags); got != `{"c":1}` {
		t.Errorf("tags %s", got)
	}
	before := docJSON(t, d)
	if err := d.Replace(Reported, map[string]any{}, at(5)); err == nil || err.Status != 400 {
		t.Errorf("replace of reported: %v, want a 400", err)
	}
	if docJSON(t, d) != before {
		t.Error("rejected replace changed the twin")
	}
}

func TestClone(t *testing.T) {
	d := New("dev", t0)
	mustPatch(t, d, Desired, `{"a":{"b":[1,{"c":2}]}}`, at(1))
	mustPatch(t, d, Tags, `{"t":{"u":1}}`, at(1))
	c := d.Clone()
	want := docJSON(t, d)
	mustPatch(t, c, Desired, `{"a":{"b":null,"x":1}}`, at(2))
	mustPatch(t, c, Tags, `{"t":{"u":2}}`, at(2))
	c.Desired.Values["a"].(map[string]any)["y"] = 1.0
	if got := docJSON(t, d); got != want {
		t.Errorf("changing the clone changed the original:\n%s\nwant\n%s", got, want)
	}
}

func TestLookup(t *testing.T) {
	v := parse(t, Reported, `{"a":{"b":{"c":1}},"l":[1]}`)
	cases := map[string]struct {
		path []string
		want string
		ok   bool
	}{
		"root":          {nil, `{"a":{"b":{"c":1}},"l":[1]}`, true},
		"nested leaf":   {[]string{"a", "b", "c"}, `1`, true},
		"object":        {[]string{"a", "b"}, `{"c":1}`, true},
		"missing":       {[]string{"a", "x"}, ``, false},
		"through leaf":  {[]string{"a", "b", "c", "d"}, ``, false},
		"through array": {[]string{"l", "0"}, ``, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := Lookup(v, c.path...)
			if ok != c.ok || (ok && js(got) != c.want) {
				t.Errorf("Lookup = %s, %v; want %s, %v", js(got), ok, c.want, c.ok)
			}
		})
	}
}

func TestPatchArgumentErrors(t *testing.T) {
	cases := map[string]struct {
		do   func(d *Doc) *Error
		code int
	}{
		"nil patch":        {func(d *Doc) *Error { return d.Patch(Reported, nil, at(1)) }, CodeMalformed},
		"nil replacement":  {func(d *Doc) *Error { return d.Replace(Desired, nil, at(1)) }, CodeMalformed},
		"unknown section":  {func(d *Doc) *Error { return d.Patch(Section(7), map[string]any{}, at(1)) }, CodeInvalidArgument},
		"replace unknown":  {func(d *Doc) *Error { return d.Replace(Section(7), map[string]any{}, at(1)) }, CodeInvalidArgument},
		"replace reported": {func(d *Doc) *Error { return d.Replace(Reported, map[string]any{}, at(1)) }, CodeInvalidArgument},
		"replace bad key":  {func(d *Doc) *Error { return d.Replace(Tags, map[string]any{"a b": 1.0}, at(1)) }, CodeInvalidArgument},
		"replace over 8 KB": {func(d *Doc) *Error {
			return d.Replace(Tags, map[string]any{"a": strings.Repeat("x", 4000), "b": strings.Repeat("x", 4000), "c": strings.Repeat("x", 300)}, at(1))
		}, CodeInvalidArgument},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := New("dev", t0)
			before := docJSON(t, d)
			err := c.do(d)
			if err == nil || err.Status != 400 || err.Code != c.code || err.Message == "" {
				t.Fatalf("got %+v, want a 400 with code %d", err, c.code)
			}
			if docJSON(t, d) != before {
				t.Error("rejected call changed the twin")
			}
		})
	}
}

// A twin read from JSON that lacks metadata for some nodes gets it on the next patch.
func TestPatchCreatesMissingMetadata(t *testing.T) {
	var d Doc
	body := `{"deviceId":"d","version":3,"properties":{"desired":{"a":{"b":1},"$version":2},"reported":{"$version":1}}}`
	if err := d.UnmarshalJSON([]byte(body)); err != nil {
		t.Fatal(err)
	}
	mustPatch(t, &d, Desired, `{"a":{"c":2}}`, at(1))
	if m := metaAt(d.Desired, "a"); m == nil || !m.LastUpdated().Equal(at(1)) || m.LastUpdatedVersion() != 3 {
		t.Fatalf("metadata of a: %+v", m)
	}
	if m := metaAt(d.Desired, "a", "c"); m == nil || !m.LastUpdated().Equal(at(1)) {
		t.Fatalf("metadata of a.c: %+v", m)
	}
	if d.Version != 4 || d.Desired.Version != 3 {
		t.Errorf("versions %d/%d, want 4/3", d.Version, d.Desired.Version)
	}
}

func TestNames(t *testing.T) {
	for _, s := range []Section{Tags, Desired, Reported} {
		if got, ok := ParseSection(s.String()); !ok || got != s {
			t.Errorf("ParseSection(%q) = %v, %v", s.String(), got, ok)
		}
	}
	if _, ok := ParseSection("properties"); ok {
		t.Error("ParseSection accepted properties")
	}
	names := map[State]string{InSync: "in sync", Pending: "pending", Different: "different", ReportedOnly: "reported only"}
	for st, want := range names {
		if st.String() != want {
			t.Errorf("%d.String() = %q, want %q", st, st.String(), want)
		}
	}
}
