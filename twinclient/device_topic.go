package twinclient

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Azure IoT Hub device-twin topics (facts sheet 1.5). Topics carry no device id: the hub
// scopes them to the connection.
const (
	devTopicResFilter     = "$iothub/twin/res/#"
	devTopicDesiredFilter = "$iothub/twin/PATCH/properties/desired/#"
	devTopicResPrefix     = "$iothub/twin/res/"
	devTopicDesiredPrefix = "$iothub/twin/PATCH/properties/desired/"
	devTopicGetPrefix     = "$iothub/twin/GET/?$rid="
	devTopicPatchPrefix   = "$iothub/twin/PATCH/properties/reported/?$rid="
)

// deviceMsgKind says what an incoming device-side publish is.
type deviceMsgKind uint8

const (
	devMsgUnknown  deviceMsgKind = iota
	devMsgResponse               // $iothub/twin/res/{status}/?$rid={rid}[&$version={n}]
	devMsgDesired                // $iothub/twin/PATCH/properties/desired/?$version={n}
)

// deviceTopic is a parsed incoming device-side topic.
type deviceTopic struct {
	Kind    deviceMsgKind
	Status  int    // responses: the 3-digit status
	RID     string // responses: the request id exactly as sent
	Version int64  // responses to a reported PATCH and desired notifications; 0 if absent
}

// errDevNotTwinTopic is returned by parseDeviceTopic for topics outside the twin protocol.
var errDevNotTwinTopic = errors.New("not a device-twin topic")

// parseDeviceTopic parses a topic the hub publishes to a device. Responses need a 3-digit
// status and a non-empty $rid; desired notifications need a $version (Java SDK rules, so
// we are as strict as the strictest SDK). Query parameters other than $rid and $version
// are ignored; values are kept byte for byte (request ids are opaque).
func parseDeviceTopic(topic string) (deviceTopic, error) {
	switch {
	case strings.HasPrefix(topic, devTopicResPrefix):
		return devParseResponseTopic(topic[len(devTopicResPrefix):])
	case strings.HasPrefix(topic, devTopicDesiredPrefix):
		params, err := devParseTopicQuery(topic[len(devTopicDesiredPrefix):])
		if err != nil {
			return deviceTopic{}, fmt.Errorf("desired notification topic %q: %w", topic, err)
		}
		v, ok := params["$version"]
		if !ok {
			return deviceTopic{}, fmt.Errorf("desired notification topic %q has no $version", topic)
		}
		n, err := devParseVersion(v)
		if err != nil {
			return deviceTopic{}, fmt.Errorf("desired notification topic %q: %w", topic, err)
		}
		return deviceTopic{Kind: devMsgDesired, Version: n}, nil
	}
	return deviceTopic{}, errDevNotTwinTopic
}

// devParseResponseTopic parses "{status}/?$rid=...[&$version=...]".
func devParseResponseTopic(rest string) (deviceTopic, error) {
	status, query, ok := strings.Cut(rest, "/")
	if !ok || len(status) != 3 {
		return deviceTopic{}, fmt.Errorf("twin devResponse topic %q: want $iothub/twin/res/{3-digit status}/?$rid=...", devTopicResPrefix+rest)
	}
	code, err := strconv.Atoi(status)
	if err != nil || code < 100 || status[0] == '+' || status[0] == '-' {
		return deviceTopic{}, fmt.Errorf("twin devResponse topic %q: status %q is not 3 digits", devTopicResPrefix+rest, status)
	}
	params, err := devParseTopicQuery(query)
	if err != nil {
		return deviceTopic{}, fmt.Errorf("twin devResponse topic %q: %w", devTopicResPrefix+rest, err)
	}
	t := deviceTopic{Kind: devMsgResponse, Status: code, RID: params["$rid"]}
	if t.RID == "" {
		return deviceTopic{}, fmt.Errorf("twin devResponse topic %q has no $rid", devTopicResPrefix+rest)
	}
	if v, ok := params["$version"]; ok {
		if t.Version, err = devParseVersion(v); err != nil {
			return deviceTopic{}, fmt.Errorf("twin devResponse topic %q: %w", devTopicResPrefix+rest, err)
		}
	}
	return t, nil
}

// devParseTopicQuery parses "?k=v&k=v" (the leading '?' is required). Keys may repeat; the
// first wins.
func devParseTopicQuery(s string) (map[string]string, error) {
	q, ok := strings.CutPrefix(s, "?")
	if !ok {
		return nil, fmt.Errorf("no '?' before the parameters")
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(q, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if _, dup := params[k]; !dup {
			params[k] = v
		}
	}
	return params, nil
}

// devParseVersion parses a $version value: a positive decimal integer.
func devParseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || v[0] == '+' {
		return 0, fmt.Errorf("$version %q is not a positive integer", v)
	}
	return n, nil
}

// devGetTopic is the topic of a twin GET request.
func devGetTopic(rid string) string { return devTopicGetPrefix + rid }

// devPatchReportedTopic is the topic of a reported-properties PATCH request.
func devPatchReportedTopic(rid string) string { return devTopicPatchPrefix + rid }
