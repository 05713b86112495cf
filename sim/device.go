package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twinops/twinops/twinclient"
)

// Reported firmware statuses.
const (
	statusCurrent     = "current" // running the version it has; no update in progress
	stageDownloading  = "downloading"
	stageInstalling   = "installing"
	stageRebooting    = "rebooting"
	statusSucceeded   = "succeeded"
	statusFailed      = "failed"
	defaultFrequency  = "5m"
	reportTimeout     = 20 * time.Second // real time: how long a report may wait for the hub
	reportRetry       = time.Second      // real time: retry of a report that could not be sent
	redialMax         = 30 * time.Second // real time: cap of the back-off between dial attempts
	minBatteryPercent = 5
)

// Nominal durations (divided by Options.Speed).
const (
	downloadStep   = 3 * time.Second // five steps: progress 10..50
	downloadSteps  = 5
	installStep    = 4 * time.Second // two steps: progress 70..90
	installSteps   = 2
	rebootTime     = 6 * time.Second
	batteryTick    = 5 * time.Minute // one percent, at the default 5m send frequency
	flakyOnlineMin = 60 * time.Second
	flakyOnlineMax = 240 * time.Second
	flakyOffMin    = 10 * time.Second
	flakyOffMax    = 45 * time.Second
)

// firmware is a device's firmware state.
type firmware struct {
	version  string // running
	target   string // being installed, or the last attempted
	stage    string // "" when idle, else downloading, installing or rebooting
	step     int
	status   string
	failAt   string // stage in which the current attempt fails ("" = succeeds)
	attempts map[string]int
}

// device is one simulated device. Its state is owned by its run goroutine; only the
// latest desired section (written by twinclient's delivery goroutine) is shared.
type device struct {
	id       string
	p        Profile
	o        Options
	f        *Fleet
	rng      *rand.Rand
	log      *slog.Logger
	dialOpts twinclient.DeviceOptions
	dev      *twinclient.Device

	wake    chan struct{} // capacity 1: desired changed or connected
	mu      sync.Mutex
	desired map[string]any // latest desired section, nil until the first read

	fw       firmware
	battery  int
	freq     any    // applied telemetryConfig.sendFrequency
	freqSeen string // the desired value last acted on
	badFw    string // a non-string desired firmware.version already complained about
	unsent   map[string]any
	fwC      <-chan time.Time
	retryC   <-chan time.Time
}

// onDesired runs on twinclient's delivery goroutine: keep the latest, wake the device.
func (d *device) onDesired(u twinclient.DesiredUpdate) {
	d.mu.Lock()
	d.desired = u.Desired
	d.mu.Unlock()
	d.poke()
}

// onConnection runs on twinclient's connection goroutine; it must not block.
func (d *device) onConnection(connected bool, err error) {
	d.f.update(d.id, func(s *deviceState) { s.connected = connected })
	if connected {
		d.poke() // flush what was reported while offline
	} else if err != nil {
		d.log.Debug("disconnected", "err", err)
	}
}

// poke wakes the run loop without blocking.
func (d *device) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run is the device's life: connect, adopt what the twin remembers, then react to
// desired changes and timers until ctx ends.
func (d *device) run(ctx context.Context, sem chan struct{}) {
	defer d.f.wg.Done()
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	ok := d.connect(ctx)
	<-sem
	if !ok {
		return
	}
	defer func() { _ = d.dev.Close() }()
	d.adopt(ctx)
	d.flush(ctx)
	d.f.started1()
	battery := time.NewTimer(d.batteryEvery())
	defer battery.Stop()
	var flakyC <-chan time.Time
	if d.p.Flaky {
		flakyC = time.After(d.o.scale(d.between(flakyOnlineMin, flakyOnlineMax)))
	}
	for {
		d.flush(ctx)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			d.reconcile()
		case <-d.fwC:
			d.fwC = nil
			d.firmwareStep(ctx)
		case <-battery.C:
			d.drain()
			battery.Reset(d.batteryEvery())
		case <-flakyC:
			off := d.between(flakyOffMin, flakyOffMax)
			d.log.Debug("link dropping", "offline", off)
			d.dev.Drop(d.o.scale(off))
			flakyC = time.After(d.o.scale(off + d.between(flakyOnlineMin, flakyOnlineMax)))
		case <-d.retryC:
			d.retryC = nil
		}
	}
}

// connect dials until it succeeds or ctx ends, backing off between attempts.
func (d *device) connect(ctx context.Context) bool {
	backoff := 250 * time.Millisecond
	for {
		dev, err := twinclient.DialDevice(ctx, d.dialOpts)
		if err == nil {
			d.dev = dev
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.f.fail(err)
		d.log.Warn("connecting failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, redialMax)
	}
}

// adopt reads what the twin remembers of an earlier run (firmware installed, battery,
// configuration), as a real device keeps them in flash, and reports its starting state.
func (d *device) adopt(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	tw, err := d.dev.GetTwin(ctx)
	if err != nil {
		d.log.Warn("reading the twin at start failed; starting fresh", "err", err)
		tw = &twinclient.DeviceTwin{}
	}
	rep := tw.Reported
	if v, ok := lookup(rep, "firmware", "version").(string); ok && v != "" {
		d.fw.version = v
		switch st, _ := lookup(rep, "firmware", "status").(string); st {
		case statusFailed:
			d.fw.status = statusFailed
			d.fw.target, _ = lookup(rep, "firmware", "targetVersion").(string)
		case statusSucceeded:
			d.fw.status = statusSucceeded
		case stageDownloading, stageInstalling, stageRebooting:
			// cut short by a restart: the old image runs; reconcile below starts the
			// update again if desired still asks for it
			d.report(map[string]any{"firmware": map[string]any{"status": statusCurrent, "progress": nil, "targetVersion": nil}})
		}
		if b, ok := lookup(rep, "batteryLevel").(float64); ok && b >= 0 && b <= 100 {
			d.battery = int(b)
		}
		if fq := lookup(rep, "telemetryConfig", "sendFrequency"); fq != nil {
			d.freq = fq
		}
		d.report(map[string]any{"batteryLevel": d.battery})
	} else {
		d.report(map[string]any{
			"firmware":        map[string]any{"version": d.fw.version, "status": statusCurrent},
			"batteryLevel":    d.battery,
			"telemetryConfig": map[string]any{"sendFrequency": d.freq, "status": "success"},
			"deviceInfo":      map[string]any{"model": d.p.Model, "manufacturer": "twinops-sim"},
		})
	}
	d.f.update(d.id, func(s *deviceState) { s.firmware, s.version = d.fw.status, d.fw.version })
	d.reconcile()
}

// reconcile acts on the latest desired section.
func (d *device) reconcile() {
	d.mu.Lock()
	desired := d.desired
	d.mu.Unlock()
	if desired == nil {
		return
	}
	d.reconcileTelemetry(desired)
	d.reconcileFirmware(desired)
}

// reconcileTelemetry applies desired telemetryConfig.sendFrequency and reports the result.
func (d *device) reconcileTelemetry(desired map[string]any) {
	v := lookup(desired, "telemetryConfig", "sendFrequency")
	if v == nil {
		return
	}
	seen := fmt.Sprint(v)
	if seen == d.freqSeen {
		return
	}
	d.freqSeen = seen
	if _, err := parseFrequency(v); err != nil {
		d.report(map[string]any{"telemetryConfig": map[string]any{"sendFrequency": d.freq, "status": statusFailed, "lastError": err.Error()}})
		return
	}
	d.freq = v
	d.report(map[string]any{"telemetryConfig": map[string]any{"sendFrequency": v, "status": "success", "lastError": nil}})
}

// parseFrequency reads a send frequency: a duration string ("30s", "5m") or seconds.
func parseFrequency(v any) (time.Duration, error) {
	var f time.Duration
	switch x := v.(type) {
	case string:
		var err error
		if f, err = time.ParseDuration(x); err != nil {
			return 0, fmt.Errorf("sendFrequency %q is not a duration; use e.g. \"30s\" or \"5m\"", x)
		}
	case float64:
		f = time.Duration(x * float64(time.Second))
	default:
		return 0, fmt.Errorf("sendFrequency %v is neither a duration string nor a number of seconds", v)
	}
	if f < time.Second || f > 24*time.Hour {
		return 0, fmt.Errorf("sendFrequency %v is out of range; use between 1s and 24h", v)
	}
	return f, nil
}

// reconcileFirmware starts, restarts or leaves alone a firmware update.
func (d *device) reconcileFirmware(desired map[string]any) {
	raw := lookup(desired, "firmware", "version")
	target, ok := raw.(string)
	if raw != nil && !ok {
		if bad := fmt.Sprint(raw); bad != d.badFw {
			d.badFw = bad
			d.reportFirmware(map[string]any{"lastError": fmt.Sprintf("desired firmware.version %s is not a version string; write it in quotes, e.g. \"%s\"", bad, bad)})
		}
		return
	}
	d.badFw = ""
	switch {
	case target == "":
	case d.fw.stage == stageRebooting:
		// the new image is being booted; a different target starts after the reboot
	case d.fw.stage != "":
		if target != d.fw.target {
			d.startUpdate(target) // the operator changed their mind: abort and restart
		}
	case target == d.fw.version:
		if d.fw.status == statusFailed {
			d.fw.status, d.fw.target = statusCurrent, ""
			d.reportFirmware(map[string]any{"status": statusCurrent, "lastError": nil, "targetVersion": nil})
		}
	case target == d.fw.target && d.fw.status == statusFailed:
		// this version failed; wait for the operator to ask for another
	default:
		d.startUpdate(target)
	}
}

// lookup walks a JSON object by keys; nil if absent.
func lookup(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}
