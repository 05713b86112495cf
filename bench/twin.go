package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Azure device-twin topics (facts sheet 1.5).
const (
	topicRes             = "$iothub/twin/res/"
	topicResFilter       = "$iothub/twin/res/#"
	topicReported        = "$iothub/twin/PATCH/properties/reported/?$rid="
	topicDesired         = "$iothub/twin/PATCH/properties/desired/"
	topicDesiredAll      = "$iothub/twin/PATCH/properties/desired/#"
	ridStorm        byte = 's' // reported-patch storm requests
	ridEcho         byte = 'e' // reported echoes of desired patches
)

// twinDev is one simulated device speaking the Azure twin protocol. Its handlers run on
// the connection's reader goroutine.
type twinDev struct {
	idx    int
	id     string
	c      *Conn
	window chan struct{}  // storm: outstanding reported patches
	sent   []atomic.Int64 // storm: send time by rid
	buf    []byte         // storm: patch body (sender goroutine only)
	pad    int

	// desired fan-out: one outstanding desired patch at a time
	desSeq     atomic.Int64 // seq of the outstanding desired patch
	desSent    atomic.Int64 // its send time (unix ns)
	desDone    chan struct{}
	notifyDone chan struct{} // a notification arrived (cap 1; the notify scenario waits on it)
	notified   atomic.Int64  // last desired seq whose notification arrived
	echoed     atomic.Int64  // last desired seq whose reported echo was answered 204
}

// twinRun holds what the scenario's devices report into.
type twinRun struct {
	c        counters
	ack      *Latency // reported patch -> 204
	notify   *Latency // desired patch sent by the service -> notification at the device
	patch    *Latency // service PatchDesired call (durable)
	round    *Latency // desired patch -> device -> reported -> service event
	desOps   atomic.Int64
	echoErrs atomic.Int64
}

func newTwinRun() *twinRun {
	return &twinRun{ack: NewLatency(), notify: NewLatency(), patch: NewLatency(), round: NewLatency()}
}

func (r *twinRun) onPublish(d *twinDev, topic string, payload []byte) {
	switch {
	case strings.HasPrefix(topic, topicRes):
		r.onResponse(d, topic[len(topicRes):], payload)
	case strings.HasPrefix(topic, topicDesired):
		r.onDesired(d, payload)
	}
}

// onResponse handles "{status}/?$rid={rid}[&$version=n]".
func (r *twinRun) onResponse(d *twinDev, rest string, payload []byte) {
	status, q, _ := strings.Cut(rest, "/?$rid=")
	rid, _, _ := strings.Cut(q, "&")
	if rid == "" {
		r.c.fail(fmt.Errorf("%s: response without $rid: %s", d.id, rest))
		return
	}
	ok := status == "204" || status == "200"
	switch rid[0] {
	case ridStorm:
		seq, err := strconv.ParseUint(rid[1:], 10, 64)
		if err != nil {
			r.c.fail(fmt.Errorf("%s: bad $rid %q", d.id, rid))
			return
		}
		if ok {
			sent := d.sent[seq%uint64(len(d.sent))].Load()
			r.ack.Record(time.Duration(time.Now().UnixNano() - sent))
			r.c.ops.Add(1)
		} else {
			r.c.fail(fmt.Errorf("%s: reported patch answered %s: %s", d.id, status, payload))
		}
		select {
		case <-d.window:
		default:
		}
	case ridEcho:
		if !ok {
			r.echoErrs.Add(1)
			r.c.fail(fmt.Errorf("%s: echo patch answered %s: %s", d.id, status, payload))
		} else if seq, err := strconv.ParseInt(rid[1:], 10, 64); err == nil {
			d.echoed.Store(seq)
		}
	}
}

// onDesired handles a desired notification {"bench":{"seq":k},"$version":n}: it records
// the notification latency and reports {"bench":{"ack":k}} back.
func (r *twinRun) onDesired(d *twinDev, payload []byte) {
	seq, ok := jsonInt(payload, `"seq":`)
	if !ok {
		return // not ours (or a replace without bench)
	}
	if seq == d.desSeq.Load() {
		r.notify.Record(time.Duration(time.Now().UnixNano() - d.desSent.Load()))
	}
	d.notified.Store(seq)
	select {
	case d.notifyDone <- struct{}{}:
	default:
	}
	topic := topicReported + string(ridEcho) + strconv.FormatInt(seq, 10)
	body := `{"bench":{"ack":` + strconv.FormatInt(seq, 10) + `}}`
	if _, err := d.c.Publish(topic, 0, []byte(body)); err != nil {
		r.c.fail(err)
	}
}

// onReportedEvent is the service side seeing a device's reported change.
func (r *twinRun) onReportedEvent(d *twinDev, patch map[string]any) {
	b, _ := patch["bench"].(map[string]any)
	ack, ok := b["ack"].(float64)
	if !ok || int64(ack) != d.desSeq.Load() {
		return
	}
	r.round.Record(time.Duration(time.Now().UnixNano() - d.desSent.Load()))
	r.desOps.Add(1)
	select {
	case d.desDone <- struct{}{}:
	default:
	}
}

// storm sends reported patches from d until stop, keeping at most len(window) outstanding.
// Unpaced (rate 0), it sends a patch for every free window slot in one write, as a device
// SDK with several requests queued would: answers that arrive together free several slots
// at once, and one write(2) instead of one per patch halves the load tool's CPU, which the
// hub it measures shares.
func (r *twinRun) storm(d *twinDev, stop <-chan struct{}, p *pacer) {
	var msgs []Message
	for seq := uint64(0); p.wait(stop); {
		select {
		case d.window <- struct{}{}:
		case <-stop:
			return
		}
		n := 1
		for p.interval == 0 && n < cap(d.window) {
			select {
			case d.window <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		d.buf = d.buf[:0]
		msgs = msgs[:0]
		for range n {
			start := len(d.buf)
			d.buf = append(d.buf, topicReported...)
			d.buf = append(d.buf, ridStorm)
			d.buf = strconv.AppendUint(d.buf, seq, 10)
			mid := len(d.buf)
			d.buf = append(d.buf, `{"bench":{"seq":`...)
			d.buf = strconv.AppendUint(d.buf, seq, 10)
			d.buf = append(d.buf, `,"pad":"`...)
			for i := 0; i < d.pad; i++ {
				d.buf = append(d.buf, 'x')
			}
			d.buf = append(d.buf, `"}}`...)
			msgs = append(msgs, Message{Topic: d.buf[start:mid], Payload: d.buf[mid:]})
			d.sent[seq%uint64(len(d.sent))].Store(time.Now().UnixNano())
			seq++
		}
		if err := d.c.PublishBatch(msgs); err != nil {
			r.c.fail(err)
			return
		}
	}
}

// jsonInt finds key (like `"seq":`) in a small JSON body and reads the integer after it.
func jsonInt(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	j := i + len(key)
	k := j
	for k < len(b) && (b[k] == '-' || (b[k] >= '0' && b[k] <= '9')) {
		k++
	}
	n, err := strconv.ParseInt(string(b[j:k]), 10, 64)
	return n, err == nil
}

// connectTwin connects o.Devices twin devices and subscribes them to the response and
// desired topics, as the Azure SDKs do.
func (r *twinRun) connectTwin(ctx context.Context, t Target, o Options, connLat *Latency) ([]*twinDev, []*Conn, error) {
	pad := o.Payload - len(`{"bench":{"seq":1000000,"pad":""}}`)
	if pad < 0 {
		pad = 0
	}
	devs := make([]*twinDev, o.Devices)
	for i := range devs {
		devs[i] = &twinDev{idx: i, id: fmt.Sprintf("%s-%d", o.Prefix, i), pad: pad,
			window: make(chan struct{}, o.Inflight), sent: make([]atomic.Int64, o.Inflight),
			desDone: make(chan struct{}, 1), notifyDone: make(chan struct{}, 1)}
		devs[i].desSeq.Store(-1)
	}
	conns, err := connectAll(ctx, t, o, connLat, func(i int, co *ConnectOptions) {
		d := devs[i]
		co.OnPublish = func(topic string, payload []byte) { r.onPublish(d, topic, payload) }
	})
	if err != nil {
		return nil, nil, err
	}
	for i, c := range conns {
		devs[i].c = c
	}
	if o.Scenario == "connect" {
		return devs, conns, nil
	}
	for _, d := range devs {
		for _, f := range []string{topicResFilter, topicDesiredAll} {
			if q, err := d.c.Subscribe(ctx, f, 0); err != nil || q > 1 {
				closeAll(conns)
				return nil, nil, fmt.Errorf("%s: subscribing %s: granted %d, %v", d.id, f, q, err)
			}
		}
	}
	return devs, conns, nil
}
