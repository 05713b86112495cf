package twinclient

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func FuzzParseDeviceTwin(f *testing.F) {
	for _, s := range []string{
		`{"desired":{"$version":1},"reported":{"$version":1}}`,
		`{"desired":{"a":{"b":1},"$version":7,"$metadata":{}},"reported":{"x":null,"$version":3}}`,
		`{"desired":{"$version":1.5},"reported":{"$version":1}}`,
		`{"desired":{},"reported":{"$version":1}}`,
		`[]`, `null`, ``, `{"desired":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tw, err := parseDeviceTwin(body)
		if err != nil {
			if tw != nil {
				t.Fatalf("error %v with a twin", err)
			}
			return
		}
		if tw.DesiredVersion < 1 || tw.ReportedVersion < 1 || tw.Desired == nil || tw.Reported == nil {
			t.Fatalf("accepted %q as %+v", body, tw)
		}
		for _, m := range []map[string]any{tw.Desired, tw.Reported} {
			if _, ok := m["$version"]; ok {
				t.Fatalf("$version left in a section: %q", body)
			}
			if _, ok := m["$metadata"]; ok {
				t.Fatalf("$metadata left in a section: %q", body)
			}
		}
	})
}

// FuzzDesiredGate feeds the gate a hub's desired history in a scrambled order, with
// duplicates and a whole-twin read taken at some point of the history, and checks the
// Azure reconnection flow's promise: the receiver ends with the hub's desired section at
// the last version, and never sees a version twice or going back.
func FuzzDesiredGate(f *testing.F) {
	f.Add(uint64(1), uint8(10), uint8(3))
	f.Add(uint64(7), uint8(40), uint8(0))
	f.Add(uint64(99), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, seed uint64, n, readAt uint8) {
		if n == 0 {
			n = 1
		}
		rng := rand.New(rand.NewPCG(seed, uint64(n)))
		// The hub's history: version 1 is the empty section, each patch bumps it.
		states := []map[string]any{{}}
		patches := []map[string]any{nil}
		for i := 1; i <= int(n); i++ {
			p := map[string]any{}
			for range 1 + rng.IntN(3) {
				k := fmt.Sprintf("k%d", rng.IntN(5))
				switch rng.IntN(4) {
				case 0:
					p[k] = nil
				case 1:
					p[k] = map[string]any{"x": float64(i), fmt.Sprintf("y%d", rng.IntN(3)): nil}
				default:
					p[k] = float64(i)
				}
			}
			next := devCopyMap(states[i-1])
			devMergePatch(next, p)
			states, patches = append(states, next), append(patches, p)
		}
		read := int(readAt) % len(states) // the whole-twin read sees version read+1
		type ev struct {
			v    int64
			full bool
		}
		var evs []ev
		for v := 1; v <= int(n); v++ {
			evs = append(evs, ev{v: int64(v + 1)})
			if rng.IntN(4) == 0 {
				evs = append(evs, ev{v: int64(v + 1)}) // duplicate delivery
			}
		}
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		at := rng.IntN(len(evs) + 1)
		evs = append(evs[:at], append([]ev{{v: int64(read + 1), full: true}}, evs[at:]...)...)

		g := newDesiredGate()
		var prev int64
		check := func(ups []DesiredUpdate) {
			for _, u := range ups {
				if u.Version <= prev {
					t.Fatalf("delivered version %d after %d", u.Version, prev)
				}
				prev = u.Version
				if want := states[u.Version-1]; !reflect.DeepEqual(u.Desired, want) {
					t.Fatalf("at version %d delivered %v, hub had %v", u.Version, u.Desired, want)
				}
			}
		}
		for _, e := range evs {
			if e.full {
				ups, _ := g.full(e.v, devCopyMap(states[e.v-1]))
				check(ups)
				continue
			}
			ups, _ := g.notify(e.v, devCopyMap(patches[e.v-1]))
			check(ups)
		}
		if last := int64(n) + 1; prev != last || !reflect.DeepEqual(g.desired, states[last-1]) {
			t.Fatalf("ended at version %d with %v; hub is at %d with %v", prev, g.desired, last, states[last-1])
		}
	})
}
