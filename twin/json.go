package twin

import (
	"strconv"
)

// MarshalJSON writes the twin in Azure IoT Hub's shape (REST GET /twins/{id} and query
// results): identity fields, tags, and properties.desired/reported each with $metadata
// and $version. Never-set times are "0001-01-01T00:00:00Z"; members are sorted by key.
func (d *Doc) MarshalJSON() ([]byte, error) {
	return d.AppendJSON(make([]byte, 0, 1024)), nil
}

// AppendJSON appends what MarshalJSON returns to dst.
func (d *Doc) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"deviceId":`...)
	dst = appendString(dst, d.DeviceID)
	dst = append(dst, `,"etag":`...)
	dst = appendString(dst, d.Etag)
	dst = append(dst, `,"deviceEtag":`...)
	dst = appendString(dst, d.DeviceEtag)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, d.Version, 10)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, d.Status)
	dst = append(dst, `,"statusReason":`...)
	dst = appendNullable(dst, d.StatusReason)
	dst = append(dst, `,"statusUpdateTime":`...)
	dst = appendTime(dst, d.StatusUpdateTime)
	dst = append(dst, `,"connectionState":`...)
	dst = appendString(dst, d.ConnectionState)
	dst = append(dst, `,"lastActivityTime":`...)
	dst = appendTime(dst, d.LastActivityTime)
	dst = append(dst, `,"cloudToDeviceMessageCount":`...)
	dst = strconv.AppendInt(dst, int64(d.CloudToDeviceMessageCount), 10)
	dst = append(dst, `,"authenticationType":`...)
	dst = appendString(dst, d.AuthenticationType)
	dst = append(dst, `,"x509Thumbprint":{"primaryThumbprint":`...)
	dst = appendNullable(dst, d.X509Thumbprint.PrimaryThumbprint)
	dst = append(dst, `,"secondaryThumbprint":`...)
	dst = appendNullable(dst, d.X509Thumbprint.SecondaryThumbprint)
	dst = append(dst, `},"modelId":"","capabilities":{"iotEdge":false},"tags":`...)
	if d.Tags == nil {
		dst = append(dst, "{}"...)
	} else {
		dst = AppendValue(dst, d.Tags)
	}
	dst = append(dst, `,"properties":{"desired":`...)
	dst = d.Desired.appendJSON(dst, true)
	dst = append(dst, `,"reported":`...)
	dst = d.Reported.appendJSON(dst, false)
	return append(dst, "}}"...)
}

// appendNullable writes "" as null (Azure's form for unset identity strings).
func appendNullable(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}

// appendJSON writes {values…,"$metadata":{…},"$version":n}.
func (p *Props) appendJSON(dst []byte, desired bool) []byte {
	dst = append(dst, '{')
	dst = appendMembers(dst, p.Values, false)
	if len(p.Values) > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"$metadata":`...)
	m := p.Meta
	if m == nil {
		m = &Meta{}
	}
	var tc timeCache
	dst = m.appendJSON(dst, desired, &tc)
	dst = append(dst, `,"$version":`...)
	dst = strconv.AppendInt(dst, p.Version, 10)
	return append(dst, '}')
}

// appendJSON writes {"$lastUpdated":…,["$lastUpdatedVersion":n,]children…}.
func (m *Meta) appendJSON(dst []byte, desired bool, tc *timeCache) []byte {
	dst = append(dst, `{"$lastUpdated":`...)
	dst = tc.append(dst, m.updated)
	if desired && m.version != 0 {
		dst = append(dst, `,"$lastUpdatedVersion":`...)
		dst = strconv.AppendInt(dst, m.version, 10)
	}
	for i := range m.kids {
		c := &m.kids[i]
		dst = append(dst, ',')
		dst = appendString(dst, c.key)
		dst = append(dst, ':')
		dst = c.appendJSON(dst, desired, tc)
	}
	return append(dst, '}')
}

// AppendDeviceGet appends the body of the device's twin GET response:
// {"desired":{…,"$version":n},"reported":{…,"$version":m}}, without $metadata.
func (d *Doc) AppendDeviceGet(dst []byte) []byte {
	dst = append(dst, `{"desired":{`...)
	dst = appendMembers(dst, d.Desired.Values, false)
	dst = appendVersion(dst, len(d.Desired.Values) > 0, d.Desired.Version)
	dst = append(dst, `},"reported":{`...)
	dst = appendMembers(dst, d.Reported.Values, false)
	dst = appendVersion(dst, len(d.Reported.Values) > 0, d.Reported.Version)
	return append(dst, "}}"...)
}

func appendVersion(dst []byte, comma bool, v int64) []byte {
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, `"$version":`...)
	return strconv.AppendInt(dst, v, 10)
}

// AppendDesiredNotification appends the body of a desired-property notification: the
// applied patch (nulls kept: they tell the device to delete) plus "$version".
func AppendDesiredNotification(dst []byte, patch map[string]any, version int64) []byte {
	dst = append(dst, '{')
	dst = appendMembers(dst, patch, false)
	dst = appendVersion(dst, len(patch) > 0, version)
	return append(dst, '}')
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}
