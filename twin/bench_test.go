package twin

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used (all threads, GC included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-ns/op metric: on a shared, loaded machine wall time per op
// includes time spent waiting for a core, CPU time does not.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

var benchNow = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// benchPatch is a 200-byte reported patch of the kind a device sends during a rollout.
var benchPatch = []byte(`{"firmware":{"status":"installing","progress":40,"version":"1.2.3"},` +
	`"battery":{"level":87.5,"charging":false},"telemetryConfig":{"sendFrequency":"5m",` +
	`"status":"success"},"uptime":123456,"rssi":-61,"temp":41.5}`)

// benchTwin returns a twin whose JSON (with $metadata) is about 4 KB.
func benchTwin(tb testing.TB) *Doc {
	tb.Helper()
	d := New("pump-0042", benchNow)
	must := func(s Section, body string, at time.Time) {
		p, err := ParsePatch(s, []byte(body))
		if err == nil {
			err = d.Patch(s, p, at)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(Tags, `{"region":"eu-west","ring":"canary","model":"PX-200","site":{"building":"43","floor":"1"}}`, benchNow)
	must(Desired, `{"firmware":{"version":"1.2.3","url":"https://fw.example.com/px200/1.2.3.bin"},`+
		`"telemetryConfig":{"sendFrequency":"5m"},"thresholds":{"temp":{"hi":80,"lo":-10},"pressure":{"hi":6.5,"lo":0.5}}}`, benchNow)
	var sensors string
	for i := 0; i < 8; i++ {
		sensors += fmt.Sprintf(`"s%02d":{"value":%d.25,"unit":"kPa","ok":true},`, i, i*7)
	}
	must(Reported, `{"firmware":{"version":"1.2.2","status":"downloading","progress":10},`+
		`"telemetryConfig":{"sendFrequency":"1m","status":"success"},"battery":{"level":90,"charging":true},`+
		`"sensors":{`+sensors[:len(sensors)-1]+`},"tagsSeen":["a","b","c"],"uptime":100,"rssi":-70,"lastBoot":"2026-11-26T08:00:00Z"}`,
		benchNow.Add(time.Minute))
	return d
}

func TestBenchFixtureSizes(t *testing.T) {
	d := benchTwin(t)
	b, _ := d.MarshalJSON()
	if len(b) < 3500 || len(b) > 5000 {
		t.Errorf("bench twin is %d bytes of JSON, want about 4 KB", len(b))
	}
	if len(benchPatch) < 180 || len(benchPatch) > 220 {
		t.Errorf("bench patch is %d bytes, want about 200", len(benchPatch))
	}
}

// BenchmarkReportedPatch is ParsePatch + Patch of a 200-byte reported patch on a 4 KB twin.
func BenchmarkReportedPatch(b *testing.B) {
	d := benchTwin(b)
	now := benchNow.Add(time.Hour)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPatch)))
	start := cpuTime()
	for b.Loop() {
		p, err := ParsePatch(Reported, benchPatch)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Patch(Reported, p, now); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkSummarize is the per-twin diff summary the console computes on each change.
func BenchmarkSummarize(b *testing.B) {
	d := benchTwin(b)
	b.ReportAllocs()
	var s Summary
	start := cpuTime()
	for b.Loop() {
		s = Summarize(d)
	}
	reportCPU(b, start)
	if s.InSync+s.Pending+s.Different == 0 {
		b.Fatal("empty summary")
	}
}

// BenchmarkDiff is the full diff the twin screen renders.
func BenchmarkDiff(b *testing.B) {
	d := benchTwin(b)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if len(Diff(d)) == 0 {
			b.Fatal("empty diff")
		}
	}
	reportCPU(b, start)
}

// BenchmarkMarshal is the full Azure JSON of a 4 KB twin.
func BenchmarkMarshal(b *testing.B) {
	d := benchTwin(b)
	b.ReportAllocs()
	buf := make([]byte, 0, 8192)
	start := cpuTime()
	for b.Loop() {
		buf = d.AppendJSON(buf[:0])
	}
	reportCPU(b, start)
}

// BenchmarkUnmarshal reads the Azure JSON of a 4 KB twin (fleet cache load, hub start-up).
func BenchmarkUnmarshal(b *testing.B) {
	src, _ := benchTwin(b).MarshalJSON()
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	start := cpuTime()
	for b.Loop() {
		var d Doc
		if err := d.UnmarshalJSON(src); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkDecoder reads the same twin with a Decoder kept from one twin to the next, as
// a fleet listing does.
func BenchmarkDecoder(b *testing.B) {
	src, _ := benchTwin(b).MarshalJSON()
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	var dec Decoder
	start := cpuTime()
	for b.Loop() {
		var d Doc
		if err := dec.Decode(src, &d); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkDeviceGet is the body of a device's twin GET.
func BenchmarkDeviceGet(b *testing.B) {
	d := benchTwin(b)
	b.ReportAllocs()
	buf := make([]byte, 0, 4096)
	start := cpuTime()
	for b.Loop() {
		buf = d.AppendDeviceGet(buf[:0])
	}
	reportCPU(b, start)
}

// BenchmarkClone is the copy the hub hands out on every GetTwin.
func BenchmarkClone(b *testing.B) {
	d := benchTwin(b)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if d.Clone() == nil {
			b.Fatal("nil clone")
		}
	}
	reportCPU(b, start)
}

// BenchmarkHeapPerTwin reports the heap a decoded 4 KB twin keeps (heap-B/twin): what a
// fleet cache of 100,000 twins costs.
func BenchmarkHeapPerTwin(b *testing.B) {
	src, _ := benchTwin(b).MarshalJSON()
	decoders := map[string]func([]byte, *Doc) error{
		"UnmarshalJSON": func(b []byte, d *Doc) error { return d.UnmarshalJSON(b) },
		"Decoder":       (&Decoder{}).Decode, // the same twin: every value interned
	}
	for _, name := range []string{"UnmarshalJSON", "Decoder"} {
		b.Run(name, func(b *testing.B) { heapPerTwin(b, src, decoders[name]) })
	}
}

func heapPerTwin(b *testing.B, src []byte, decode func([]byte, *Doc) error) {
	const n = 1000
	var perTwin uint64
	for b.Loop() {
		docs := make([]*Doc, n)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for i := range docs {
			docs[i] = new(Doc)
			if err := decode(append([]byte(nil), src...), docs[i]); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perTwin = (m1.HeapAlloc - m0.HeapAlloc) / n
		runtime.KeepAlive(docs)
	}
	b.ReportMetric(float64(perTwin), "heap-B/twin")
	b.ReportMetric(float64(len(src)), "json-B/twin")
}

// BenchmarkBaselineMapLookup is a calibration, not a figure: one lookup in a 4-entry
// map[string]any, a few nanoseconds on an idle core. Comparing it across runs shows how
// much a loaded machine slows every other figure.
func BenchmarkBaselineMapLookup(b *testing.B) {
	m := map[string]any{"region": 1.0, "ring": 2.0, "model": 3.0, "firmware": 4.0}
	k := "firmware"
	n := 0
	start := cpuTime()
	for b.Loop() {
		if _, ok := m[k]; ok {
			n++
		}
	}
	reportCPU(b, start)
	if n == 0 {
		b.Fatal("not found")
	}
}

// BenchmarkParsePatchOnly is the decoding half of BenchmarkReportedPatch.
func BenchmarkParsePatchOnly(b *testing.B) {
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if _, err := ParsePatch(Reported, benchPatch); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkPatchOnly is the merging half of BenchmarkReportedPatch.
func BenchmarkPatchOnly(b *testing.B) {
	d := benchTwin(b)
	p, err := ParsePatch(Reported, benchPatch)
	if err != nil {
		b.Fatal(err)
	}
	now := benchNow.Add(time.Hour)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if err := d.Patch(Reported, p, now); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}
