package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// notifyRate is the notify scenario's desired patches per second, over the whole fleet
// (as the hub's in-process benchmark sends through PatchTwin during its storm).
const notifyRate = 200

// runNotify measures issue 3's latency goal: the reported storm at o.Rate per device (or
// as fast as o.Inflight allows), and meanwhile desired patches from the service at
// notifyRate in all, each to a random device, one outstanding per device. With o.NoStorm
// its devices only receive: another bench process, at a lower CPU priority, runs the
// storm, so that on a shared machine the notifications are timed by a process that is
// not itself starved (as devices and back ends on their own machines). Operations are
// storm acks; "notify" is from the service sending the desired patch to the device
// reading its notification. Unlike mix, nothing watches the event stream (decoding a
// storm's events costs the load tool, which shares the cores, as much as the hub).
func runNotify(ctx context.Context, t Target, o Options) (*Result, error) {
	r := newTwinRun()
	svc, devs, conns, err := r.connectService(ctx, t, o)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	stop := make(chan struct{})
	wg := &sync.WaitGroup{}
	if !o.NoStorm {
		wg = startStorm(devs, r, o.Rate, stop)
	}
	nwg := startDesired(ctx, svc, devs, r, notifyRate/float64(len(devs)), stop, notified(stop))
	res := measure(ctx, t, o, &r.c, conns)
	close(stop)
	wg.Wait()
	nwg.Wait()
	res.Latency["ack"] = r.ack.Percentiles()
	res.Latency["notify"] = r.notify.Percentiles()
	res.Latency["patch"] = r.patch.Percentiles()
	res.Extra = map[string]float64{"desired/s": float64(r.notify.Percentiles().Count) / res.Elapsed.Seconds()}
	return res, nil
}

// notified waits until device d has read the notification of desired seq s (or stop); an
// error after 10 s without it.
func notified(stop <-chan struct{}) func(d *twinDev, s int64) error {
	return func(d *twinDev, s int64) error {
		timeout := time.NewTimer(10 * time.Second)
		defer timeout.Stop()
		for d.notified.Load() < s {
			select {
			case <-d.notifyDone:
			case <-timeout.C:
				return fmt.Errorf("%s: desired seq %d: the device got no notification in 10 s", d.id, s)
			case <-stop:
				return nil
			}
		}
		return nil
	}
}
