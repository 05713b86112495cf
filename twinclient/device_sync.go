package twinclient

import (
	"context"
	"encoding/json"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The desired side of a Device: incoming publishes, the reconnection flow's whole-twin
// read, and the delivery of updates to OnDesired.

// onMessage runs on a paho goroutine for every publish the hub sends. It never blocks.
func (d *Device) onMessage(c *devConn, m mqtt.Message) {
	t, err := parseDeviceTopic(m.Topic())
	if err != nil {
		d.log.Debug("ignoring a publish", "topic", m.Topic(), "err", err)
		return
	}
	switch t.Kind {
	case devMsgResponse:
		d.mu.Lock()
		r := d.pending[t.RID]
		delete(d.pending, t.RID)
		d.mu.Unlock()
		if r != nil {
			r.res <- devResponse{status: t.Status, version: t.Version, body: m.Payload()}
		}
	case devMsgDesired:
		var patch map[string]any
		if err := json.Unmarshal(m.Payload(), &patch); err != nil || patch == nil {
			d.log.Warn("desired notification is not a JSON object; re-reading the twin", "version", t.Version, "err", err)
			d.resync(c)
			return
		}
		delete(patch, "$version")
		d.mu.Lock()
		ups, gap := d.gate.notify(t.Version, patch)
		if gap && d.gapTimer == nil {
			d.gapTimer = time.AfterFunc(devGapWait, func() { d.gapExpired(c) })
		}
		d.mu.Unlock()
		d.inbox.put(ups)
	}
}

// gapExpired runs when held notifications waited devGapWait for an older one in vain.
func (d *Device) gapExpired(c *devConn) {
	d.mu.Lock()
	d.gapTimer = nil
	gap := len(d.gate.held) > 0 && !d.gate.syncing
	d.mu.Unlock()
	if gap {
		d.log.Debug("desired notifications missing; re-reading the twin")
		d.resync(c)
	}
}

// resync starts a whole-twin read on c unless one is in flight.
func (d *Device) resync(c *devConn) {
	d.mu.Lock()
	if d.conn != c || d.gate.syncing {
		d.mu.Unlock()
		return
	}
	d.gate.startSync()
	d.workers.Add(1) // under mu, while c is current: Close has not reached workers.Wait
	d.mu.Unlock()
	go func() {
		defer d.workers.Done()
		d.syncDesired(c)
	}()
}

// syncDesired reads the whole twin on c and hands its desired section to the gate,
// retrying (with back-off) while c is up.
func (d *Device) syncDesired(c *devConn) {
	backoff := 250 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(c.ctx, d.opts.ConnectTimeout)
		r, err := d.roundTrip(ctx, devTopicGetPrefix, "", nil, c)
		cancel()
		var tw *DeviceTwin
		if err == nil && r.status != 200 {
			err = devResponseError(r)
		}
		if err == nil {
			tw, err = parseDeviceTwin(r.body)
		}
		if err == nil {
			d.applyFull(c, tw)
			return
		}
		d.log.Debug("reading the twin after connecting failed", "err", err)
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
			backoff = min(backoff*2, d.opts.RetryMax)
		}
	}
}

// applyFull hands a whole-twin read to the gate if c is still the current connection.
func (d *Device) applyFull(c *devConn, tw *DeviceTwin) {
	d.mu.Lock()
	if d.conn != c {
		d.mu.Unlock()
		return
	}
	ups, gap := d.gate.full(tw.DesiredVersion, tw.Desired)
	if gap && d.gapTimer == nil {
		d.gapTimer = time.AfterFunc(devGapWait, func() { d.gapExpired(c) })
	}
	d.mu.Unlock()
	d.inbox.put(ups)
}

// deliver runs on the Device's delivery goroutine: it calls OnDesired with each
// (coalesced) update until Close.
func (d *Device) deliver() {
	defer close(d.deliverDone)
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.inbox.signal:
		}
		u, ok := d.inbox.take()
		if ok && d.opts.OnDesired != nil {
			d.opts.OnDesired(u)
		}
	}
}
