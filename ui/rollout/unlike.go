package rollout

import (
	"strconv"
	"strings"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
)

// unlikeCurrent is the review's warning, then a hint, when the new value does not look like
// the values the chosen devices hold at the path now (desired, else reported), or nil. It
// catches the mistypes a rollout review is for: a number where every device holds a string
// (2.1 typed for "2.1"), a string where every one holds a number, and a string shaped
// unlike all of them (".1.0" where they hold "1.4.2"; shapes compare digit runs, letter
// runs and punctuation, so "2.10.0" is shaped like "1.4.2" and "2.1.0-rc1" is not). A null
// (deleting the property) is not compared, and devices with no value at the path say
// nothing: a new property has no shape to compare with. When no device has the path at
// all, that is said instead: a mistyped path ("firmware.verison", "5%" from a missed
// tab) would otherwise write a new property to the whole fleet.
func unlikeCurrent(st *common.Store, ids []string, path []string, v any) []string {
	if v == nil {
		return nil
	}
	var seen, strs, nums, others int // seen: chosen devices in the store
	shapes := map[string]int{}       // shape -> how many string values have it
	examples := map[string]string{}  // shape -> the first value seen with it
	for _, id := range ids {
		d := st.Get(id)
		if d == nil {
			continue
		}
		seen++
		cur, ok := twin.Lookup(d.Desired.Values, path...)
		if !ok {
			cur, ok = twin.Lookup(d.Reported.Values, path...)
		}
		if !ok || cur == nil {
			continue
		}
		switch c := cur.(type) {
		case string:
			strs++
			sh := shape(c)
			if shapes[sh]++; shapes[sh] == 1 {
				examples[sh] = c
			}
		case float64, int64, int:
			nums++
		default:
			others++
		}
	}
	if seen > 0 && strs+nums+others == 0 && len(path) > 0 {
		return []string{"no chosen device has " + strings.Join(path, ".") + " in desired or reported: a new property",
			"a typo in the path? esc to fix"}
	}
	// the example is a value of the most common shape (the smaller shape on a tie)
	var most string
	for sh, n := range shapes {
		if n > shapes[most] || n == shapes[most] && sh < most {
			most = sh
		}
	}
	example := examples[most]
	s, isString := v.(string)
	_, known := shapes[shape(s)]
	switch {
	case strs > 0 && nums == 0 && others == 0 && !isString:
		return []string{"the devices hold strings here, like " + strconv.Quote(example) + "; " + common.Value(v) + " is not one",
			"esc to fix: type it in quotes, \"" + common.Value(v) + "\", for a string"}
	case nums > 0 && strs == 0 && others == 0 && isString:
		return []string{"the devices hold numbers here; " + strconv.Quote(s) + " is a string", "esc to fix"}
	case strs > 0 && isString && !known:
		return []string{strconv.Quote(s) + " is shaped unlike the devices' values here (like " + strconv.Quote(example) + ")",
			"a typo? esc to fix"}
	}
	return nil
}

// shape reduces s to its form: a run of digits becomes 9, a run of letters a, anything
// else stays ("1.4.2" and "10.0.12" are 9.9.9, "5m" is 9a).
func shape(s string) string {
	var b strings.Builder
	var last byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c = '9'
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			c = 'a'
		}
		if (c == '9' || c == 'a') && c == last {
			continue
		}
		b.WriteByte(c)
		last = c
	}
	return b.String()
}
