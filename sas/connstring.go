// Package sas creates and checks Azure IoT Hub shared access signature (SAS) tokens and
// parses connection strings, byte-compatible with the Azure IoT SDKs (the Node SDK is the
// reference). It is shared by the hub (verification) and twinclient (token creation).
package sas

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// ConnectionString is a parsed Azure IoT Hub connection string. A device string has
// HostName, DeviceID and SharedAccessKey; a service string has HostName,
// SharedAccessKeyName and SharedAccessKey; a device string signed with a policy key has
// all four. GatewayHostName, when set, is where the socket goes (HostName stays in tokens).
type ConnectionString struct {
	HostName            string
	DeviceID            string
	SharedAccessKeyName string
	SharedAccessKey     string
	GatewayHostName     string
}

// canonicalKey returns the canonical spelling of a connection string key, matched
// case-insensitively, and whether it is one we know.
func canonicalKey(k string) (string, bool) {
	for _, name := range []string{"HostName", "DeviceId", "SharedAccessKeyName", "SharedAccessKey", "GatewayHostName"} {
		if strings.EqualFold(k, name) {
			return name, true
		}
	}
	return "", false
}

// ParseConnectionString parses `Key=Value;Key=Value...`. Keys are matched
// case-insensitively; values may contain '=' (base64 padding). It fails, naming the part,
// on unknown or repeated keys, on a missing HostName or SharedAccessKey, when neither
// DeviceId nor SharedAccessKeyName is given, and on a key that is not base64.
func ParseConnectionString(s string) (ConnectionString, error) {
	var c ConnectionString
	seen := map[string]bool{}
	for part := range strings.SplitSeq(strings.TrimSpace(s), ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return ConnectionString{}, fmt.Errorf("connection string part %q is not Key=Value; expected e.g. HostName=hub.example.com;DeviceId=dev1;SharedAccessKey=...", clip(part))
		}
		name, known := canonicalKey(k)
		if !known {
			return ConnectionString{}, fmt.Errorf("connection string has unknown key %q; accepted keys are HostName, DeviceId, SharedAccessKeyName, SharedAccessKey and GatewayHostName", clip(k))
		}
		if seen[name] {
			return ConnectionString{}, fmt.Errorf("connection string repeats %s; give it once", name)
		}
		seen[name] = true
		if v == "" {
			return ConnectionString{}, fmt.Errorf("connection string has an empty %s; give it a value or leave it out", name)
		}
		switch name {
		case "HostName":
			c.HostName = v
		case "DeviceId":
			c.DeviceID = v
		case "SharedAccessKeyName":
			c.SharedAccessKeyName = v
		case "SharedAccessKey":
			c.SharedAccessKey = v
		case "GatewayHostName":
			c.GatewayHostName = v
		}
	}
	if err := c.validate(); err != nil {
		return ConnectionString{}, err
	}
	return c, nil
}

// validate checks that the parts needed to sign a token are present and well formed.
func (c ConnectionString) validate() error {
	switch {
	case c.HostName == "":
		return fmt.Errorf("connection string has no HostName; add HostName=<hub host name>")
	case c.SharedAccessKey == "":
		return fmt.Errorf("connection string has no SharedAccessKey; add SharedAccessKey=<base64 key> (X.509 authentication is not supported)")
	case c.DeviceID == "" && c.SharedAccessKeyName == "":
		return fmt.Errorf("connection string has neither DeviceId nor SharedAccessKeyName; add DeviceId=<id> for a device or SharedAccessKeyName=<policy> for a service")
	}
	for _, f := range []struct{ name, v string }{{"HostName", c.HostName}, {"GatewayHostName", c.GatewayHostName}} {
		if strings.ContainsAny(f.v, " /\t") {
			return fmt.Errorf("connection string %s %q is not a host name (no spaces or slashes)", f.name, clip(f.v))
		}
	}
	if _, err := decodeKey(c.SharedAccessKey); err != nil {
		return fmt.Errorf("connection string SharedAccessKey: %w", err)
	}
	return nil
}

// String formats c in the Azure order (HostName;DeviceId;SharedAccessKeyName;
// SharedAccessKey;GatewayHostName), leaving out empty parts. ParseConnectionString
// reads it back unchanged.
func (c ConnectionString) String() string {
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	add("HostName", c.HostName)
	add("DeviceId", c.DeviceID)
	add("SharedAccessKeyName", c.SharedAccessKeyName)
	add("SharedAccessKey", c.SharedAccessKey)
	add("GatewayHostName", c.GatewayHostName)
	return b.String()
}

// Resource is the resource URI a token from c is scoped to: {host}/devices/{id} for a
// device string, {host} for a service string.
func (c ConnectionString) Resource() string {
	if c.DeviceID != "" {
		return DeviceResource(c.HostName, c.DeviceID)
	}
	return c.HostName
}

// NewToken signs a token for c.Resource() with c's key (and skn = SharedAccessKeyName
// when set), valid until expiry.
func (c ConnectionString) NewToken(expiry time.Time) (string, error) {
	return NewToken(c.Resource(), c.SharedAccessKey, c.SharedAccessKeyName, expiry)
}

// decodeKey decodes a base64 symmetric key, accepting it with or without padding.
func decodeKey(keyB64 string) ([]byte, error) {
	if keyB64 == "" {
		return nil, fmt.Errorf("key is empty; give the base64 key from the policy or device identity")
	}
	k, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil {
		k, err = base64.RawStdEncoding.DecodeString(keyB64)
	}
	if err != nil || len(k) == 0 {
		return nil, fmt.Errorf("key is not valid base64; copy the key exactly as the hub printed it")
	}
	return k, nil
}

// clip shortens s for an error message so that a pasted secret is not echoed in full.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
