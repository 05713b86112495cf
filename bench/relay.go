package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runRelay is the messaging ceiling: every device subscribes at QoS 1 to a topic of its
// own and publishes QoS 1 messages of the payload size to it; an operation is complete
// when the broker has relayed the message back. Same request/response shape as a
// reported patch and its 204, minus the twin work, so the two throughputs compare.
func runRelay(ctx context.Context, t Target, o Options) (*Result, error) {
	var c counters
	lat := NewLatency()
	devs := make([]*relayDev, o.Devices)
	for i := range devs {
		devs[i] = &relayDev{topic: fmt.Sprintf("bench/relay/%s/%d", o.Prefix, i),
			window: make(chan struct{}, o.Inflight), sent: make([]atomic.Int64, o.Inflight)}
	}
	conns, err := connectAll(ctx, t, o, nil, func(i int, co *ConnectOptions) {
		d := devs[i]
		co.OnPublish = func(topic string, payload []byte) { d.received(payload, lat, &c) }
	})
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	for i, cn := range conns {
		devs[i].c = cn
		if q, err := cn.Subscribe(ctx, devs[i].topic, 1); err != nil || q > 1 {
			return nil, fmt.Errorf("subscribing %s: granted %d, %v", devs[i].topic, q, err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.send(stop, newPacer(o.Rate, i*7919), o.Payload, &c)
		}()
	}
	r := measure(ctx, t, o, &c, conns)
	close(stop)
	wg.Wait()
	r.Latency["relay"] = lat.Percentiles()
	return r, nil
}

type relayDev struct {
	c      *Conn
	topic  string
	window chan struct{}
	sent   []atomic.Int64
}

func (d *relayDev) send(stop <-chan struct{}, p *pacer, size int, c *counters) {
	if size < 8 {
		size = 8
	}
	buf := make([]byte, size)
	for seq := uint64(0); p.wait(stop); seq++ {
		select {
		case d.window <- struct{}{}:
		case <-stop:
			return
		}
		binary.BigEndian.PutUint64(buf, seq)
		d.sent[seq%uint64(len(d.sent))].Store(time.Now().UnixNano())
		if _, err := d.c.Publish(d.topic, 1, buf); err != nil {
			c.fail(err)
			return
		}
	}
}

func (d *relayDev) received(payload []byte, lat *Latency, c *counters) {
	if len(payload) < 8 {
		c.fail(fmt.Errorf("relayed message of %d bytes on %s", len(payload), d.topic))
		return
	}
	seq := binary.BigEndian.Uint64(payload)
	sent := d.sent[seq%uint64(len(d.sent))].Load()
	lat.Record(time.Duration(time.Now().UnixNano() - sent))
	c.ops.Add(1)
	select {
	case <-d.window:
	default:
	}
}
