package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
)

// embedded starts an in-process hub for a scenario test.
func embedded(t *testing.T) *HubTarget {
	t.Helper()
	h, err := Embedded(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatalf("Embedded: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// Every twin scenario against a real (embedded) hub, small and bounded by count: the
// figures must be consistent and the hub's state must show the load happened.
func TestHubScenarios(t *testing.T) {
	tests := map[string]struct {
		opts  Options
		check func(t *testing.T, r *Result, h *HubTarget)
	}{
		"reported": {
			opts: Options{Devices: 8, Inflight: 2, Payload: 200, Count: 400},
			check: func(t *testing.T, r *Result, h *HubTarget) {
				if p := r.Latency["ack"]; p.Count < 400 {
					t.Errorf("ack latencies recorded %d, want >= 400", p.Count)
				}
				doc, err := h.h.GetTwin(context.Background(), "bench-0")
				if err != nil {
					t.Fatal(err)
				}
				if doc.Reported.Version < 2 {
					t.Errorf("bench-0 reported $version %d after the storm", doc.Reported.Version)
				}
			},
		},
		"desired": {
			opts: Options{Devices: 4, Count: 40},
			check: func(t *testing.T, r *Result, h *HubTarget) {
				for _, k := range []string{"patch", "notify", "roundtrip"} {
					if r.Latency[k].Count == 0 {
						t.Errorf("no %s latencies recorded", k)
					}
				}
				doc, err := h.h.GetTwin(context.Background(), "bench-1")
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := doc.Reported.Values["bench"].(map[string]any)["ack"]; !ok {
					t.Errorf("bench-1 never echoed a desired seq: reported %v", doc.Reported.Values)
				}
			},
		},
		"query": {
			opts: Options{Devices: 20, Inflight: 2, Count: 20, QueryText: "SELECT COUNT() AS n FROM devices"},
			check: func(t *testing.T, r *Result, h *HubTarget) {
				if r.Latency["query"].Count < 20 {
					t.Errorf("query latencies %d, want >= 20", r.Latency["query"].Count)
				}
			},
		},
		"connect": {
			opts: Options{Devices: 50, ConnectRate: 500, Hold: 100 * time.Millisecond},
			check: func(t *testing.T, r *Result, h *HubTarget) {
				if r.Ops != 50 || r.Latency["connect"].Count != 50 {
					t.Errorf("connected %d (latencies %d), want 50", r.Ops, r.Latency["connect"].Count)
				}
				if _, ok := r.Extra["rss KB/dev"]; !ok {
					t.Errorf("no memory per device in %v", r.Extra)
				}
			},
		},
		"notify": {
			opts: Options{Devices: 4, Rate: 50, Duration: 3 * time.Second},
			check: func(t *testing.T, r *Result, h *HubTarget) {
				for _, k := range []string{"ack", "notify", "patch"} {
					if r.Latency[k].Count == 0 {
						t.Errorf("no %s latencies recorded: %+v", k, r.Latency)
					}
				}
				if r.Extra["desired/s"] <= 0 {
					t.Errorf("no desired rate in %v", r.Extra)
				}
			},
		},
		"mix": {
			opts: Options{Devices: 4, Rate: 50, Duration: 5 * time.Second},
			check: func(t *testing.T, r *Result, h *HubTarget) {
				if r.Latency["ack"].Count == 0 || r.Latency["query"].Count == 0 {
					t.Errorf("mix recorded no acks or no queries: %+v", r.Latency)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := embedded(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			o := tc.opts
			o.Scenario = name
			if o.Duration == 0 {
				o.Duration = 30 * time.Second // bounded by Count long before
			}
			r, err := Run(ctx, h, o)
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 {
				t.Fatalf("%d errors, first: %s", r.Errors, r.FirstError)
			}
			if r.Ops == 0 || r.Throughput <= 0 {
				t.Fatalf("no operations: %+v", r)
			}
			if r.Process == nil || r.Process.RSSBytes == 0 {
				t.Errorf("no process figures: %+v", r.Process)
			}
			if !strings.HasPrefix(r.Target, "embedded hub") {
				t.Errorf("target %q", r.Target)
			}
			tc.check(t, r, h)
		})
	}
}

func TestDesiredNeedsService(t *testing.T) {
	_, err := Run(context.Background(), &BrokerTarget{Addr: "127.0.0.1:1"}, Options{Scenario: "desired"})
	if err == nil || !strings.Contains(err.Error(), "no service side") {
		t.Fatalf("desired against a plain broker = %v, want a clear refusal", err)
	}
}

// The service side over the network (twinclient for patches and queries, the event
// stream for reported changes), against a hub running in this process.
func TestRemoteTarget(t *testing.T) {
	h, err := hub.New(hub.Config{DataDir: t.TempDir(), Hostname: "localhost", PlainAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	cs, err := h.ServiceConnectionString("iothubowner")
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]Options{
		"desired": {Scenario: "desired", Devices: 4, Count: 40, Duration: 30 * time.Second},
		"query":   {Scenario: "query", Devices: 4, Count: 10, Duration: 30 * time.Second, QueryText: "SELECT * FROM devices"},
	} {
		t.Run(name, func(t *testing.T) {
			tg := &RemoteTarget{URL: "mqtt://" + h.PlainAddr().String(), ConnectionString: cs}
			defer tg.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			r, err := Run(ctx, tg, o)
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 || r.Ops < o.Count {
				t.Fatalf("%d ops, %d errors (%s); want >= %d and none", r.Ops, r.Errors, r.FirstError, o.Count)
			}
			if o.Scenario == "desired" {
				if r.Latency["roundtrip"].Count < o.Count {
					t.Errorf("round trips recorded %d, want >= %d", r.Latency["roundtrip"].Count, o.Count)
				}
				if _, ok := r.Extra["events lost"]; !ok {
					t.Errorf("no events-lost figure: %v", r.Extra)
				}
			}
		})
	}
	// Devices were created through the service protocol.
	if _, err := h.GetDevice(context.Background(), "bench-3"); err != nil {
		t.Errorf("bench-3 not created on the hub: %v", err)
	}
}
