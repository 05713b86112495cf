package twinclient

import (
	"strings"
	"testing"
)

func TestParseDeviceTopic(t *testing.T) {
	tests := map[string]struct {
		topic   string
		want    deviceTopic
		wantErr string
	}{
		"get devResponse":     {topic: "$iothub/twin/res/200/?$rid=abc-1", want: deviceTopic{Kind: devMsgResponse, Status: 200, RID: "abc-1"}},
		"patch devResponse":   {topic: "$iothub/twin/res/204/?$rid=7&$version=12", want: deviceTopic{Kind: devMsgResponse, Status: 204, RID: "7", Version: 12}},
		"version first":       {topic: "$iothub/twin/res/204/?$version=3&$rid=x", want: deviceTopic{Kind: devMsgResponse, Status: 204, RID: "x", Version: 3}},
		"error devResponse":   {topic: "$iothub/twin/res/412/?$rid=r", want: deviceTopic{Kind: devMsgResponse, Status: 412, RID: "r"}},
		"rid kept verbatim":   {topic: "$iothub/twin/res/200/?$rid=a%2Fb", want: deviceTopic{Kind: devMsgResponse, Status: 200, RID: "a%2Fb"}},
		"unknown param":       {topic: "$iothub/twin/res/200/?$rid=1&foo=bar", want: deviceTopic{Kind: devMsgResponse, Status: 200, RID: "1"}},
		"desired":             {topic: "$iothub/twin/PATCH/properties/desired/?$version=9", want: deviceTopic{Kind: devMsgDesired, Version: 9}},
		"desired extra param": {topic: "$iothub/twin/PATCH/properties/desired/?$version=9&x=1", want: deviceTopic{Kind: devMsgDesired, Version: 9}},
		"not twin":            {topic: "devices/d1/messages/devicebound/", wantErr: "not a device-twin topic"},
		"method":              {topic: "$iothub/methods/POST/reboot/?$rid=1", wantErr: "not a device-twin topic"},
		"short status":        {topic: "$iothub/twin/res/20/?$rid=1", wantErr: "3-digit"},
		"letters status":      {topic: "$iothub/twin/res/2x4/?$rid=1", wantErr: "not 3 digits"},
		"signed status":       {topic: "$iothub/twin/res/+20/?$rid=1", wantErr: "not 3 digits"},
		"no slash":            {topic: "$iothub/twin/res/200?$rid=1", wantErr: "3-digit"},
		"no question":         {topic: "$iothub/twin/res/200/$rid=1", wantErr: "no '?'"},
		"no rid":              {topic: "$iothub/twin/res/200/?$version=1", wantErr: "no $rid"},
		"empty rid":           {topic: "$iothub/twin/res/200/?$rid=", wantErr: "no $rid"},
		"bad version":         {topic: "$iothub/twin/res/204/?$rid=1&$version=x", wantErr: "not a positive integer"},
		"zero version":        {topic: "$iothub/twin/res/204/?$rid=1&$version=0", wantErr: "not a positive integer"},
		"desired no version":  {topic: "$iothub/twin/PATCH/properties/desired/?x=1", wantErr: "no $version"},
		"desired no query":    {topic: "$iothub/twin/PATCH/properties/desired/", wantErr: "no '?'"},
		"desired neg version": {topic: "$iothub/twin/PATCH/properties/desired/?$version=-2", wantErr: "not a positive integer"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseDeviceTopic(tc.topic)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseDeviceTopic(%q) error = %v, want one containing %q", tc.topic, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseDeviceTopic(%q): %v", tc.topic, err)
			}
			if got != tc.want {
				t.Fatalf("parseDeviceTopic(%q) = %+v, want %+v", tc.topic, got, tc.want)
			}
		})
	}
}

func TestRequestTopicsRoundTrip(t *testing.T) {
	for _, rid := range []string{"1", "ab12-99", "x"} {
		if got := devGetTopic(rid); got != "$iothub/twin/GET/?$rid="+rid {
			t.Errorf("getTopic(%q) = %q", rid, got)
		}
		if got := devPatchReportedTopic(rid); got != "$iothub/twin/PATCH/properties/reported/?$rid="+rid {
			t.Errorf("patchReportedTopic(%q) = %q", rid, got)
		}
		// The hub answers on the response topic with the rid echoed.
		got, err := parseDeviceTopic("$iothub/twin/res/204/?$rid=" + rid + "&$version=5")
		if err != nil || got.RID != rid || got.Version != 5 {
			t.Errorf("response for rid %q parsed as %+v, %v", rid, got, err)
		}
	}
}

func FuzzParseDeviceTopic(f *testing.F) {
	for _, s := range []string{
		"$iothub/twin/res/200/?$rid=1",
		"$iothub/twin/res/204/?$rid=abc&$version=3",
		"$iothub/twin/PATCH/properties/desired/?$version=9",
		"$iothub/twin/res/2/?",
		"$iothub/twin/PATCH/properties/desired/?$version=&&",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		got, err := parseDeviceTopic(topic)
		if err != nil {
			if got != (deviceTopic{}) {
				t.Fatalf("error %v with a non-zero result %+v", err, got)
			}
			return
		}
		switch got.Kind {
		case devMsgResponse:
			if got.Status < 100 || got.Status > 999 || got.RID == "" || got.Version < 0 {
				t.Fatalf("invalid devResponse accepted: %q -> %+v", topic, got)
			}
			if !strings.Contains(topic, "$rid="+got.RID) {
				t.Fatalf("rid %q not verbatim in %q", got.RID, topic)
			}
		case devMsgDesired:
			if got.Version < 1 {
				t.Fatalf("desired without a positive version accepted: %q -> %+v", topic, got)
			}
		default:
			t.Fatalf("nil error with kind %v for %q", got.Kind, topic)
		}
	})
}
