package hub

import (
	"encoding/hex"
	"strings"
)

// Topic scoping. Azure's device topics carry no device id, so the hub binds every private
// subscription and delivery to one client: internally a client's topics live under
// "$d/<hex client id>/" (devices) or "$s/<hex client id>/" (service clients). Hex keeps ids
// with '+', '#' or '/' from turning into wildcards or extra levels. OnSubscribe rewrites
// filters into that space, the hub publishes there, OnACLCheck only lets a client hold or
// receive its own, and OnPacketEncode turns the topic back into what the client expects.
//
// A device's two twin topics are kept short inside its space (one topic-trie level
// instead of up to five, which is most of a subscription's memory):
//
//	$iothub/twin/res/...                       <->  $d/<hex>/r/...
//	$iothub/twin/PATCH/properties/desired/...  <->  $d/<hex>/d/...

const (
	devicePrefix  = "$d/"
	servicePrefix = "$s/"
	resLong       = "$iothub/twin/res/"
	desiredLong   = "$iothub/twin/PATCH/properties/desired/"
)

// scopePrefix returns the internal topic prefix of a client.
func scopePrefix(kind connKind, clientID string) string {
	lead := devicePrefix
	if kind == kindService {
		lead = servicePrefix
	}
	return lead + hex.EncodeToString([]byte(clientID)) + "/"
}

// scopeDeviceFilter returns the internal filter for a filter a device may subscribe to,
// or "" if it is refused (SUBACK 0x80): direct methods, cloud-to-device messages and any
// filter other than the twin ones.
func scopeDeviceFilter(prefix, f string) string {
	switch f {
	case resLong + "#":
		return prefix + "r/#"
	case desiredLong + "#":
		return prefix + "d/#"
	case "$iothub/#", "$iothub/twin/#":
		return prefix + "#"
	}
	return ""
}

// scopeDeviceTopic returns the internal topic of a device-bound topic (a twin response or
// a desired notification), or "" for any other topic.
func scopeDeviceTopic(prefix, topic string) string {
	if rest, ok := strings.CutPrefix(topic, resLong); ok {
		return prefix + "r/" + rest
	}
	if rest, ok := strings.CutPrefix(topic, desiredLong); ok {
		return prefix + "d/" + rest
	}
	return ""
}

// stripScope turns an internal topic back into the client's: "$d/<hex>/r/200/?$rid=1" ->
// "$iothub/twin/res/200/?$rid=1", "$s/<hex>/$twinops/res/..." -> "$twinops/res/...";
// other topics are returned unchanged.
func stripScope(topic string) string {
	if len(topic) < 4 || topic[0] != '$' || (topic[1] != 'd' && topic[1] != 's') || topic[2] != '/' {
		return topic
	}
	i := strings.IndexByte(topic[3:], '/')
	if i < 0 {
		return topic
	}
	rest := topic[3+i+1:]
	if topic[1] == 's' {
		return rest
	}
	switch {
	case strings.HasPrefix(rest, "r/"):
		return resLong + rest[2:]
	case strings.HasPrefix(rest, "d/"):
		return desiredLong + rest[2:]
	}
	return rest
}
