// Package bench is the load tool behind `twinops bench`: simulated devices and service
// clients, each a real MQTT connection, driving a twin hub (or, for the relay baseline,
// any MQTT broker) and measuring throughput, errors, latency percentiles and the hub's
// CPU and memory.
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency is a concurrency-safe latency histogram (microsecond resolution, up to 60 s).
type Latency struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// NewLatency returns an empty histogram.
func NewLatency() *Latency {
	return &Latency{h: hdrhistogram.New(1, 60_000_000, 3)}
}

// Record adds one observation.
func (l *Latency) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	l.mu.Lock()
	l.h.RecordValue(us)
	l.mu.Unlock()
}

// Percentiles summarises the histogram.
func (l *Latency) Percentiles() Percentiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Percentiles{
		Count: l.h.TotalCount(),
		P50:   ms(l.h.ValueAtQuantile(50)),
		P95:   ms(l.h.ValueAtQuantile(95)),
		P99:   ms(l.h.ValueAtQuantile(99)),
		Max:   ms(l.h.Max()),
	}
}

// Percentiles are latency figures in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50Ms"`
	P95   float64 `json:"p95Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

// Result is what one scenario run measured.
type Result struct {
	Scenario   string                 `json:"scenario"`
	Label      string                 `json:"label,omitempty"`   // what the run is, for tables ("hub", "mosquitto")
	Command    string                 `json:"command,omitempty"` // the command line that produced it
	Target     string                 `json:"target"`            // "embedded hub", "hub pid 123", "broker 127.0.0.1:1883"
	Devices    int                    `json:"devices"`
	Payload    int                    `json:"payloadBytes,omitempty"`
	Elapsed    time.Duration          `json:"elapsedNs"`
	Ops        int64                  `json:"ops"`
	Errors     int64                  `json:"errors"`
	Throughput float64                `json:"opsPerSec"`
	Latency    map[string]Percentiles `json:"latency,omitempty"`
	Process    *ProcStats             `json:"process,omitempty"`
	Extra      map[string]float64     `json:"extra,omitempty"`
	FirstError string                 `json:"firstError,omitempty"`
	LoadAvg    string                 `json:"loadavg,omitempty"` // /proc/loadavg at the end: how busy the machine was
	Notes      []string               `json:"notes,omitempty"`
}

// ProcStats is the measured process's CPU and memory over a run.
type ProcStats struct {
	What       string  `json:"what"` // what was measured: "hub process" or "whole bench process (embedded hub)"
	CPUCores   float64 `json:"cpuCores"`
	RSSBytes   int64   `json:"rssBytes"`
	HeapBytes  int64   `json:"heapBytes,omitempty"`
	Goroutines int     `json:"goroutines,omitempty"`
}

// WriteText prints r for a person.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "scenario   %s against %s\n", r.Scenario, r.Target)
	fmt.Fprintf(w, "devices    %d", r.Devices)
	if r.Payload > 0 {
		fmt.Fprintf(w, ", payload %d B", r.Payload)
	}
	fmt.Fprintf(w, "\nelapsed    %s\n", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "ops        %d (%.0f/s), errors %d\n", r.Ops, r.Throughput, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first err  %s\n", r.FirstError)
	}
	names := make([]string, 0, len(r.Latency))
	for n := range r.Latency {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := r.Latency[n]
		fmt.Fprintf(w, "latency    %-22s p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (n=%d)\n",
			n, p.P50, p.P95, p.P99, p.Max, p.Count)
	}
	if p := r.Process; p != nil {
		fmt.Fprintf(w, "process    %s: cpu %.2f cores, rss %s", p.What, p.CPUCores, mib(p.RSSBytes))
		if p.HeapBytes > 0 {
			fmt.Fprintf(w, ", heap %s", mib(p.HeapBytes))
		}
		fmt.Fprintln(w)
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%-10s %.1f\n", k, r.Extra[k])
	}
	if r.LoadAvg != "" {
		fmt.Fprintf(w, "loadavg    %s (machine load while measuring; 2 cores)\n", r.LoadAvg)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note       %s\n", n)
	}
}

// WriteJSON writes r as one JSON document.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
