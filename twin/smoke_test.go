package twin

import (
	"encoding/json"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	d := New("devA", now)
	p, err := ParsePatch(Reported, []byte(`{"batteryLevel":55,"fw":{"v":"1.0","s":"ok"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Patch(Reported, p, now); err != nil {
		t.Fatal(err)
	}
	dp, _ := ParsePatch(Desired, []byte(`{"fw":{"v":"2.0"}}`))
	if err := d.Patch(Desired, dp, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d)
	t.Log(string(b))
	var d2 Doc
	if err := json.Unmarshal(b, &d2); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(&d2)
	if string(b) != string(b2) {
		t.Fatalf("round trip\n%s\n%s", b, b2)
	}
	t.Log(string(d.AppendDeviceGet(nil)))
	t.Logf("%+v %+v", Diff(d), Summarize(d))
	_, err = ParsePatch(Reported, []byte(`{"a":{"b.c":1}}`))
	t.Log(err)
}
