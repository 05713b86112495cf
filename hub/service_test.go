package hub

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/sas"
	"github.com/twinops/twinops/twin"
)

// dialService connects a raw service client with the iothubowner policy and subscribes
// it to its answers.
func dialService(t *testing.T, h *Hub, name string) *rawClient {
	t.Helper()
	var key string
	for _, p := range h.Policies() {
		if p.Name == "iothubowner" {
			key = p.PrimaryKey
		}
	}
	tok, err := sas.NewToken(h.Hostname(), key, "iothubowner", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := dialRaw(h.PlainAddr().String(), "service/"+name, "localhost/service", tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.close)
	if err := rc.subscribe("$twinops/res/#"); err != nil {
		t.Fatal(err)
	}
	return rc
}

// Requests that are not $twinops/req/{op}/?$rid={rid} with a usable rid are not
// answered (there is nowhere to answer); a good one is.
func TestParseServiceTopic(t *testing.T) {
	cases := map[string]struct {
		topic, op, rid string
		ok             bool
	}{
		"good":          {"$twinops/req/twin.get/?$rid=1", "twin.get", "1", true},
		"more params":   {"$twinops/req/query/?x=1&$rid=ab", "query", "ab", true},
		"no rid":        {"$twinops/req/twin.get/?x=1", "", "", false},
		"empty rid":     {"$twinops/req/twin.get/?$rid=", "", "", false},
		"wildcard rid":  {"$twinops/req/twin.get/?$rid=a+b", "", "", false},
		"long rid":      {"$twinops/req/twin.get/?$rid=" + strings.Repeat("r", 65), "", "", false},
		"no query part": {"$twinops/req/twin.get", "", "", false},
		"other prefix":  {"$iothub/twin/GET/?$rid=1", "", "", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			op, rid, ok := parseServiceTopic(c.topic)
			if ok != c.ok || op != c.op || rid != c.rid {
				t.Fatalf("got %q %q %v", op, rid, ok)
			}
		})
	}
}

func FuzzParseServiceTopic(f *testing.F) {
	f.Add("$twinops/req/twin.get/?$rid=1")
	f.Add("$twinops/req//?$rid=&$rid=2")
	f.Fuzz(func(t *testing.T, topic string) {
		op, rid, ok := parseServiceTopic(topic)
		if !ok {
			return
		}
		if rid == "" || len(rid) > 64 || strings.ContainsAny(rid, "/+#") || !strings.HasPrefix(topic, svcReqPrefix+op+"/?") {
			t.Fatalf("accepted %q as op %q rid %q", topic, op, rid)
		}
	})
}

func TestTopicLevel(t *testing.T) {
	cases := map[string]string{"plain": "plain", "a+b": "a%2Bb", "#x": "%23x", "50%": "50%25"}
	for in, want := range cases {
		if got := topicLevel(in); got != want {
			t.Errorf("topicLevel(%q) = %q, want %q", in, got, want)
		}
	}
}

// Answers go to the requester only, whatever the other clients subscribe to.
func TestServiceAnswersAreScoped(t *testing.T) {
	h := startHub(t, t.TempDir())
	a, b := dialService(t, h, "a"), dialService(t, h, "b")
	a.publish("$twinops/req/hub.info/?$rid=1", []byte(`{}`))
	if err := a.flush(); err != nil {
		t.Fatal(err)
	}
	_ = a.c.SetReadDeadline(time.Now().Add(waitTimeout))
	topic, body, err := a.readPublish()
	if err != nil {
		t.Fatal(err)
	}
	if topic != "$twinops/res/200/?$rid=1" || !strings.Contains(string(body), `"policy":"iothubowner"`) {
		t.Fatalf("a got %s %s", topic, body)
	}
	// b asks after a was answered: the first answer b sees must be its own
	b.publish("$twinops/req/twin.get/?$rid=2", []byte(`{"deviceId":"none"}`))
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	_ = b.c.SetReadDeadline(time.Now().Add(waitTimeout))
	topic, _, err = b.readPublish()
	if err != nil {
		t.Fatal(err)
	}
	if topic != "$twinops/res/404/?$rid=2" {
		t.Fatalf("b's first publish is %s, want its own 404 answer", topic)
	}
}

// A service connection ends when its token expires.
func TestServiceTokenExpiryEndsConnection(t *testing.T) {
	h := startHub(t, t.TempDir())
	var key string
	for _, p := range h.Policies() {
		if p.Name == "service" {
			key = p.PrimaryKey
		}
	}
	tok, err := sas.NewToken(h.Hostname(), key, "service", time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := dialRaw(h.PlainAddr().String(), "service/short", "localhost/service", tok)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	_ = rc.c.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, _, err := rc.read()
		if err == nil {
			continue
		}
		if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
			t.Fatalf("the connection outlived its token by %v", waitTimeout)
		}
		return // closed by the hub
	}
}

// Device credentials cannot open a service connection.
func TestServiceRefusesDeviceCredentials(t *testing.T) {
	h := startHub(t, t.TempDir())
	x := createDevice(t, h, "dev1")
	devTok, err := sas.NewToken(sas.DeviceResource(h.Hostname(), "dev1"), x.Authentication.SymmetricKey.PrimaryKey, "", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var devPolicyKey string
	for _, p := range h.Policies() {
		if p.Name == "device" {
			devPolicyKey = p.PrimaryKey
		}
	}
	policyTok, err := sas.NewToken(h.Hostname(), devPolicyKey, "device", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"device key": devTok, "device policy": policyTok} {
		t.Run(name, func(t *testing.T) {
			rc, err := dialRaw(h.PlainAddr().String(), "service/intruder", "localhost/service", tok)
			if err == nil {
				rc.close()
				t.Fatal("connected")
			}
		})
	}
}

// Paging through a query returns every twin that exists throughout exactly once, also
// when twins are deleted meanwhile and when the cursor is gone (the continuation then
// carries on after the last id it gave).
func TestQueryPaging(t *testing.T) {
	h := startHub(t, t.TempDir())
	ctx := context.Background()
	const n = 250
	for i := range n {
		createDevice(t, h, fmt.Sprintf("d%03d", i))
	}
	for name, forget := range map[string]bool{"cursor": false, "cursor forgotten": true} {
		t.Run(name, func(t *testing.T) {
			seen := map[string]int{}
			cont := ""
			pages := 0
			for {
				p, err := h.Query(ctx, "SELECT * FROM devices", 100, cont)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, it := range p.Items {
					seen[it.(*twin.Doc).DeviceID]++
				}
				if pages == 1 && !forget {
					// deleted after the first page: may or may not show, never twice
					if err := h.DeleteDevice(ctx, "d200", ""); err != nil {
						t.Fatal(err)
					}
				}
				if forget {
					h.svc.cursors.mu.Lock()
					clear(h.svc.cursors.m)
					h.svc.cursors.mu.Unlock()
				}
				if p.Continuation == "" {
					break
				}
				cont = p.Continuation
			}
			if pages != 3 && !forget || pages < 3 {
				t.Fatalf("%d pages", pages)
			}
			for i := range n {
				id := fmt.Sprintf("d%03d", i)
				if id == "d200" {
					continue
				}
				if seen[id] != 1 {
					t.Fatalf("%s seen %d times", id, seen[id])
				}
			}
			if seen["d200"] > 1 {
				t.Fatal("d200 seen twice")
			}
		})
	}
	if _, err := h.Query(ctx, "SELECT * FROM devices", 100, "bm90IG91cnM"); err == nil {
		t.Fatal("a continuation the hub never gave was accepted")
	}
	p, err := h.Query(ctx, "SELECT COUNT() AS n FROM devices", 0, "")
	if err != nil || len(p.Items) != 1 || p.Continuation != "" || p.ItemType != "raw" {
		t.Fatalf("aggregate: %+v %v", p, err)
	}
	p, err = h.Query(ctx, "SELECT TOP 5 deviceId FROM devices", 2, "")
	if err != nil || len(p.Items) != 2 || p.Continuation == "" {
		t.Fatalf("TOP 5 page 1: %+v %v", p, err)
	}
	total := len(p.Items)
	for p.Continuation != "" {
		if p, err = h.Query(ctx, "SELECT TOP 5 deviceId FROM devices", 2, p.Continuation); err != nil {
			t.Fatal(err)
		}
		total += len(p.Items)
	}
	if total != 5 {
		t.Fatalf("TOP 5 gave %d rows over its pages", total)
	}
}
