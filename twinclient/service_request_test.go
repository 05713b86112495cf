package twinclient

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseResTopic(t *testing.T) {
	cases := map[string]struct {
		topic  string
		status int
		rid    string
		ok     bool
	}{
		"ok":             {"$twinops/res/200/?$rid=17", 200, "17", true},
		"error":          {"$twinops/res/412/?$rid=abc", 412, "abc", true},
		"extra params":   {"$twinops/res/204/?x=1&$rid=9", 204, "9", true},
		"no rid":         {"$twinops/res/200/?x=1", 0, "", false},
		"empty rid":      {"$twinops/res/200/?$rid=", 0, "", false},
		"two digits":     {"$twinops/res/20/?$rid=1", 0, "", false},
		"not a number":   {"$twinops/res/2x0/?$rid=1", 0, "", false},
		"no query":       {"$twinops/res/200", 0, "", false},
		"other prefix":   {"$iothub/twin/res/200/?$rid=1", 0, "", false},
		"status too low": {"$twinops/res/099/?$rid=1", 0, "", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			status, rid, ok := parseResTopic(c.topic)
			if ok != c.ok || status != c.status || rid != c.rid {
				t.Fatalf("got %d %q %v", status, rid, ok)
			}
		})
	}
}

func FuzzParseResTopic(f *testing.F) {
	f.Add("$twinops/res/200/?$rid=1")
	f.Add("$twinops/res/500/?a=b&$rid=x&$rid=y")
	f.Fuzz(func(t *testing.T, topic string) {
		status, rid, ok := parseResTopic(topic)
		if !ok {
			return
		}
		if status < 100 || status > 999 || rid == "" || !strings.HasPrefix(topic, topicResPrefix+strconv.Itoa(status)) {
			t.Fatalf("accepted %q as %d %q", topic, status, rid)
		}
	})
}

func TestParseErrorBody(t *testing.T) {
	cases := map[string]struct {
		body string
		code int
		msg  string
	}{
		"hub body":   {`{"errorCode":412002,"message":"stale","trackingId":"x"}`, 412002, "stale"},
		"empty":      {``, 0, "error answer without a message: (empty body)"},
		"not json":   {`oops`, 0, "error answer without a message: oops"},
		"no message": {`{"errorCode":5}`, 5, `error answer without a message: {"errorCode":5}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := parseErrorBody(400, []byte(c.body))
			if e.Status != 400 || e.Code != c.code || e.Message != c.msg {
				t.Fatalf("got %+v", e)
			}
		})
	}
}
