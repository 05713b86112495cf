package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twinops/twinops/twinclient"
)

// startUpdate begins (or restarts) an update to target.
func (d *device) startUpdate(target string) {
	d.fw.attempts[target]++
	d.fw.target, d.fw.stage, d.fw.step = target, stageDownloading, 0
	d.fw.failAt = d.o.FirmwareFailure(d.id, target, d.fw.attempts[target])
	d.log.Debug("firmware update", "from", d.fw.version, "to", target, "attempt", d.fw.attempts[target], "fails", d.fw.failAt)
	d.setStatus(stageDownloading, map[string]any{"targetVersion": target, "progress": 0, "lastError": nil})
	d.fwC = time.After(d.o.scale(downloadStep))
}

// firmwareStep advances the update by one step.
func (d *device) firmwareStep(ctx context.Context) {
	d.fw.step++
	switch d.fw.stage {
	case stageDownloading:
		switch {
		case d.fw.step < downloadSteps:
			d.reportFirmware(map[string]any{"progress": d.fw.step * 50 / downloadSteps})
			d.fwC = time.After(d.o.scale(downloadStep))
		case d.fw.failAt == stageDownloading:
			d.failUpdate(fmt.Sprintf("download of %s failed: checksum mismatch", d.fw.target))
		default:
			d.fw.stage, d.fw.step = stageInstalling, 0
			d.setStatus(stageInstalling, map[string]any{"progress": 50})
			d.fwC = time.After(d.o.scale(installStep))
		}
	case stageInstalling:
		switch {
		case d.fw.step < installSteps:
			d.reportFirmware(map[string]any{"progress": 50 + d.fw.step*40/installSteps})
			d.fwC = time.After(d.o.scale(installStep))
		case d.fw.failAt == stageInstalling:
			d.failUpdate(fmt.Sprintf("installing %s failed: image signature verification error", d.fw.target))
		default:
			d.fw.stage = stageRebooting
			d.setStatus(stageRebooting, map[string]any{"progress": 90})
			d.reboot(ctx)
		}
	}
}

// reboot reports "rebooting", disconnects, stays off for the reboot time and comes back
// on a new connection running the new firmware.
func (d *device) reboot(ctx context.Context) {
	d.flush(ctx)
	_ = d.dev.Close()
	d.f.update(d.id, func(s *deviceState) { s.connected = false })
	select {
	case <-ctx.Done():
		return
	case <-time.After(d.o.scale(rebootTime)):
	}
	if !d.connect(ctx) {
		return
	}
	d.fw.version, d.fw.stage = d.fw.target, ""
	d.setStatus(statusSucceeded, map[string]any{"version": d.fw.target, "progress": 100})
	d.flush(ctx)
	d.reconcile() // a newer version may have been asked for meanwhile
}

// failUpdate ends the update as failed; the device keeps its running version.
func (d *device) failUpdate(msg string) {
	d.log.Debug("firmware update failed", "err", msg)
	d.fw.stage = ""
	d.setStatus(statusFailed, map[string]any{"lastError": msg})
}

// setStatus changes the firmware status (reported with more fields) and the fleet stats.
func (d *device) setStatus(status string, more map[string]any) {
	d.fw.status = status
	more["status"] = status
	d.reportFirmware(more)
	d.f.update(d.id, func(s *deviceState) { s.firmware, s.version = status, d.fw.version })
}

// reportFirmware reports a change under reported.firmware.
func (d *device) reportFirmware(p map[string]any) {
	d.report(map[string]any{"firmware": p})
}

// drain takes one percent of battery; a nearly flat device is recharged.
func (d *device) drain() {
	d.battery--
	if d.battery <= minBatteryPercent {
		d.battery = 100
	}
	d.report(map[string]any{"batteryLevel": d.battery})
}

// batteryEvery is the real time until the next percent goes: faster when the device
// sends more often, jittered by ±20%.
func (d *device) batteryEvery() time.Duration {
	f, err := parseFrequency(d.freq)
	if err != nil {
		f = 5 * time.Minute
	}
	factor := min(max(f.Seconds()/300, 0.25), 4)
	jitter := 0.8 + 0.4*d.rng.Float64()
	return d.o.scale(time.Duration(float64(batteryTick) * factor * jitter))
}

// between draws a nominal duration uniformly from [lo, hi).
func (d *device) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)))
}

// report queues a reported patch; flush sends what is queued as one patch.
func (d *device) report(p map[string]any) {
	d.unsent = mergeInto(d.unsent, p)
}

// flush sends the queued reported patch if the device is connected. On failure it is
// kept (merged with later changes) and retried, unless the hub refused it for good (4xx
// other than 429).
func (d *device) flush(ctx context.Context) {
	if len(d.unsent) == 0 || d.dev == nil || !d.dev.Status().Connected {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, reportTimeout)
	_, err := d.dev.PatchReported(rctx, d.unsent)
	cancel()
	var herr *twinclient.Error
	switch {
	case err == nil:
		d.unsent = nil
		d.f.reports.Add(1)
	case errors.As(err, &herr) && herr.Status != 429 && herr.Status < 500:
		d.f.fail(fmt.Errorf("device %s: the hub refused a report: %w", d.id, err))
		d.unsent = nil // it would be refused again
	case ctx.Err() != nil:
	default:
		d.f.fail(fmt.Errorf("device %s: report: %w", d.id, err))
		d.retryC = time.After(reportRetry)
	}
}

// mergeInto merges patch p into dst (objects merge, anything else replaces, null is
// kept as a deletion) and returns dst.
func mergeInto(dst, p map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range p {
		if vm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeInto(dm, vm)
				continue
			}
			dst[k] = mergeInto(nil, vm)
			continue
		}
		dst[k] = v
	}
	return dst
}
