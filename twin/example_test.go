package twin_test

import (
	"fmt"
	"time"

	"github.com/twinops/twinops/twin"
)

// A device reports, the back end sets desired, and the console summarizes the diff.
func Example() {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	d := twin.New("pump-7", now)

	reported, err := twin.ParsePatch(twin.Reported, []byte(`{"firmware":{"version":"1.0","status":"succeeded"}}`))
	if err == nil {
		err = d.Patch(twin.Reported, reported, now)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	desired, _ := twin.ParsePatch(twin.Desired, []byte(`{"firmware":{"version":"2.0"}}`))
	if err := d.Patch(twin.Desired, desired, now.Add(time.Minute)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(d.AppendDeviceGet(nil)))
	fmt.Println(string(twin.AppendDesiredNotification(nil, desired, d.Desired.Version)))
	for _, l := range twin.Diff(d) {
		fmt.Println(l.Path, l.State)
	}
	s := twin.Summarize(d)
	fmt.Println(s.Pending, "pending since", s.OldestPending.Format(time.Kitchen))

	_, err = twin.ParsePatch(twin.Reported, []byte(`{"firmware":{"$version":3}}`))
	fmt.Println(err)
	// Output:
	// {"desired":{"firmware":{"version":"2.0"},"$version":2},"reported":{"firmware":{"status":"succeeded","version":"1.0"},"$version":2}}
	// {"firmware":{"version":"2.0"},"$version":2}
	// firmware.status reported only
	// firmware.version pending
	// 1 pending since 9:01AM
	// properties.reported.firmware["$version"]: member names starting with '$' are reserved for the hub ($version, $metadata); remove it
}
