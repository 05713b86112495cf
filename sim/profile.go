// Package sim runs simulated devices that behave like real ones: each is a real MQTT
// connection through twinclient.Device that echoes desired configuration, runs firmware
// updates (downloading → installing → rebooting → succeeded or failed), drains a battery
// and, on flaky links, drops off and comes back. Everything a device decides comes from
// the seed, its id and what it was asked to do, so a run is reproducible; durations are
// nominal seconds divided by Options.Speed.
package sim

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"time"
)

// Options configures Provision and Run.
type Options struct {
	// Count is how many devices Provision creates (ids Prefix0001, Prefix0002, ...).
	Count int
	// Seed makes profiles, failures and timings reproducible.
	Seed int64
	// Prefix starts every device id (default "sim-").
	Prefix string
	// FailureRate is the chance (0 to 1) that a firmware update fails.
	FailureRate float64
	// FlakyRate is the share (0 to 1) of devices whose link drops now and then.
	FlakyRate float64
	// Speed divides every nominal duration: 10 runs ten times faster (default 1).
	Speed float64
	// Now is the clock handed to the devices' connections (default time.Now).
	Now func() time.Time
	// Parallelism bounds concurrent connects and registry calls (default 64).
	Parallelism int
	// Logger receives device events (default: discard).
	Logger *slog.Logger
}

// withDefaults fills zero options and checks the others.
func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = "sim-"
	}
	if o.Speed == 0 {
		o.Speed = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Parallelism <= 0 {
		o.Parallelism = 64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.Count < 0:
		return o, fmt.Errorf("sim: device count %d is negative", o.Count)
	case o.FailureRate < 0 || o.FailureRate > 1 || math.IsNaN(o.FailureRate):
		return o, fmt.Errorf("sim: failure rate %v is not between 0 and 1", o.FailureRate)
	case o.FlakyRate < 0 || o.FlakyRate > 1 || math.IsNaN(o.FlakyRate):
		return o, fmt.Errorf("sim: flaky rate %v is not between 0 and 1", o.FlakyRate)
	case o.Speed < 0 || math.IsNaN(o.Speed) || math.IsInf(o.Speed, 0):
		return o, fmt.Errorf("sim: speed %v must be a positive factor (1 = real time, 10 = ten times faster)", o.Speed)
	}
	return o, nil
}

// scale turns a nominal duration into real time at o.Speed.
func (o Options) scale(nominal time.Duration) time.Duration {
	return time.Duration(float64(nominal) / o.Speed)
}

// DeviceIDs lists the ids Provision creates: Prefix followed by 1..Count, zero-padded to
// at least four digits.
func (o Options) DeviceIDs() []string {
	o, _ = o.withDefaults()
	width := max(4, len(fmt.Sprint(o.Count)))
	ids := make([]string, o.Count)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%0*d", o.Prefix, width, i+1)
	}
	return ids
}

// Profile is what a simulated device is: its tags, the firmware it ships with, its
// starting battery and whether its link is flaky. A pure function of the seed and id.
type Profile struct {
	ID       string
	Region   string
	Ring     string // canary, early or broad
	Model    string
	Firmware string // the version it ships with
	Battery  int    // starting battery level, percent
	Flaky    bool
}

// weighted is a value with a relative weight.
type weighted struct {
	v string
	w float64
}

// The choices and their weights (functions, so that nothing package-level is mutable).
func regions() []weighted {
	return []weighted{{"eu-west", 3}, {"eu-north", 1}, {"us-east", 3}, {"us-west", 2}, {"ap-southeast", 1}}
}
func rings() []weighted  { return []weighted{{"canary", 5}, {"early", 20}, {"broad", 75}} }
func models() []weighted { return []weighted{{"th-100", 5}, {"th-200", 3}, {"gw-500", 2}} }
func firmwares() []weighted {
	return []weighted{{"1.4.2", 4}, {"1.5.0", 3}, {"1.5.3", 2}, {"2.0.0", 1}}
}

// Profile returns the profile of the device with this id.
func (o Options) Profile(id string) Profile {
	return Profile{
		ID:       id,
		Region:   pick(regions(), unit(o.Seed, id, "region")),
		Ring:     pick(rings(), unit(o.Seed, id, "ring")),
		Model:    pick(models(), unit(o.Seed, id, "model")),
		Firmware: pick(firmwares(), unit(o.Seed, id, "firmware")),
		Battery:  30 + int(unit(o.Seed, id, "battery")*71),
		Flaky:    unit(o.Seed, id, "flaky") < o.FlakyRate,
	}
}

// Desired is the desired configuration Provision gives a device it creates through a
// registry that can set it: the firmware it ships with and the default telemetry
// frequency, which the device already runs, so a fresh fleet starts in sync.
func (p Profile) Desired() map[string]any {
	return map[string]any{
		"firmware":        map[string]any{"version": p.Firmware},
		"telemetryConfig": map[string]any{"sendFrequency": defaultFrequency},
	}
}

// Tags are the twin tags Provision sets for a profile.
func (p Profile) Tags() map[string]any {
	return map[string]any{"region": p.Region, "ring": p.Ring, "model": p.Model}
}

// FirmwareFailure says whether the attempt-th update of device id to version fails, and
// in which stage ("downloading" or "installing"); "" when it succeeds.
func (o Options) FirmwareFailure(id, version string, attempt int) string {
	if unit(o.Seed, id, "fw-fail", version, fmt.Sprint(attempt)) >= o.FailureRate {
		return ""
	}
	if unit(o.Seed, id, "fw-stage", version, fmt.Sprint(attempt)) < 0.6 {
		return stageDownloading
	}
	return stageInstalling
}

// unit hashes the seed and parts to a uniform number in [0, 1).
func unit(seed int64, parts ...string) float64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return float64(splitmix(h.Sum64())>>11) / (1 << 53)
}

// seed64 hashes the seed and parts to a 64-bit seed for a random source.
func seed64(seed int64, parts ...string) uint64 {
	return uint64(unit(seed, parts...) * (1 << 53))
}

// splitmix is the SplitMix64 finaliser: it spreads FNV's weak low bits.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// pick chooses from weighted values with u in [0, 1).
func pick(ws []weighted, u float64) string {
	total := 0.0
	for _, w := range ws {
		total += w.w
	}
	x := u * total
	for _, w := range ws {
		if x < w.w {
			return w.v
		}
		x -= w.w
	}
	return ws[len(ws)-1].v
}
