package bench

import (
	"testing"
)

func TestParseBatch(t *testing.T) {
	for name, tc := range map[string]struct {
		batches  []string
		lost     map[string]int64
		reported []string // device ids of reported changes, in order
		wantErr  bool
	}{
		"in order": {
			batches: []string{`{"events":[{"kind":"twin","seq":1,"deviceId":"a","version":2,"section":"reported","op":"patch","patch":{"x":1}},` +
				`{"kind":"twin","seq":2,"deviceId":"b","version":2,"section":"desired","op":"patch","patch":{"y":1}},` +
				`{"kind":"connection","seq":7,"deviceId":"a","state":"Connected","sequenceNumber":3}]}`,
				`{"events":[{"kind":"twin","seq":3,"deviceId":"c","section":"reported","op":"patch","patch":{"x":null}}]}`},
			lost:     map[string]int64{},
			reported: []string{"a", "c"},
		},
		"gaps per kind": {
			batches: []string{`{"events":[{"kind":"twin","seq":1,"deviceId":"a","section":"tags","patch":{}},` +
				`{"kind":"connection","seq":1,"deviceId":"a","state":"Connected"},` +
				`{"kind":"twin","seq":5,"deviceId":"a","section":"tags","patch":{}},` +
				`{"kind":"connection","seq":3,"deviceId":"a","state":"Disconnected"}]}`},
			lost: map[string]int64{"twin": 3, "connection": 1},
		},
		"lost tail seen at sync": {
			batches: []string{`{"events":[{"kind":"twin","seq":10,"deviceId":"a","section":"tags","patch":{}}]}`,
				`{"events":[{"kind":"sync","epoch":"e","seq":{"twin":14,"connection":0,"identity":2}}]}`},
			lost: map[string]int64{"twin": 4},
		},
		"sync at the position seen": {
			batches: []string{`{"events":[{"kind":"identity","seq":4,"deviceId":"a","op":"create"},` +
				`{"kind":"sync","epoch":"e","seq":{"twin":0,"connection":0,"identity":4}}]}`},
			lost: map[string]int64{},
		},
		"hub restart resets the baseline": {
			batches: []string{`{"events":[{"kind":"twin","seq":50,"deviceId":"a","section":"tags","patch":{}}]}`,
				`{"events":[{"kind":"twin","seq":1,"deviceId":"a","section":"tags","patch":{}},` +
					`{"kind":"twin","seq":2,"deviceId":"a","section":"tags","patch":{}}]}`},
			lost: map[string]int64{},
		},
		"not json":        {batches: []string{`{"events":[`}, lost: map[string]int64{}, wantErr: true},
		"no events array": {batches: []string{`{"items":[]}`}, lost: map[string]int64{}, wantErr: true},
		"seq not a number": {batches: []string{`{"events":[{"kind":"twin","seq":"x","deviceId":"a"}]}`},
			lost: map[string]int64{}, wantErr: true},
		"bad sync": {batches: []string{`{"events":[{"kind":"sync","seq":3}]}`}, lost: map[string]int64{}, wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			tr := newEventTracker()
			var got []string
			var gotErr bool
			for _, b := range tc.batches {
				cs, err := parseBatch([]byte(b), tr)
				gotErr = gotErr || err != nil
				for _, c := range cs {
					if c.patch == nil {
						t.Errorf("reported change of %s has no patch", c.id)
					}
					got = append(got, c.id)
				}
			}
			if gotErr != tc.wantErr {
				t.Fatalf("error %v, want %v", gotErr, tc.wantErr)
			}
			if len(got) != len(tc.reported) {
				t.Fatalf("reported changes %v, want %v", got, tc.reported)
			}
			for i := range got {
				if got[i] != tc.reported[i] {
					t.Fatalf("reported changes %v, want %v", got, tc.reported)
				}
			}
			var want int64
			for k, n := range tc.lost {
				want += n
				if tr.lost[k] != n {
					t.Errorf("lost %s = %d, want %d (%v)", k, tr.lost[k], n, tr.lost)
				}
			}
			if tr.total() != want {
				t.Errorf("total lost %d, want %d (%v)", tr.total(), want, tr.lost)
			}
		})
	}
}

// FuzzParseBatch: any payload gives changes or an error, never a panic, and never a
// negative loss count.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`{"events":[{"kind":"twin","seq":1,"deviceId":"a","section":"reported","patch":{"x":1}}]}`))
	f.Add([]byte(`{"events":[{"kind":"sync","seq":{"twin":3}}]}`))
	f.Add([]byte(`{"events":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := newEventTracker()
		parseBatch(b, tr)
		parseBatch(b, tr)
		if tr.total() < 0 {
			t.Fatalf("negative loss %v", tr.lost)
		}
	})
}
