//go:build linux

// Command floor measures the least a durable notification can cost on this machine: the
// same shape of load as bench/notify-apart.sh, served by the smallest server that is
// still durable before it answers. The server appends every message to one file, commits
// with one fdatasync per group of messages (one committer goroutine, like the hub's
// store) and only then answers. It has no MQTT, no JSON, no Pebble and no TLS: whatever
// latency it shows is the machine's (disk, two cores, loopback, Go's scheduler), not the
// hub's.
//
//	floor server -dir DIR            prints the address it listens on, serves until killed
//	floor storm -addr A -conns 1000 -rate 50000 -size 1000 -d 14s
//	floor probe -addr A -rate 200 -d 10s
//
// bench/floor.sh runs the three as separate processes with the notify-apart nice levels.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A message is an 8-byte id, a 4-byte length and that many payload bytes; an answer is
// the id alone, written once the message is on disk.
const headerLen = 12

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: floor server|storm|probe [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", os.TempDir(), "server: directory of the log file")
	writers := fs.Int("writers", 2, "server: goroutines that write the answers (connections are split among them)")
	addr := fs.String("addr", "", "storm, probe: the server's address")
	conns := fs.Int("conns", 1000, "storm: connections")
	rate := fs.Float64("rate", 0, "messages per second: storm over all its connections (default 50000), probe (default 200)")
	size := fs.Int("size", 1000, "storm: payload bytes per message")
	d := fs.Duration("d", 10*time.Second, "storm, probe: how long to send")
	fs.Parse(os.Args[2:])
	if *rate == 0 {
		*rate = map[string]float64{"storm": 50000, "probe": 200}[os.Args[1]]
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = serve(*dir, *writers)
	case "storm":
		var wg sync.WaitGroup
		var answered atomic.Int64
		for range *conns {
			wg.Go(func() {
				if _, err := send(*addr, *rate/float64(*conns), *size, *d, &answered, false); err != nil {
					fmt.Fprintln(os.Stderr, "floor storm:", err)
				}
			})
		}
		wg.Wait()
		fmt.Printf("storm  %d connections, %d answered (%.0f/s)\n", *conns, answered.Load(), float64(answered.Load())/d.Seconds())
	case "probe":
		var lat []time.Duration
		var answered atomic.Int64
		lat, err = send(*addr, *rate, 64, *d, &answered, true)
		if err == nil && len(lat) == 0 {
			err = fmt.Errorf("no answers")
		}
		if err == nil {
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)]) / 1e6 }
			fmt.Printf("probe  p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms  max %6.2f ms  (n=%d)\n", q(.5), q(.95), q(.99), q(1), len(lat))
		}
	default:
		err = fmt.Errorf("unknown mode %q: use server, storm or probe", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// pending is one message on its way to disk.
type pending struct {
	c  *conn
	id uint64
}

type conn struct {
	nc     net.Conn
	writer int
}

// serve listens on loopback, prints the address and serves until killed.
func serve(dir string, writers int) error {
	f, err := os.Create(filepath.Join(dir, "floor.log"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())

	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var queue []pending
	var data []byte
	answers := make([]chan []pending, writers)
	for i := range answers {
		answers[i] = make(chan []pending, 1024)
		go writeAnswers(answers[i])
	}
	go func() { // the committer: everything queued since the last commit, one fdatasync
		var batch []pending
		var buf []byte
		for {
			mu.Lock()
			for len(queue) == 0 {
				cond.Wait()
			}
			batch, queue = queue, batch[:0]
			buf, data = data, buf[:0]
			mu.Unlock()
			if _, err := f.Write(buf); err != nil {
				panic(err)
			}
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				panic(err)
			}
			parts := make([][]pending, writers)
			for _, p := range batch {
				parts[p.c.writer] = append(parts[p.c.writer], p)
			}
			for i, p := range parts {
				if len(p) > 0 {
					answers[i] <- p
				}
			}
		}
	}()
	for n := 0; ; n++ {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		c := &conn{nc: nc, writer: n % writers}
		go func() { // the reader: queue every message
			r := bufio.NewReader(nc)
			var hdr [headerLen]byte
			payload := make([]byte, 1<<16)
			for {
				if _, err := io.ReadFull(r, hdr[:]); err != nil {
					return
				}
				id := binary.LittleEndian.Uint64(hdr[:8])
				n := int(binary.LittleEndian.Uint32(hdr[8:]))
				if n > len(payload) {
					nc.Close()
					return
				}
				if _, err := io.ReadFull(r, payload[:n]); err != nil {
					return
				}
				mu.Lock()
				data = append(data, payload[:n]...)
				queue = append(queue, pending{c, id})
				cond.Signal()
				mu.Unlock()
			}
		}()
	}
}

// writeAnswers writes each committed group's answers, one write per connection.
func writeAnswers(in <-chan []pending) {
	bufs := make(map[*conn][]byte)
	for group := range in {
		for _, p := range group {
			bufs[p.c] = binary.LittleEndian.AppendUint64(bufs[p.c], p.id)
		}
		for c, b := range bufs {
			c.nc.Write(b) // a failed write is the client gone; its reader ends
		}
		clear(bufs)
	}
}

// send sends messages of size bytes at rate per second for d, and returns the time from
// sending each message to reading its answer when timed is set. answered counts answers.
func send(addr string, rate float64, size int, d time.Duration, answered *atomic.Int64, timed bool) ([]time.Duration, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var mu sync.Mutex
	sent := make(map[uint64]time.Time)
	var lat []time.Duration
	go func() {
		r := bufio.NewReader(nc)
		var b [8]byte
		for {
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return
			}
			answered.Add(1)
			if timed {
				id := binary.LittleEndian.Uint64(b[:])
				mu.Lock()
				if t, ok := sent[id]; ok {
					lat = append(lat, time.Since(t))
					delete(sent, id)
				}
				mu.Unlock()
			}
		}
	}()
	msg := make([]byte, headerLen+size)
	binary.LittleEndian.PutUint32(msg[8:], uint32(size))
	every := time.Duration(float64(time.Second) / rate)
	end := time.Now().Add(d)
	next := time.Now()
	for id := uint64(1); time.Now().Before(end); id++ {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		next = next.Add(every)
		binary.LittleEndian.PutUint64(msg, id)
		if timed {
			mu.Lock()
			sent[id] = time.Now()
			mu.Unlock()
		}
		if _, err := nc.Write(msg); err != nil {
			return nil, err
		}
	}
	time.Sleep(300 * time.Millisecond) // the last answers
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(lat), nil
}
