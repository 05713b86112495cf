package twin

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// azureSkeleton is the twin of facts sheet 2.1 with its "…" filled in.
const azureSkeleton = `{ "deviceId":"devA","etag":"AAAAAAAAAAc=","deviceEtag":"Njc1NTk2MDg=","status":"enabled","statusReason":"provisioned",
  "statusUpdateTime":"0001-01-01T00:00:00","connectionState":"Connected","lastActivityTime":"2022-06-01T22:27:50.2612586Z",
  "cloudToDeviceMessageCount":0,"authenticationType":"sas",
  "x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},
  "modelId":"","version":2,"capabilities":{"iotEdge":false},
  "tags":{"deploymentLocation":{"building":"43","floor":"1"}},
  "properties":{
    "desired":{"telemetryConfig":{"sendFrequency":"5m"},
               "$metadata":{"$lastUpdated":"2022-06-01T22:27:50.123Z","$lastUpdatedVersion":1,
                            "telemetryConfig":{"$lastUpdated":"2022-06-01T22:27:50.123Z","$lastUpdatedVersion":1,
                                               "sendFrequency":{"$lastUpdated":"2022-06-01T22:27:50.123Z","$lastUpdatedVersion":1}}},
               "$version":1},
    "reported":{"batteryLevel":55,"$metadata":{"$lastUpdated":"2022-06-01T22:28:00Z","batteryLevel":{"$lastUpdated":"2022-06-01T22:28:00Z"}},"$version":4}}}`

func TestUnmarshalAzureSkeleton(t *testing.T) {
	var d Doc
	if err := json.Unmarshal([]byte(azureSkeleton), &d); err != nil {
		t.Fatal(err)
	}
	desiredAt := time.Date(2022, 6, 1, 22, 27, 50, 123e6, time.UTC)
	cases := map[string]struct{ got, want any }{
		"deviceId":           {d.DeviceID, "devA"},
		"etag":               {d.Etag, "AAAAAAAAAAc="},
		"version":            {d.Version, int64(2)},
		"statusReason":       {d.StatusReason, "provisioned"},
		"statusUpdateTime":   {d.StatusUpdateTime.IsZero(), true},
		"lastActivityTime":   {d.LastActivityTime, time.Date(2022, 6, 1, 22, 27, 50, 261258600, time.UTC)},
		"connectionState":    {d.ConnectionState, "Connected"},
		"tags":               {js(d.Tags), `{"deploymentLocation":{"building":"43","floor":"1"}}`},
		"desired":            {js(d.Desired.Values), `{"telemetryConfig":{"sendFrequency":"5m"}}`},
		"desired $version":   {d.Desired.Version, int64(1)},
		"desired leaf meta":  {metaAt(d.Desired, "telemetryConfig", "sendFrequency").LastUpdated(), desiredAt},
		"desired leaf ver":   {metaAt(d.Desired, "telemetryConfig", "sendFrequency").LastUpdatedVersion(), int64(1)},
		"reported":           {js(d.Reported.Values), `{"batteryLevel":55}`},
		"reported $version":  {d.Reported.Version, int64(4)},
		"reported root meta": {d.Reported.Meta.LastUpdated(), time.Date(2022, 6, 1, 22, 28, 0, 0, time.UTC)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	d := New("pump-7", t0)
	d.StatusReason = "maintenance"
	d.StatusUpdateTime = at(1).Add(123456789 * time.Nanosecond)
	d.LastActivityTime = at(2)
	d.X509Thumbprint.PrimaryThumbprint = "ABC"
	d.CloudToDeviceMessageCount = 3
	mustPatch(t, d, Tags, `{"region":"eu","site":{"floor":"1"}}`, at(1))
	mustPatch(t, d, Desired, `{"n":{"max":4503599627370495,"min":-4503599627370496,"f":0.1,"tiny":1e-7,"big":1.5e-300},"l":[1,"a",null,{"x":[]}]}`, at(2))
	mustPatch(t, d, Reported, `{"s":"a\"b\\c\n\u0001\u2028é😀","e":{},"t":true,"z":0}`, at(3))
	mustPatch(t, d, Reported, `{"s":null}`, at(4))

	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	var back Doc
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, &back) {
		t.Errorf("round trip lost something:\n%s\n%s", b, docJSON(t, &back))
	}
	// encoding/json reads the same values (our encoder writes standard JSON).
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	if got, _ := Lookup(generic, "properties", "desired", "n", "max"); got != 4503599627370495.0 {
		t.Errorf("encoding/json read max as %v", got)
	}
}

func TestNewTwinJSON(t *testing.T) {
	d := New("devA", t0)
	d.Etag = "AAAAAAAAAAE="
	want := `{"deviceId":"devA","etag":"AAAAAAAAAAE=","deviceEtag":"","version":1,"status":"enabled",` +
		`"statusReason":null,"statusUpdateTime":"0001-01-01T00:00:00Z","connectionState":"Disconnected",` +
		`"lastActivityTime":"0001-01-01T00:00:00Z","cloudToDeviceMessageCount":0,"authenticationType":"sas",` +
		`"x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},"modelId":"",` +
		`"capabilities":{"iotEdge":false},"tags":{},"properties":{` +
		`"desired":{"$metadata":{"$lastUpdated":"0001-01-01T00:00:00Z"},"$version":1},` +
		`"reported":{"$metadata":{"$lastUpdated":"0001-01-01T00:00:00Z"},"$version":1}}}`
	if got := docJSON(t, d); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestBodies(t *testing.T) {
	d := New("devA", t0)
	mustPatch(t, d, Desired, `{"telemetryConfig":{"sendFrequency":"5m"}}`, at(1))
	mustPatch(t, d, Reported, `{"batteryLevel":55}`, at(2))
	cases := map[string]struct{ got, want string }{
		"device GET": {string(d.AppendDeviceGet(nil)),
			`{"desired":{"telemetryConfig":{"sendFrequency":"5m"},"$version":2},"reported":{"batteryLevel":55,"$version":2}}`},
		"device GET of a new twin": {string(New("x", t0).AppendDeviceGet(nil)),
			`{"desired":{"$version":1},"reported":{"$version":1}}`},
		"desired notification (facts 1.10)": {string(AppendDesiredNotification(nil,
			parse(t, Desired, `{"telemetrySendFrequency":"5m","route":null}`), 8)),
			`{"route":null,"telemetrySendFrequency":"5m","$version":8}`},
		"empty notification": {string(AppendDesiredNotification([]byte("x"), map[string]any{}, 2)), `x{"$version":2}`},
		"change": {string(must(Change{DeviceID: "devA", Version: 7, Section: Desired, Op: OpPatch,
			Patch: map[string]any{"a": nil, "b": 1.0}, Time: at(1).Add(time.Millisecond)}.MarshalJSON())),
			`{"deviceId":"devA","version":7,"section":"desired","op":"patch","patch":{"a":null,"b":1},"time":"2026-11-27T09:00:01.001Z"}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got\n%s\nwant\n%s", c.got, c.want)
			}
			if i := strings.IndexByte(c.got, '{'); !json.Valid([]byte(c.got[i:])) {
				t.Errorf("not valid JSON")
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestUnmarshalRejects(t *testing.T) {
	cases := map[string]string{
		"not JSON":              `{"deviceId":`,
		"deviceId not string":   `{"deviceId":1}`,
		"bad time":              `{"deviceId":"a","lastActivityTime":"yesterday"}`,
		"properties not object": `{"deviceId":"a","properties":{"desired":[]}}`,
		"bad metadata time":     `{"deviceId":"a","properties":{"reported":{"$metadata":{"$lastUpdated":"x"}}}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			d := New("keep", t0)
			if err := d.UnmarshalJSON([]byte(body)); err == nil {
				t.Fatal("accepted")
			}
			if d.DeviceID != "keep" {
				t.Error("failed unmarshal changed the twin")
			}
		})
	}
}

func TestChangeJSONRoundTrip(t *testing.T) {
	cases := map[string]Change{
		"patch":   {DeviceID: "d", Version: 3, Section: Reported, Op: OpPatch, Patch: map[string]any{"a": map[string]any{"b": nil}}, Time: at(1)},
		"replace": {DeviceID: "d", Version: 9, Section: Tags, Op: OpReplace, Patch: map[string]any{}, Time: at(2).Add(17)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(c)
			var back Change
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, back) {
				t.Errorf("got %+v, want %+v", back, c)
			}
		})
	}
	var c Change
	for _, bad := range []string{`{"section":"x","op":"patch","patch":{},"time":"0001-01-01T00:00:00Z"}`,
		`{"section":"tags","op":"merge","patch":{},"time":"0001-01-01T00:00:00Z"}`,
		`{"section":"tags","op":"patch","patch":[],"time":"0001-01-01T00:00:00Z"}`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestMembersSorted(t *testing.T) {
	for _, n := range []int{0, 1, 2, 16, 17, 25, 100} {
		m := map[string]any{}
		for i := 0; i < n; i++ {
			m[fmt.Sprintf("k%03d", (i*37)%n)] = float64(i)
		}
		b := AppendValue(nil, m)
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil || !Equal(back, m) {
			t.Fatalf("n=%d: %s does not read back (%v)", n, b, err)
		}
		for i := 1; i < n; i++ {
			if strings.Index(string(b), fmt.Sprintf(`"k%03d"`, i-1)) > strings.Index(string(b), fmt.Sprintf(`"k%03d"`, i)) {
				t.Fatalf("n=%d: keys out of order: %s", n, b)
			}
		}
	}
}
