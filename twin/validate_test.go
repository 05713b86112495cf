package twin

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// nest returns {"k1":{"k2":…{"kn":leaf}}}.
func nest(n int, leaf string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"k%d":`, i)
	}
	b.WriteString(leaf)
	b.WriteString(strings.Repeat("}", n))
	return b.String()
}

func TestParsePatchRejects(t *testing.T) {
	cases := map[string]struct {
		s    Section
		body string
		code int
		path string
		msg  string
	}{
		"key with dot":        {Reported, `{"a":{"b.c":1}}`, CodeInvalidArgument, `properties.reported.a["b.c"]`, "key contains '.'; rename the key"},
		"key with dollar":     {Desired, `{"a$b":1}`, CodeInvalidArgument, `properties.desired["a$b"]`, "key contains '$'"},
		"reserved $version":   {Reported, `{"$version":3}`, CodeInvalidArgument, `properties.reported["$version"]`, "reserved for the hub"},
		"reserved $metadata":  {Desired, `{"a":{"$metadata":{}}}`, CodeInvalidArgument, `properties.desired.a["$metadata"]`, "reserved for the hub"},
		"key with space":      {Tags, `{"a b":1}`, CodeInvalidArgument, `tags["a b"]`, "key contains a space"},
		"key with C0 control": {Reported, `{"a\u0001":1}`, CodeInvalidArgument, `properties.reported["a\x01"]`, "control character"},
		"key with DEL":        {Reported, "{\"a\x7f\":1}", CodeInvalidArgument, `properties.reported["a\x7f"]`, "control character"},
		"key with C1 control": {Reported, `{"a\u0085":1}`, CodeInvalidArgument, `properties.reported["a\u0085"]`, "control character"},
		"empty key":           {Reported, `{"":1}`, CodeInvalidArgument, `properties.reported[""]`, "empty key"},
		"key over 1 KB":       {Reported, `{"` + strings.Repeat("k", 1025) + `":1}`, CodeInvalidArgument, "properties.reported." + strings.Repeat("k", 1025), "1025 bytes"},
		"depth 11":            {Desired, nest(11, "1"), CodeInvalidArgument, "properties.desired.k1.k2.k3.k4.k5.k6.k7.k8.k9.k10.k11", "deeper than 10"},
		"depth through array": {Desired, nest(9, `[[1]]`), CodeInvalidArgument, "properties.desired.k1.k2.k3.k4.k5.k6.k7.k8.k9[0][0]", "deeper than 10"},
		"string over 4 KB":    {Reported, `{"s":"` + strings.Repeat("x", 4097) + `"}`, CodeInvalidArgument, "properties.reported.s", "4097 bytes"},
		"integer 2^52":        {Reported, `{"n":4503599627370496}`, CodeInvalidArgument, "properties.reported.n", "outside -4503599627370496…4503599627370495"},
		"integer -2^52-1":     {Reported, `{"n":-4503599627370497}`, CodeInvalidArgument, "properties.reported.n", "send it as a string"},
		"whole number 1e300":  {Reported, `{"n":1e300}`, CodeInvalidArgument, "properties.reported.n", "outside"},
		"number overflow":     {Reported, `{"n":1e999}`, CodeInvalidArgument, "properties.reported.n", "out of range"},
		"array at top":        {Reported, `[1]`, CodeMalformed, "properties.reported", "must be a JSON object"},
		"string at top":       {Reported, `"x"`, CodeMalformed, "properties.reported", "must be a JSON object"},
		"null at top":         {Desired, `null`, CodeMalformed, "properties.desired", "must be a JSON object"},
		"empty body":          {Reported, ``, CodeMalformed, "properties.reported", "empty"},
		"missing value":       {Reported, `{"a":}`, CodeMalformed, "properties.reported.a", "expected a value"},
		"trailing comma":      {Reported, `{"a":1,}`, CodeMalformed, "properties.reported", "member name"},
		"missing colon":       {Reported, `{"a" 1}`, CodeMalformed, "properties.reported.a", "expected ':'"},
		"trailing text":       {Reported, `{"a":1} x`, CodeMalformed, "properties.reported", "after the JSON object"},
		"unterminated string": {Reported, `{"a":"x`, CodeMalformed, "properties.reported.a", "unterminated string"},
		"invalid escape":      {Reported, `{"a":"\x"}`, CodeMalformed, "properties.reported.a", "invalid escape"},
		"raw control in str":  {Reported, "{\"a\":\"x\ny\"}", CodeMalformed, "properties.reported.a", "control character"},
		"invalid UTF-8":       {Reported, "{\"a\":\"\xff\"}", CodeMalformed, "properties.reported.a", "not valid UTF-8"},
		"leading zero":        {Reported, `{"a":01}`, CodeMalformed, "properties.reported.a", "invalid number"},
		"NaN literal":         {Reported, `{"a":NaN}`, CodeMalformed, "properties.reported.a", "expected a value"},
		"bad literal":         {Reported, `{"a":tru}`, CodeMalformed, "properties.reported.a", "expected true"},
		"unclosed object":     {Reported, `{"a":{"b":1}`, CodeMalformed, "properties.reported", "expected ',' or '}'"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := ParsePatch(c.s, []byte(c.body))
			if err == nil {
				t.Fatalf("accepted: %s", js(p))
			}
			if err.Status != 400 || err.Code != c.code {
				t.Errorf("status %d code %d, want 400 %d", err.Status, err.Code, c.code)
			}
			if err.Path != c.path {
				t.Errorf("path %q, want %q", err.Path, c.path)
			}
			if !strings.Contains(err.Message, c.msg) {
				t.Errorf("message %q does not say %q", err.Message, c.msg)
			}
			if c.path != "" && !strings.HasPrefix(err.Error(), c.path+": ") {
				t.Errorf("message %q does not start with the path", err.Error())
			}
		})
	}
}

func TestParsePatchAccepts(t *testing.T) {
	cases := map[string]struct {
		body, want string
	}{
		"key of 1 KB":           {`{"` + strings.Repeat("k", 1024) + `":1}`, `{"` + strings.Repeat("k", 1024) + `":1}`},
		"depth 10":              {nest(10, `{}`), nest(10, `{}`)},
		"string of 4 KB":        {`{"s":"` + strings.Repeat("x", 4096) + `"}`, `{"s":"` + strings.Repeat("x", 4096) + `"}`},
		"largest integer":       {`{"n":4503599627370495}`, `{"n":4503599627370495}`},
		"smallest integer":      {`{"n":-4503599627370496}`, `{"n":-4503599627370496}`},
		"fractions":             {`{"a":0.1,"b":-2.5e-7,"c":1.5e-300}`, `{"a":0.1,"b":-2.5e-7,"c":1.5e-300}`},
		"escapes":               {`{"s":"a\"b\\c\/\n\t\u00e9\ud83d\ude00\u0001"}`, `{"s":"a\"b\\c/\n\té😀\u0001"}`},
		"lone surrogate":        {`{"s":"\ud800x"}`, "{\"s\":\"\ufffdx\"}"},
		"unicode key":           {`{"température":1}`, `{"température":1}`},
		"whitespace":            {" \t\r\n{ \"a\" : [ 1 , 2 ] } \n", `{"a":[1,2]}`},
		"duplicate keys":        {`{"a":1,"a":2}`, `{"a":2}`},
		"facts reported sample": {`{"batteryLevel":55}`, `{"batteryLevel":55}`},
		"nulls":                 {`{"a":null,"b":[null]}`, `{"a":null,"b":[null]}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := ParsePatch(Reported, []byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := js(p); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestPatchRejectsAndKeepsTwin(t *testing.T) {
	big := func(n int) string { return `"` + strings.Repeat("x", n) + `"` }
	cases := map[string]struct {
		s     Section
		setup []string       // valid patches applied first
		patch map[string]any // the rejected patch (Go values, bypassing ParsePatch)
		json  string         // or a body for ParsePatch, when patch is nil
		path  string
		msg   string
	}{
		"reported over 32 KB as a result": {Reported,
			[]string{`{"a":` + big(4000) + `,"b":` + big(4000) + `,"c":` + big(4000) + `,"d":` + big(4000) + `}`,
				`{"e":` + big(4000) + `,"f":` + big(4000) + `,"g":` + big(4000) + `,"h":` + big(3000) + `}`},
			nil, `{"i":` + big(1800) + `}`, "properties.reported", "limit is 32768"},
		"tags over 8 KB": {Tags, []string{`{"a":` + big(4000) + `,"b":` + big(4000) + `}`},
			nil, `{"c":` + big(200) + `}`, "tags", "limit is 8192"},
		"desired over 32 KB in one patch": {Desired, nil, nil,
			`{"a":` + big(4096) + `,"b":` + big(4096) + `,"c":` + big(4096) + `,"d":` + big(4096) +
				`,"e":` + big(4096) + `,"f":` + big(4096) + `,"g":` + big(4096) + `,"h":` + big(4096) + `}`,
			"properties.desired", "limit is 32768"},
		"NaN from Go":         {Reported, nil, map[string]any{"a": map[string]any{"b": math.NaN()}}, "", "properties.reported.a.b", "not finite"},
		"Go type not JSON":    {Reported, nil, map[string]any{"a": []any{struct{}{}}}, "", "properties.reported.a[0]", "not a JSON value"},
		"dotted key from Go":  {Desired, nil, map[string]any{"ok": 1.0, "x": map[string]any{"a.b": 1.0}}, "", `properties.desired.x["a.b"]`, "key contains '.'"},
		"$ member from Go":    {Reported, nil, map[string]any{"$version": 4.0}, "", `properties.reported["$version"]`, "reserved"},
		"big int from Go":     {Reported, nil, map[string]any{"n": int64(1) << 53}, "", "properties.reported.n", "outside"},
		"invalid UTF-8 value": {Tags, nil, map[string]any{"s": "\xff"}, "", "tags.s", "not valid UTF-8"},
		"deep from Go": {Desired, nil, func() map[string]any {
			m := map[string]any{"k11": 1.0}
			for i := 10; i >= 1; i-- {
				m = map[string]any{fmt.Sprintf("k%d", i): m}
			}
			return m
		}(), "", "properties.desired.k1.k2.k3.k4.k5.k6.k7.k8.k9.k10.k11", "deeper than 10"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := New("dev", t0)
			for _, s := range c.setup {
				mustPatch(t, d, c.s, s, at(1))
			}
			before := docJSON(t, d)
			beforeSize := d.sectionSize(c.s)
			p := c.patch
			if p == nil {
				p = parse(t, c.s, c.json)
			}
			err := d.Patch(c.s, p, at(2))
			if err == nil {
				t.Fatal("accepted")
			}
			if err.Status != 400 || err.Code != CodeInvalidArgument || err.Path != c.path || !strings.Contains(err.Message, c.msg) {
				t.Errorf("got %d %d %q %q, want 400 %d %q containing %q", err.Status, err.Code, err.Path, err.Message,
					CodeInvalidArgument, c.path, c.msg)
			}
			if docJSON(t, d) != before || d.sectionSize(c.s) != beforeSize {
				t.Error("rejected patch changed the twin")
			}
		})
	}
}

func TestSizeCountedAzuresWay(t *testing.T) {
	cases := map[string]struct {
		body string
		want int
	}{
		"string by characters":   {`{"ab":"héllo"}`, 2 + 5},
		"control chars excluded": {`{"a":"x\ny\u0085"}`, 1 + 2},
		"number is 8":            {`{"n":1}`, 1 + 8},
		"boolean is 4":           {`{"b":true}`, 1 + 4},
		"nested sum":             {`{"o":{"p":1,"q":"zz"}}`, 1 + (1 + 8) + (1 + 2)},
		"array sum":              {`{"l":[1,"ab",true,null]}`, 1 + 8 + 2 + 4},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := New("dev", t0)
			mustPatch(t, d, Reported, c.body, at(1))
			if got := d.sectionSize(Reported); got != c.want {
				t.Errorf("cached size %d, want %d", got, c.want)
			}
			if got := sizeOf(d.Reported.Values, false); got != c.want {
				t.Errorf("counted size %d, want %d", got, c.want)
			}
		})
	}
}

func TestSizeCacheFollowsPatches(t *testing.T) {
	d := New("dev", t0)
	bodies := []string{`{"a":{"b":"xyz","c":[1,2]},"d":true}`, `{"a":{"b":null,"e":{"f":1}}}`,
		`{"a":"leaf"}`, `{"d":null,"g":{"h":null,"i":"j"}}`, `{}`, `{"g":{"i":"longer"}}`}
	for i, b := range bodies {
		mustPatch(t, d, Desired, b, at(i))
		if got, want := d.sectionSize(Desired), sizeOf(d.Desired.Values, false); got != want {
			t.Fatalf("after %s: cached size %d, counted %d", b, got, want)
		}
	}
}

// The ASCII fast path of checkKey agrees with the full check for every byte.
func TestCheckKeyFastPath(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, k := range []string{string(rune(c)), "a" + string([]byte{byte(c)}) + "b"} {
			if got, want := checkKey(k), checkKeyFull(k); got != want {
				t.Errorf("checkKey(%q) = %q, full check says %q", k, got, want)
			}
		}
	}
}
