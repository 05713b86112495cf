package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// ReadResults reads every *.json result in dir, in file name order.
func ReadResults(dir string) ([]*Result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var rs []*Result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := new(Result)
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// Machine describes this machine for the report: cores, CPU model, kernel, Go.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d cores (%s)%s, %s", runtime.NumCPU(), model, kernel, runtime.Version())
}

// goal is one of issue 6's targets, checked against the results.
type goal struct {
	what  string
	check func(rs []*Result) (string, bool, bool) // figure, met, measured
}

func find(rs []*Result, scenario, labelPrefix string) *Result {
	for _, r := range rs {
		if r.Scenario == scenario && strings.HasPrefix(r.Label, labelPrefix) {
			return r
		}
	}
	return nil
}

var goals = []goal{
	{"50,000 durable reported patches/s with 1,000 devices", func(rs []*Result) (string, bool, bool) {
		r := find(rs, "reported", "hub")
		if r == nil {
			return "", false, false
		}
		return fmt.Sprintf("%.0f/s (%.0f%% of the goal)", r.Throughput, 100*r.Throughput/50000), r.Throughput >= 50000, true
	}},
	{"p99 desired round trip < 20 ms at 1,000 devices", func(rs []*Result) (string, bool, bool) {
		r := find(rs, "desired", "hub")
		if r == nil {
			return "", false, false
		}
		p := r.Latency["roundtrip"].P99
		return fmt.Sprintf("p99 %.2f ms", p), p < 20, true
	}},
	{"p99 desired change -> device notification < 10 ms under a paced 50,000/s reported storm (issue 3)", func(rs []*Result) (string, bool, bool) {
		r := find(rs, "notify", "hub")
		if r == nil {
			return "", false, false
		}
		p := r.Latency["notify"].P99
		return fmt.Sprintf("p99 %.2f ms with the storm at %.0f/s", p, r.Throughput), p < 10 && r.Throughput >= 50000, true
	}},
	{"20,000 concurrent devices, < 30 KB per idle device", func(rs []*Result) (string, bool, bool) {
		r := find(rs, "connect", "hub")
		if r == nil || r.Extra == nil {
			return "", false, false
		}
		kb := r.Extra["rss KB/dev"]
		return fmt.Sprintf("%d devices, %.1f KB RSS per device", r.Devices, kb), kb < 30 && r.Devices >= 20000, true
	}},
	{"hub reported throughput >= 1/2 of mosquitto's QoS 1 relay", func(rs []*Result) (string, bool, bool) {
		h, m := find(rs, "reported", "hub"), find(rs, "relay", "mosquitto")
		if h == nil || m == nil || m.Throughput == 0 {
			return "", false, false
		}
		ratio := h.Throughput / m.Throughput
		return fmt.Sprintf("%.0f/s vs %.0f/s = %.2f", h.Throughput, m.Throughput, ratio), ratio >= 0.5, true
	}},
}

// WriteMarkdown renders results as the tables of docs/benchmarks/load.md.
func WriteMarkdown(w io.Writer, rs []*Result, machine string) {
	fmt.Fprintf(w, "Machine: %s.\n\n", machine)
	fmt.Fprintln(w, "## Goals (issue 6)\n\n| goal | measured | met |\n|---|---|---|")
	for _, g := range goals {
		fig, met, ok := g.check(rs)
		verdict := "no"
		switch {
		case !ok:
			fig, verdict = "not measured", "—"
		case met:
			verdict = "yes"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", g.what, fig, verdict)
	}
	fmt.Fprintln(w)
	byScenario := map[string][]*Result{}
	var order []string
	for _, r := range rs {
		if _, ok := byScenario[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		byScenario[r.Scenario] = append(byScenario[r.Scenario], r)
	}
	for _, sc := range order {
		fmt.Fprintf(w, "## %s\n\n", sc)
		fmt.Fprintln(w, "| run | devices | payload | ops/s | errors | latency ms (p50 / p95 / p99 / max) | process | extra |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		for _, r := range byScenario[sc] {
			fmt.Fprintf(w, "| %s | %d | %d B | %.0f | %d | %s | %s | %s |\n", r.Label, r.Devices, r.Payload,
				r.Throughput, r.Errors, latencyCell(r), processCell(r), extraCell(r))
		}
		fmt.Fprintln(w)
		for _, r := range byScenario[sc] {
			fmt.Fprintf(w, "- %s: `%s`", r.Label, r.Command)
			if r.FirstError != "" {
				fmt.Fprintf(w, " (first error: %s)", r.FirstError)
			}
			for _, n := range r.Notes {
				fmt.Fprintf(w, " (%s)", n)
			}
			if r.LoadAvg != "" {
				fmt.Fprintf(w, " — load average %s", r.LoadAvg)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
}

func latencyCell(r *Result) string {
	names := make([]string, 0, len(r.Latency))
	for n := range r.Latency {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		p := r.Latency[n]
		if p.Count == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f / %.2f / %.2f / %.2f", n, p.P50, p.P95, p.P99, p.Max))
	}
	return strings.Join(parts, "<br>")
}

func processCell(r *Result) string {
	p := r.Process
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%s: %.2f cores, RSS %s", p.What, p.CPUCores, mib(p.RSSBytes))
}

func extraCell(r *Result) string {
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, r.Extra[k]))
	}
	return strings.Join(parts, ", ")
}
