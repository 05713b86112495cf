package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openT(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rec(k, v string) Record { return Record{Key: []byte(k), Value: []byte(v)} }

func TestApplyGetScanDelete(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	ctx := context.Background()
	if err := s.Apply(ctx, rec("t/a", "1"), rec("t/b", "2"), rec("t/c", "3"), rec("u/a", "9")); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, Record{Key: []byte("t/b"), Delete: true}, rec("t/c", "33")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir) // what was acknowledged survives a reopen
	defer s.Close()
	cases := map[string]struct {
		key, want string
		err       error
	}{
		"kept":        {"t/a", "1", nil},
		"overwritten": {"t/c", "33", nil},
		"deleted":     {"t/b", "", ErrNotFound},
		"never set":   {"t/z", "", ErrNotFound},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := s.Get([]byte(c.key))
			if !errors.Is(err, c.err) || string(v) != c.want {
				t.Fatalf("Get(%q) = %q, %v; want %q, %v", c.key, v, err, c.want, c.err)
			}
		})
	}
	var got []string
	err := s.Scan([]byte("t/"), func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[t/a=1 t/c=33]" {
		t.Fatalf("Scan = %v, %v", got, err)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Scan(nil, func(k, v []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("Scan stop: %v after %d", err, n)
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := map[string]struct{ in, want []byte }{
		"empty":       {nil, nil},
		"simple":      {[]byte("s/"), []byte("s0")},
		"trailing ff": {[]byte{'a', 0xff, 0xff}, []byte{'b'}},
		"all ff":      {[]byte{0xff, 0xff}, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := prefixEnd(c.in); !bytes.Equal(got, c.want) {
				t.Fatalf("prefixEnd(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestScanPrefixWithFF(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	keys := []string{"a\xff", "a\xff\x00", "a\xff\xff", "b"}
	for _, k := range keys {
		if err := s.Apply(context.Background(), rec(k, "v")); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := s.Scan([]byte("a\xff"), func(k, _ []byte) error { got = append(got, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Scan a\\xff = %q", got)
	}
}

func TestInvalidRecordWritesNothing(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	err := s.Apply(context.Background(), rec("k/1", "v"), Record{Value: []byte("no key")})
	if err == nil {
		t.Fatal("empty key accepted")
	}
	if _, err := s.Get([]byte("k/1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("first record of a refused call was written: %v", err)
	}
}

func TestGroupCommit(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	const n = 100
	hold, release := make(chan struct{}), make(chan struct{})
	first := true
	s.beforeTake = func() { // committer goroutine only
		if first {
			first = false
			close(hold)
			<-release
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	s.ApplyAsync([]Record{rec("g/0", "v")}, func(err error) { errs <- err })
	<-hold // the committer is parked before taking the queue
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Apply(context.Background(), rec(fmt.Sprintf("g/%d", i), "v"))
		}()
	}
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.waiters) == n })
	close(release)
	wg.Wait()
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Commits != 1 || st.Writes != n || st.Records != n {
		t.Fatalf("stats %+v, want one commit of %d writes", st, n)
	}
}

// waitFor polls cond (for state another goroutine reaches) for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseFlushesPending(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	const n = 500
	acked := make(chan error, n)
	for i := 0; i < n; i++ {
		s.ApplyAsync([]Record{rec(fmt.Sprintf("p/%04d", i), "v")}, func(err error) { acked <- err })
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-acked:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d writes acknowledged after Close", i, n)
		}
	}
	if err := s.Apply(context.Background(), rec("late", "v")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s = openT(t, dir)
	defer s.Close()
	count := 0
	if err := s.Scan([]byte("p/"), func(_, _ []byte) error { count++; return nil }); err != nil || count != n {
		t.Fatalf("after reopen %d of %d records (%v)", count, n, err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	const writers, each = 100, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				k := fmt.Sprintf("c/%03d/%03d", w, i)
				errs <- s.Apply(context.Background(), rec(k, k))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	err := s.Scan([]byte("c/"), func(k, v []byte) error {
		if !bytes.Equal(k, v) {
			return fmt.Errorf("key %q has value %q", k, v)
		}
		n++
		return nil
	})
	if err != nil || n != writers*each {
		t.Fatalf("scan: %d records, %v", n, err)
	}
	st := s.Stats()
	t.Logf("%d writes in %d commits", st.Writes, st.Commits)
	if st.Writes != writers*each || st.Commits == 0 || st.Commits > st.Writes {
		t.Fatalf("stats %+v", st)
	}
}

func TestApplyNothing(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Apply(ctx); err != nil {
		t.Fatalf("Apply() with no records = %v", err)
	}
}

func TestApplyContextCanceled(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Apply(ctx, rec("x", "y"))
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with canceled ctx = %v", err)
	}
}

func TestOpenTwiceFails(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	defer s.Close()
	if s2, err := Open(dir, Options{}); err == nil {
		s2.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
}

func TestPebbleLoggerGoesToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := pebbleLogger{log: slog.New(slog.NewTextHandler(&buf, nil))}
	l.Infof("flushed %d", 7)
	l.Errorf("background error: %s", "boom")
	if got := buf.String(); !strings.Contains(got, "level=INFO msg=\"flushed 7\"") ||
		!strings.Contains(got, "level=ERROR msg=\"background error: boom\"") {
		t.Fatalf("slog got %q", got)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(buf.String(), "pebble fatal: corrupt") {
			t.Fatalf("Fatalf: recovered %v, log %q", r, buf.String())
		}
	}()
	l.Fatalf("corrupt %s", "sstable")
}
