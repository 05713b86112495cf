package rollout

import (
	"strconv"
	"strings"
)

// A rollout pauses its writes by itself when too many of the devices written so far
// report a failure, as AWS IoT Jobs' abort criteria and hawkBit's error condition do: at
// 2 a.m. the operator may not be watching when a bad image starts failing, and every
// further write spreads it. The writes pause rather than abort: the operator looks, then
// resumes (p) or aborts (A).

// defaultLimit is the failure limit a plan starts with.
const defaultLimit = "5%"

// minWrittenForShare is how many devices must have been written before a share limit
// applies (with fewer, one failure would be a large share of nothing); AWS calls it
// minNumberOfExecutedThings. A rollout of fewer devices applies it once all are written.
const minWrittenForShare = 10

// limit is a parsed failure limit: a share of the written devices (pct > 0), a device
// count (count > 0), or off (both 0).
type limit struct {
	pct   float64
	count int
}

// parseLimit reads "5%", "10" or "off" (also "" and "0").
func parseLimit(s string) (limit, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch {
	case s == "" || s == "off" || s == "0" || s == "0%":
		return limit{}, true
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil || p <= 0 || p > 100 {
			return limit{}, false
		}
		return limit{pct: p}, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return limit{}, false
	}
	return limit{count: n}, true
}

// String is the limit as the review and the progress show it.
func (l limit) String() string {
	switch {
	case l.pct > 0:
		return strconv.FormatFloat(l.pct, 'f', -1, 64) + "% of written failed (from " +
			strconv.Itoa(minWrittenForShare) + " written)"
	case l.count > 0:
		return strconv.Itoa(l.count) + " failed"
	}
	return ""
}

// reached says why the writes should pause now ("" if they should not): failed devices
// out of written (of total to write), where the operator last resumed at resumed failures
// (the limit pauses again only on a new failure).
func (l limit) reached(failed, resumed, written, total int) string {
	if failed == 0 || failed <= resumed {
		return ""
	}
	of := strconv.Itoa(failed) + " of " + strconv.Itoa(written) + " written devices had failed"
	switch {
	case l.count > 0 && failed >= l.count:
		return of + " (limit " + strconv.Itoa(l.count) + ")"
	case l.pct > 0 && written >= min(minWrittenForShare, total) && float64(failed) >= l.pct/100*float64(written):
		return of + " (" + strconv.Itoa(failed*100/written) + "%, limit " + strconv.FormatFloat(l.pct, 'f', -1, 64) + "%)"
	}
	return ""
}
