package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/twinops/twinops/twin"
)

// decodeRequest unmarshals a request body (empty means {}) into v, or says what is wrong.
func decodeRequest(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Status: 400, Code: twin.CodeMalformed,
			Message: fmt.Sprintf("the request body is not the expected JSON object (%v); see docs/PROTOCOL.md", err)}
	}
	return nil
}

type svcIDReq struct {
	DeviceID string `json:"deviceId"`
	Etag     string `json:"etag"`
	Key      string `json:"key"`
}

func (r svcIDReq) check() error {
	if r.DeviceID == "" {
		return errInvalid("the request has no deviceId; give {\"deviceId\":\"...\"}")
	}
	return nil
}

func decodeIDReq(body []byte) (svcIDReq, error) {
	var r svcIDReq
	if err := decodeRequest(body, &r); err != nil {
		return r, err
	}
	return r, r.check()
}

func (h *Hub) svcTwinGet(ctx context.Context, body []byte) (int, []byte, error) {
	r, err := decodeIDReq(body)
	if err != nil {
		return 0, nil, err
	}
	d, err := h.GetTwin(ctx, r.DeviceID)
	if err != nil {
		return 0, nil, err
	}
	return 200, d.AppendJSON(nil), nil
}

// svcTwinWrite is the body of twin.patch and twin.replace (flat, or Azure's
// {"tags":..,"properties":{"desired":..}} shape).
type svcTwinWrite struct {
	DeviceID   string          `json:"deviceId"`
	Etag       string          `json:"etag"`
	Tags       json.RawMessage `json:"tags"`
	Desired    json.RawMessage `json:"desired"`
	Reported   json.RawMessage `json:"reported"`
	Properties *struct {
		Desired  json.RawMessage `json:"desired"`
		Reported json.RawMessage `json:"reported"`
	} `json:"properties"`
}

// twinPatch validates the sections of a write with the twin model's rules.
func (w svcTwinWrite) twinPatch() (TwinPatch, error) {
	var p TwinPatch
	if w.DeviceID == "" {
		return p, errInvalid("the request has no deviceId; give {\"deviceId\":\"...\",\"desired\":{...}}")
	}
	desired := w.Desired
	if w.Properties != nil {
		if len(w.Properties.Reported) > 0 {
			w.Reported = w.Properties.Reported
		}
		if len(w.Properties.Desired) > 0 {
			if len(desired) > 0 {
				return p, errInvalid("desired properties given twice (desired and properties.desired); give one")
			}
			desired = w.Properties.Desired
		}
	}
	if len(w.Reported) > 0 {
		return p, errInvalid("reported properties are written by the device only; a service can write tags and desired")
	}
	if len(w.Tags) > 0 && string(w.Tags) != "null" {
		m, terr := twin.ParsePatch(twin.Tags, w.Tags)
		if terr != nil {
			return p, terr
		}
		p.Tags, p.HasTags = m, true
	}
	if len(desired) > 0 && string(desired) != "null" {
		m, terr := twin.ParsePatch(twin.Desired, desired)
		if terr != nil {
			return p, terr
		}
		p.Desired, p.HasDesired = m, true
	}
	if !p.HasTags && !p.HasDesired {
		return p, errInvalid("the write names neither tags nor desired properties; give at least one")
	}
	return p, nil
}

func (h *Hub) svcTwinPatch(ctx context.Context, body []byte) (int, []byte, error) {
	return h.svcTwinWriteOp(ctx, body, h.PatchTwin)
}

func (h *Hub) svcTwinReplace(ctx context.Context, body []byte) (int, []byte, error) {
	return h.svcTwinWriteOp(ctx, body, h.ReplaceTwin)
}

func (h *Hub) svcTwinWriteOp(ctx context.Context, body []byte,
	write func(context.Context, string, TwinPatch, string) (*twin.Doc, error)) (int, []byte, error) {
	var w svcTwinWrite
	if err := decodeRequest(body, &w); err != nil {
		return 0, nil, err
	}
	p, err := w.twinPatch()
	if err != nil {
		return 0, nil, err
	}
	d, err := write(ctx, w.DeviceID, p, w.Etag)
	if err != nil {
		return 0, nil, err
	}
	return 200, d.AppendJSON(nil), nil
}

// svcIdentityWrite is the body of device.create and device.update.
type svcIdentityWrite struct {
	DeviceID       string  `json:"deviceId"`
	Etag           string  `json:"etag"`
	Status         string  `json:"status"`
	StatusReason   *string `json:"statusReason"`
	Authentication *struct {
		SymmetricKey SymmetricKey `json:"symmetricKey"`
	} `json:"authentication"`
}

func (w svcIdentityWrite) identity() Identity {
	x := Identity{DeviceID: w.DeviceID, Status: w.Status}
	if w.StatusReason != nil {
		x.StatusReason = *w.StatusReason
	}
	if w.Authentication != nil {
		x.Authentication.SymmetricKey = w.Authentication.SymmetricKey
	}
	return x
}

func identityBody(x Identity) (int, []byte, error) {
	b, err := json.Marshal(x)
	if err != nil {
		return 0, nil, errInternal("encoding identity: %v", err)
	}
	return 200, b, nil
}

func (h *Hub) svcDeviceCreate(ctx context.Context, body []byte) (int, []byte, error) {
	var w svcIdentityWrite
	if err := decodeRequest(body, &w); err != nil {
		return 0, nil, err
	}
	if w.DeviceID == "" {
		return 0, nil, errInvalid("the request has no deviceId; give {\"deviceId\":\"...\"}")
	}
	x, err := h.CreateDevice(ctx, w.identity())
	if err != nil {
		return 0, nil, err
	}
	return identityBody(x)
}

func (h *Hub) svcDeviceGet(ctx context.Context, body []byte) (int, []byte, error) {
	r, err := decodeIDReq(body)
	if err != nil {
		return 0, nil, err
	}
	x, err := h.GetDevice(ctx, r.DeviceID)
	if err != nil {
		return 0, nil, err
	}
	return identityBody(x)
}

func (h *Hub) svcDeviceList(ctx context.Context, body []byte) (int, []byte, error) {
	var r struct {
		PageSize     int    `json:"pageSize"`
		Continuation string `json:"continuation"`
	}
	if err := decodeRequest(body, &r); err != nil {
		return 0, nil, err
	}
	size, err := pageSize(r.PageSize)
	if err != nil {
		return 0, nil, err
	}
	xs, next, err := h.ListDevices(ctx, r.Continuation, size)
	if err != nil {
		return 0, nil, err
	}
	if xs == nil {
		xs = []Identity{}
	}
	b, err := json.Marshal(struct {
		Items        []Identity `json:"items"`
		Continuation string     `json:"continuation,omitempty"`
	}{xs, next})
	if err != nil {
		return 0, nil, errInternal("encoding identities: %v", err)
	}
	return 200, b, nil
}

// pageSize checks a requested page size: 0 means 100, at most 1000.
func pageSize(n int) (int, error) {
	switch {
	case n == 0:
		return 100, nil
	case n < 0 || n > 1000:
		return 0, errInvalid("pageSize %d is out of range; give 1 to 1000 (default 100)", n)
	}
	return n, nil
}

// svcDeviceUpdate changes the fields the request gives and keeps the others.
func (h *Hub) svcDeviceUpdate(ctx context.Context, body []byte) (int, []byte, error) {
	var w svcIdentityWrite
	if err := decodeRequest(body, &w); err != nil {
		return 0, nil, err
	}
	if w.DeviceID == "" {
		return 0, nil, errInvalid("the request has no deviceId; give {\"deviceId\":\"...\",\"status\":\"disabled\"}")
	}
	if w.Status != "" && w.Status != StatusEnabled && w.Status != StatusDisabled {
		return 0, nil, errInvalid("status %q: give enabled or disabled", w.Status)
	}
	x := w.identity()
	if w.StatusReason == nil {
		cur, err := h.GetDevice(ctx, w.DeviceID)
		if err != nil {
			return 0, nil, err
		}
		x.StatusReason = cur.StatusReason
	}
	out, err := h.UpdateDevice(ctx, x, w.Etag)
	if err != nil {
		return 0, nil, err
	}
	return identityBody(out)
}

func (h *Hub) svcDeviceDelete(ctx context.Context, body []byte) (int, []byte, error) {
	r, err := decodeIDReq(body)
	if err != nil {
		return 0, nil, err
	}
	if err := h.DeleteDevice(ctx, r.DeviceID, r.Etag); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (h *Hub) svcDeviceRegenerateKey(ctx context.Context, body []byte) (int, []byte, error) {
	r, err := decodeIDReq(body)
	if err != nil {
		return 0, nil, err
	}
	if r.Key == "" {
		return 0, nil, errInvalid("the request has no key; give \"key\":\"primary\", \"secondary\" or \"swap\"")
	}
	x, err := h.RegenerateKey(ctx, r.DeviceID, r.Key)
	if err != nil {
		return 0, nil, err
	}
	return identityBody(x)
}

func (h *Hub) svcDeviceConnectionString(ctx context.Context, body []byte) (int, []byte, error) {
	r, err := decodeIDReq(body)
	if err != nil {
		return 0, nil, err
	}
	cs, err := h.DeviceConnectionString(ctx, r.DeviceID)
	if err != nil {
		return 0, nil, err
	}
	b, _ := json.Marshal(map[string]string{"connectionString": cs})
	return 200, b, nil
}

// svcHubInfo answers hub.info: host, counts, this connection's policy and rights, and the
// event-stream positions (read under the same lock that numbers events, so that every
// event after them reaches a client already subscribed).
func (h *Hub) svcHubInfo(c *conn) (int, []byte, error) {
	s := h.service()
	devices, connected := 0, 0
	h.forEachTwin(func(d *twin.Doc) bool {
		devices++
		if d.ConnectionState == "Connected" {
			connected++
		}
		return true
	})
	var rights []string
	for _, n := range rightNames {
		if c.Rights&n.r != 0 {
			rights = append(rights, strings.ToLower(n.name[:1])+n.name[1:])
		}
	}
	s.mu.Lock()
	seq := map[string]int64{"twin": s.seq[0], "connection": s.seq[1], "identity": s.seq[2]}
	s.mu.Unlock()
	b, err := json.Marshal(map[string]any{
		"hostname": h.cfg.Hostname, "version": hubVersion, "epoch": s.epoch,
		"policy": c.Policy, "rights": rights, "devices": devices, "connected": connected,
		"time": h.now().UTC(), "seq": seq,
	})
	if err != nil {
		return 0, nil, errInternal("encoding hub info: %v", err)
	}
	return 200, b, nil
}
