// Package durability proves the hub's "durable before acknowledged" rule with a real
// process: reported patches from many device connections, SIGKILL in the middle, a
// restart on the same data directory, and every acknowledged $version checked.
package durability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/sas"
)

const (
	devices   = 40   // device connections under load
	killAfter = 1500 // acknowledged patches before the SIGKILL
	residues  = 16   // each patch also writes key s<seq%16>
)

// response is one twin response a device received.
type response struct {
	status  int
	rid     string
	version int64
	body    []byte
}

// device is one paho connection speaking the Azure twin protocol.
type device struct {
	id     string
	cs     sas.ConnectionString
	client paho.Client
	resp   chan response
}

func connectDevice(t *testing.T, id string, cs sas.ConnectionString, addr string, subscribe bool) *device {
	t.Helper()
	d := &device{id: id, cs: cs, resp: make(chan response, 64)}
	tok, err := cs.NewToken(time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("token for %s: %v", id, err)
	}
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername(cs.HostName + "/" + id + "/?api-version=2021-04-12").SetPassword(tok).
		SetCleanSession(false).SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(false).
		SetConnectTimeout(10 * time.Second).SetKeepAlive(60 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { d.onMessage(m.Topic(), m.Payload()) })
	d.client = paho.NewClient(o)
	if tk := d.client.Connect(); !tk.WaitTimeout(15*time.Second) || tk.Error() != nil {
		t.Fatalf("device %s connecting to %s: %v", id, addr, tk.Error())
	}
	t.Cleanup(func() { d.client.Disconnect(0) })
	if subscribe {
		tk := d.client.Subscribe("$iothub/twin/res/#", 0, nil)
		if !tk.WaitTimeout(15*time.Second) || tk.Error() != nil {
			t.Fatalf("device %s subscribing: %v", id, tk.Error())
		}
	}
	return d
}

// onMessage parses $iothub/twin/res/{status}/?$rid={rid}[&$version={v}].
func (d *device) onMessage(topic string, payload []byte) {
	rest, ok := strings.CutPrefix(topic, "$iothub/twin/res/")
	if !ok {
		return
	}
	st, q, _ := strings.Cut(rest, "/?")
	r := response{body: append([]byte(nil), payload...)}
	r.status, _ = strconv.Atoi(st)
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "$rid":
			r.rid = v
		case "$version":
			r.version, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	select {
	case d.resp <- r:
	default:
	}
}

// await waits for the response to rid; false if stop closed or 10 s passed.
func (d *device) await(rid string, stop <-chan struct{}) (response, bool) {
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case r := <-d.resp:
			if r.rid == rid {
				return r, true
			}
		case <-stop:
			return response{}, false
		case <-timer.C:
			return response{}, false
		}
	}
}

// ack is an acknowledged reported patch.
type ack struct {
	seq     int
	version int64
}

// loadResult is what one device's load loop saw.
type loadResult struct {
	acked   []ack // in order
	lastSeq int   // highest seq sent (acknowledged or not)
	err     string
}

// load sends reported patches {"last":seq,"s<seq%16>":seq} one at a time until stop.
func (d *device) load(stop <-chan struct{}, total *atomic.Int64) loadResult {
	var res loadResult
	for seq := 1; ; seq++ {
		select {
		case <-stop:
			return res
		default:
		}
		body := fmt.Sprintf(`{"last":%d,"s%d":%d}`, seq, seq%residues, seq)
		rid := strconv.Itoa(seq)
		res.lastSeq = seq
		d.client.Publish("$iothub/twin/PATCH/properties/reported/?$rid="+rid, 0, false, body)
		r, ok := d.await(rid, stop)
		if !ok {
			return res
		}
		if r.status != 204 {
			res.err = fmt.Sprintf("seq %d answered %d: %s", seq, r.status, r.body)
			return res
		}
		res.acked = append(res.acked, ack{seq: seq, version: r.version})
		total.Add(1)
	}
}

func TestKill9KeepsAcknowledgedPatches(t *testing.T) {
	start := time.Now()
	bin := buildTwinops(t)
	t.Logf("built twinops in %s", time.Since(start).Round(time.Millisecond))
	dataDir := t.TempDir()
	ids, conns, policies := provision(t, dataDir)

	p1 := startHubProc(t, bin, dataDir)
	devs := make([]*device, len(ids))
	for i, id := range ids {
		devs[i] = connectDevice(t, id, conns[i], p1.info.PlainAddr, true)
	}
	stop := make(chan struct{})
	var total atomic.Int64
	results := make([]loadResult, len(devs))
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = d.load(stop, &total) }()
	}
	// Kill once enough patches were acknowledged, with every device still sending.
	deadline := time.NewTimer(60 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	for total.Load() < killAfter {
		select {
		case <-deadline.C:
			close(stop)
			wg.Wait()
			t.Fatalf("only %d patches acknowledged in 60 s, want %d before the kill; first device: %+v", total.Load(), killAfter, results[0].err)
		case <-tick.C:
		}
	}
	tick.Stop()
	deadline.Stop()
	p1.kill(t)
	close(stop)
	wg.Wait()
	var acked int
	for i, r := range results {
		if r.err != "" {
			t.Fatalf("device %s: %s", ids[i], r.err)
		}
		acked += len(r.acked)
	}
	t.Logf("killed hub pid %d with SIGKILL after %d acknowledged patches (%s)", p1.cmd.Process.Pid, acked, time.Since(start).Round(time.Millisecond))

	p2 := startHubProc(t, bin, dataDir)
	for i, id := range ids {
		// No SUBSCRIBE: the response to the GET is routed only if the session survived.
		d := connectDevice(t, id, conns[i], p2.info.PlainAddr, false)
		checkDevice(t, d, results[i])
	}
	t.Logf("restarted and checked %d devices (%s)", len(ids), time.Since(start).Round(time.Millisecond))
	p2.stop(t)
	checkStore(t, dataDir, ids, policies)
}

// checkDevice GETs the twin over the restarted hub and checks every acknowledged patch.
func checkDevice(t *testing.T, d *device, r loadResult) {
	t.Helper()
	d.client.Publish("$iothub/twin/GET/?$rid=get-1", 0, false, " ")
	resp, ok := d.await("get-1", nil)
	if !ok {
		t.Fatalf("device %s: no answer to a twin GET within 10 s after the restart: its persistent session (subscription to $iothub/twin/res/#) was not restored", d.id)
	}
	if resp.status != 200 {
		t.Fatalf("device %s: GET answered %d: %s", d.id, resp.status, resp.body)
	}
	var body struct {
		Reported map[string]any `json:"reported"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		t.Fatalf("device %s: GET body %s: %v", d.id, resp.body, err)
	}
	ver := int64(num(body.Reported["$version"]))
	if len(r.acked) > 0 {
		last := r.acked[len(r.acked)-1]
		if ver < last.version {
			t.Errorf("device %s: reported $version %d after restart, but $version %d was acknowledged (seq %d)", d.id, ver, last.version, last.seq)
		}
		if got := int(num(body.Reported["last"])); got < last.seq || got > r.lastSeq {
			t.Errorf("device %s: reported last = %d after restart, want between the last acknowledged %d and the last sent %d", d.id, got, last.seq, r.lastSeq)
		}
		from := max(0, len(r.acked)-residues)
		for _, a := range r.acked[from:] {
			key := fmt.Sprintf("s%d", a.seq%residues)
			if got := int(num(body.Reported[key])); got < a.seq {
				t.Errorf("device %s: reported %s = %d after restart, but seq %d (version %d) was acknowledged", d.id, key, got, a.seq, a.version)
			}
		}
	}
	// The hub keeps counting from where the store is.
	d.client.Publish("$iothub/twin/PATCH/properties/reported/?$rid=after", 0, false, `{"after":true}`)
	resp, ok = d.await("after", nil)
	if !ok || resp.status != 204 || resp.version != ver+1 {
		t.Errorf("device %s: patch after restart answered %+v (ok %v), want 204 with $version %d", d.id, resp, ok, ver+1)
	}
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// provision creates the devices with an in-process hub on dataDir and returns their ids,
// connection strings and the hub's policies.
func provision(t *testing.T, dataDir string) ([]string, []sas.ConnectionString, []hub.Policy) {
	t.Helper()
	h, err := hub.New(hub.Config{DataDir: dataDir, Hostname: "localhost", Logger: quietLogger()})
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	defer h.Close()
	ctx := context.Background()
	ids := make([]string, devices)
	conns := make([]sas.ConnectionString, devices)
	for i := range ids {
		ids[i] = fmt.Sprintf("dur-%03d", i)
		if _, err := h.CreateDevice(ctx, hub.Identity{DeviceID: ids[i]}); err != nil {
			t.Fatalf("CreateDevice: %v", err)
		}
		s, err := h.DeviceConnectionString(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if conns[i], err = sas.ParseConnectionString(s); err != nil {
			t.Fatal(err)
		}
	}
	policies := h.Policies()
	if err := h.Close(); err != nil {
		t.Fatalf("closing the provisioning hub: %v", err)
	}
	return ids, conns, policies
}

// checkStore reopens the data directory in-process after the clean stop: the registry and
// policies are what they were, and each twin matches what its device last saw.
func checkStore(t *testing.T, dataDir string, ids []string, policies []hub.Policy) {
	t.Helper()
	h, err := hub.New(hub.Config{DataDir: dataDir, Hostname: "localhost", Logger: quietLogger()})
	if err != nil {
		t.Fatalf("reopening %s: %v", dataDir, err)
	}
	defer h.Close()
	if got := h.Policies(); !reflect.DeepEqual(got, policies) {
		t.Errorf("policies changed across kill -9 and restart:\n got %+v\nwant %+v", got, policies)
	}
	list, _, err := h.ListDevices(context.Background(), "", 1000)
	if err != nil {
		t.Fatalf("ListDevices: %v", err)
	}
	if len(list) != len(ids) {
		t.Errorf("registry has %d devices after the restarts, want %d", len(list), len(ids))
	}
	for _, id := range ids {
		doc, err := h.GetTwin(context.Background(), id)
		if err != nil {
			t.Errorf("GetTwin(%s) after restarts: %v", id, err)
			continue
		}
		if after, _ := doc.Reported.Values["after"].(bool); !after {
			t.Errorf("device %s: the patch acknowledged before the clean stop is missing: %v", id, doc.Reported.Values)
		}
	}
}
