package hub

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func (b *budget) state() (used, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, len(b.waiters)
}

func TestBudget(t *testing.T) {
	tests := map[string]func(t *testing.T, b *budget, quit chan struct{}){
		"waiters are served in arrival order": func(t *testing.T, b *budget, _ chan struct{}) {
			b.acquire(nil)
			got := make(chan int, 4)
			for i := range 4 {
				go func() {
					b.acquire(nil)
					got <- i
				}()
				waitFor(t, fmt.Sprintf("waiter %d queued", i), func() bool { _, w := b.state(); return w == i+1 })
			}
			for want := range 4 {
				b.release()
				select {
				case i := <-got:
					if i != want {
						t.Fatalf("slot went to waiter %d, want %d", i, want)
					}
				case <-time.After(waitTimeout):
					t.Fatalf("waiter %d never got the slot", want)
				}
			}
			b.release()
			if used, w := b.state(); used != 0 || w != 0 {
				t.Errorf("after every release: used %d, waiting %d; want 0, 0", used, w)
			}
		},
		"a waiter takes a slot over the limit when the hub closes": func(t *testing.T, b *budget, quit chan struct{}) {
			b.acquire(quit)
			done := make(chan struct{})
			go func() {
				b.acquire(quit)
				close(done)
			}()
			waitFor(t, "the waiter queued", func() bool { _, w := b.state(); return w == 1 })
			close(quit)
			select {
			case <-done:
			case <-time.After(waitTimeout):
				t.Fatal("the waiter did not return when quit closed")
			}
			if used, w := b.state(); used != 2 || w != 0 {
				t.Fatalf("used %d, waiting %d; want 2 (one over the limit), 0", used, w)
			}
			b.release()
			b.release()
			if used, _ := b.state(); used != 0 {
				t.Errorf("used %d after both releases, want 0", used)
			}
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc(t, &budget{limit: 1}, make(chan struct{}))
		})
	}
}

// TestBudgetAnswersEveryRequest: with one round per shard (Config.DeviceBudget 1),
// devices that pipeline more requests than a round admits all get every answer, in
// order, with consecutive versions, and every slot comes back.
func TestBudgetAnswersEveryRequest(t *testing.T) {
	h := startHubWith(t, Config{DataDir: t.TempDir(), DeviceBudget: 1})
	for i, s := range h.shards {
		if s.budget.limit != 1 {
			t.Fatalf("shard %d: budget limit %d, want Config.DeviceBudget 1", i, s.budget.limit)
		}
	}
	const devices, patches = 12, 3 * roundOps
	errs := make(chan error, devices)
	for i := range devices {
		rc, _ := dialTwinDevice(t, h, "dev"+strconv.Itoa(i))
		go func() { errs <- pipelinePatches(rc, patches) }()
	}
	for range devices {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(2 * waitTimeout):
			t.Fatal("a device did not get all its answers")
		}
	}
	for i, s := range h.shards {
		if used, w := s.budget.state(); used != 0 || w != 0 {
			t.Errorf("shard %d: %d slots used, %d waiting after every answer; want 0, 0", i, used, w)
		}
	}
}

// pipelinePatches sends n reported patches at once, then reads the n answers: 204s in
// order with consecutive $versions.
func pipelinePatches(rc *rawClient, n int) error {
	for i := range n {
		rc.publish(topicPatchReported+"?$rid="+strconv.Itoa(i), []byte(`{"n":`+strconv.Itoa(i)+`}`))
	}
	if err := rc.flush(); err != nil {
		return err
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(2 * waitTimeout))
	last := int64(-1)
	for i := range n {
		topic, _, err := rc.readPublish()
		if err != nil {
			return fmt.Errorf("answer %d: %v", i, err)
		}
		want := topicTwinRes + "204/?$rid=" + strconv.Itoa(i) + "&$version="
		v, err := strconv.ParseInt(strings.TrimPrefix(topic, want), 10, 64)
		if !strings.HasPrefix(topic, want) || err != nil || (last >= 0 && v != last+1) {
			return fmt.Errorf("answer %d: %q, want %s%d", i, topic, want, last+1)
		}
		last = v
	}
	return nil
}

// TestBudgetSparesBackEndWrites: a device request waiting for its shard's spent budget
// does not hold up a back-end write: the desired change is stored and notified to that
// very device, and its request is answered once a slot is free.
func TestBudgetSparesBackEndWrites(t *testing.T) {
	h := startHubWith(t, Config{DataDir: t.TempDir(), DeviceBudget: 1})
	rc, c := dialTwinDevice(t, h, "dev1")
	b := &h.shardFor(c.DeviceID).budget
	b.acquire(h.quit) // the budget is spent
	rc.publish(topicPatchReported+"?$rid=1", []byte(`{"a":1}`))
	if err := rc.flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the device's request to wait for the budget", func() bool { _, w := b.state(); return w == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := h.PatchTwin(ctx, "dev1", TwinPatch{Desired: map[string]any{"x": 1.0}, HasDesired: true}, ""); err != nil {
		t.Fatalf("PatchTwin with the device budget spent: %v", err)
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	topic, body, err := rc.readPublish()
	if err != nil || !strings.HasPrefix(topic, topicDesiredPatch) || !strings.Contains(string(body), `"x":1`) {
		t.Fatalf("first message %q %s (%v), want the desired notification", topic, body, err)
	}
	b.release()
	topic, _, err = rc.readPublish()
	if err != nil || !strings.HasPrefix(topic, topicTwinRes+"204/?$rid=1&") {
		t.Fatalf("then %q (%v), want the 204 of the waiting request", topic, err)
	}
}

// TestDeviceBudgetConfig: New takes 0 (the default) to MaxDeviceBudget and refuses the
// rest with an error that names the range.
func TestDeviceBudgetConfig(t *testing.T) {
	tests := map[string]struct {
		budget, want int
		wantErr      bool
	}{
		"default":   {budget: 0, want: DefaultDeviceBudget},
		"one":       {budget: 1, want: 1},
		"largest":   {budget: MaxDeviceBudget, want: MaxDeviceBudget},
		"negative":  {budget: -1, wantErr: true},
		"too large": {budget: MaxDeviceBudget + 1, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h, err := New(Config{DataDir: t.TempDir(), DeviceBudget: tc.budget, Logger: testLogger()})
			if tc.wantErr {
				if err == nil {
					h.Close()
					t.Fatalf("New with DeviceBudget %d: no error", tc.budget)
				}
				if !strings.Contains(err.Error(), "device budget") || !strings.Contains(err.Error(), strconv.Itoa(MaxDeviceBudget)) {
					t.Errorf("error %q does not name the device budget and its range", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New with DeviceBudget %d: %v", tc.budget, err)
			}
			defer h.Close()
			for i, s := range h.shards {
				if s.budget.limit != tc.want {
					t.Errorf("shard %d: budget limit %d, want %d", i, s.budget.limit, tc.want)
				}
			}
		})
	}
}
