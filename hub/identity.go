package hub

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Identity statuses.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
)

// Identity is a device identity in the registry, in Azure IoT Hub's JSON shape.
type Identity struct {
	DeviceID                   string         `json:"deviceId"`
	GenerationID               string         `json:"generationId"`
	Etag                       string         `json:"etag"`
	Status                     string         `json:"status"` // "enabled" | "disabled"
	StatusReason               string         `json:"statusReason"`
	StatusUpdatedTime          time.Time      `json:"statusUpdatedTime"`
	ConnectionState            string         `json:"connectionState"`
	ConnectionStateUpdatedTime time.Time      `json:"connectionStateUpdatedTime"`
	LastActivityTime           time.Time      `json:"lastActivityTime"`
	CloudToDeviceMessageCount  int            `json:"cloudToDeviceMessageCount"`
	Authentication             Authentication `json:"authentication"`
}

// Authentication holds an identity's credentials; Type is always "sas".
type Authentication struct {
	SymmetricKey SymmetricKey `json:"symmetricKey"`
	Type         string       `json:"type"`
}

// SymmetricKey is a pair of base64 keys (16 to 64 bytes each).
type SymmetricKey struct {
	PrimaryKey   string `json:"primaryKey"`
	SecondaryKey string `json:"secondaryKey"`
}

// reservedClientID is the MQTT client id of mochi's inline client, through which the hub
// publishes; a device with that id would take over its session.
const reservedClientID = "inline"

// Limits on identities (Azure's).
const (
	maxDeviceIDLen     = 128
	maxStatusReasonLen = 128
)

// ValidateDeviceID checks Azure's device id rules: 1 to 128 characters, ASCII letters,
// digits and - : . + % _ # * ? ! ( ) , = @ ; $ '.
func ValidateDeviceID(id string) error {
	if id == "" {
		return errInvalid("device id is empty; give 1 to %d characters", maxDeviceIDLen)
	}
	if len(id) > maxDeviceIDLen {
		return errInvalid("device id %.20q... is %d characters long; the limit is %d", id, len(id), maxDeviceIDLen)
	}
	if id == reservedClientID {
		return errInvalid("device id %q is reserved by the hub's MQTT broker; choose another", id)
	}
	for i := 0; i < len(id); i++ {
		if !deviceIDChar(id[i]) {
			return errInvalid("device id %q: %q is not allowed; use letters, digits and - : . + %% _ # * ? ! ( ) , = @ ; $ '", id, rune(id[i]))
		}
	}
	return nil
}

func deviceIDChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', ':', '.', '+', '%', '_', '#', '*', '?', '!', '(', ')', ',', '=', '@', ';', '$', '\'':
		return true
	}
	return false
}

// validateKey checks a base64 symmetric key of 16 to 64 bytes.
func validateKey(which, k string) error {
	b, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return errInvalid("%s key is not base64 (%v); leave it empty to have one generated", which, err)
	}
	if len(b) < 16 || len(b) > 64 {
		return errInvalid("%s key is %d bytes; it must be 16 to 64 bytes (base64); leave it empty to have one generated", which, len(b))
	}
	return nil
}

// newGenerationID returns a numeric generation id as Azure's look ("638672...").
func newGenerationID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(now.UnixNano()/100, 10)[:15] + fmt.Sprintf("%03d", int(binary.BigEndian.Uint16(b[:]))%1000)
}

// newIdentityEtag returns an etag for a new version of an identity: base64 of 8 random
// bytes, so it changes on every update and differs between lives of one id.
func newIdentityEtag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// registry is the in-memory index of identities. The store holds the truth; the twin
// owners update the index as they apply registry operations.
type registry struct {
	mu  sync.RWMutex
	ids map[string]*Identity // immutable values: replaced, never mutated
}

func (r *registry) get(id string) (*Identity, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	x, ok := r.ids[id]
	return x, ok
}

func (r *registry) put(x *Identity) {
	r.mu.Lock()
	r.ids[x.DeviceID] = x
	r.mu.Unlock()
}

func (r *registry) remove(id string) {
	r.mu.Lock()
	delete(r.ids, id)
	r.mu.Unlock()
}

func (r *registry) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.ids)
}

// list returns up to limit identities with ids after `after`, sorted, and the id to pass
// as `after` for the next page ("" when this is the last page).
func (r *registry) list(after string, limit int) ([]Identity, string) {
	r.mu.RLock()
	ids := make([]string, 0, len(r.ids))
	for id := range r.ids {
		if id > after {
			ids = append(ids, id)
		}
	}
	r.mu.RUnlock()
	slices.Sort(ids)
	next := ""
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	out := make([]Identity, 0, len(ids))
	r.mu.RLock()
	for _, id := range ids {
		if x, ok := r.ids[id]; ok {
			out = append(out, *x)
		}
	}
	r.mu.RUnlock()
	return out, next
}
