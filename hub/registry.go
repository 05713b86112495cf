package hub

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/twinops/twinops/sas"
	"github.com/twinops/twinops/twin"
)

// Registry operations run on the owner of the device's twin, so that an identity and its
// twin change together and in order with the twin's other writes; each returns once the
// change is durable.

// CreateDevice creates an identity and its twin. DeviceID is required; Status defaults to
// enabled; empty keys are generated (32 random bytes each).
func (h *Hub) CreateDevice(ctx context.Context, x Identity) (Identity, error) {
	if err := ValidateDeviceID(x.DeviceID); err != nil {
		return Identity{}, err
	}
	if err := normalizeIdentity(&x); err != nil {
		return Identity{}, err
	}
	now := h.now()
	x.GenerationID = newGenerationID(now)
	x.Etag = newIdentityEtag()
	x.StatusUpdatedTime = now
	x.ConnectionState = "Disconnected"
	x.LastActivityTime, x.ConnectionStateUpdatedTime = time.Time{}, time.Time{}
	return h.registryOp(ctx, x.DeviceID, func(tx *txn) (*Identity, string, error) {
		if tx.s.docs[x.DeviceID] != nil {
			return nil, "", &Error{Status: 409, Code: CodeDeviceAlreadyExists,
				Message: "device " + quote(x.DeviceID) + " already exists; choose another id or delete it first"}
		}
		d := twin.New(x.DeviceID, now)
		mirrorIdentity(d, &x)
		tx.s.docs[x.DeviceID] = d
		tx.markDirty(x.DeviceID)
		nx := x
		return &nx, "created", nil
	})
}

// normalizeIdentity fills defaults and checks status, reason and keys.
func normalizeIdentity(x *Identity) error {
	if x.Status == "" {
		x.Status = StatusEnabled
	}
	if x.Status != StatusEnabled && x.Status != StatusDisabled {
		return errInvalid("status %q is not enabled or disabled", x.Status)
	}
	if len(x.StatusReason) > maxStatusReasonLen {
		return errInvalid("statusReason is %d characters; the limit is %d", len(x.StatusReason), maxStatusReasonLen)
	}
	x.Authentication.Type = "sas"
	k := &x.Authentication.SymmetricKey
	for _, p := range []struct {
		name string
		key  *string
	}{{"primary", &k.PrimaryKey}, {"secondary", &k.SecondaryKey}} {
		if *p.key == "" {
			nk, err := newKey()
			if err != nil {
				return errInternal("%v", err)
			}
			*p.key = nk
			continue
		}
		if err := validateKey(p.name, *p.key); err != nil {
			return err
		}
	}
	return nil
}

// mirrorIdentity copies the identity fields a twin shows.
func mirrorIdentity(d *twin.Doc, x *Identity) {
	d.DeviceEtag = x.Etag
	d.Status = x.Status
	d.StatusReason = x.StatusReason
	d.StatusUpdateTime = x.StatusUpdatedTime
}

// registryOp runs op on the owner of id; op returns the identity to store (nil to delete
// it) and the identity event to publish. The call returns when the change is durable.
func (h *Hub) registryOp(ctx context.Context, id string, op func(tx *txn) (*Identity, string, error)) (Identity, error) {
	type res struct {
		x   Identity
		err error
	}
	done := make(chan res, 1)
	ok := h.submitPriority(id, func(tx *txn) {
		x, kind, err := op(tx)
		if err != nil {
			done <- res{err: err}
			return
		}
		w := kv{Key: identKey(id)}
		if x != nil {
			w.Value = marshalIdentity(x)
			h.reg.put(x)
		} else {
			h.reg.remove(id)
		}
		tx.writes = append(tx.writes, w)
		if kind == "deleted" || x.Status == StatusDisabled {
			tx.afterApply(func() {
				h.disconnectDevice(id, errDisabled)
				if kind == "deleted" {
					h.dropSession(id)
				}
			})
		}
		var out Identity
		if x != nil {
			out = *x
		}
		now := h.now()
		tx.afterCommit(func(err error) {
			if err != nil {
				done <- res{err: errInternal("the registry change for %q could not be stored (%v)", id, err)}
				return
			}
			done <- res{x: out}
			h.events.identity(&IdentityEvent{DeviceID: id, Op: kind, Identity: out, Time: now})
		})
	})
	if !ok {
		return Identity{}, h.refusal()
	}
	r, err := wait(ctx, h, done)
	if err != nil {
		return Identity{}, err
	}
	return r.x, r.err
}

// GetDevice returns the identity of device id, with its connection state and last
// activity.
func (h *Hub) GetDevice(ctx context.Context, id string) (Identity, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, err
	}
	x, ok := h.reg.get(id)
	if !ok {
		return Identity{}, errNotFound(id)
	}
	return h.liveIdentity(*x), nil
}

// liveIdentity fills the fields kept on the twin (connection state, last activity).
func (h *Hub) liveIdentity(x Identity) Identity {
	s := h.shardFor(x.DeviceID)
	s.mu.RLock()
	if d := s.docs[x.DeviceID]; d != nil {
		x.ConnectionState = d.ConnectionState
		x.LastActivityTime = d.LastActivityTime
	}
	s.mu.RUnlock()
	return x
}

// ListDevices returns up to limit identities (sorted by id) with ids after `after`, and
// the id to pass as `after` for the next page ("" on the last page). limit <= 0 means 1000.
func (h *Hub) ListDevices(ctx context.Context, after string, limit int) ([]Identity, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = 1000
	}
	xs, next := h.reg.list(after, limit)
	for i := range xs {
		xs[i] = h.liveIdentity(xs[i])
	}
	return xs, next, nil
}

// UpdateDevice changes an identity's status, status reason and keys (empty keys are kept)
// if etag ("" or "*" for any) is its current etag. Disabling a connected device
// disconnects it.
func (h *Hub) UpdateDevice(ctx context.Context, x Identity, etag string) (Identity, error) {
	id := x.DeviceID
	if err := ValidateDeviceID(id); err != nil {
		return Identity{}, err
	}
	return h.registryOp(ctx, id, func(tx *txn) (*Identity, string, error) {
		cur, d, err := h.currentIdentity(tx, id, etag)
		if err != nil {
			return nil, "", err
		}
		nx := *cur
		if x.Status != "" && x.Status != nx.Status {
			nx.Status = x.Status
			nx.StatusUpdatedTime = h.now()
		}
		nx.StatusReason = x.StatusReason
		if k := x.Authentication.SymmetricKey.PrimaryKey; k != "" {
			nx.Authentication.SymmetricKey.PrimaryKey = k
		}
		if k := x.Authentication.SymmetricKey.SecondaryKey; k != "" {
			nx.Authentication.SymmetricKey.SecondaryKey = k
		}
		if err := normalizeIdentity(&nx); err != nil {
			return nil, "", err
		}
		nx.Etag = newIdentityEtag()
		mirrorIdentity(d, &nx)
		tx.markDirty(id)
		return &nx, "updated", nil
	})
}

// currentIdentity returns the identity and twin of id after checking etag.
func (h *Hub) currentIdentity(tx *txn, id, etag string) (*Identity, *twin.Doc, error) {
	d := tx.s.docs[id]
	cur, ok := h.reg.get(id)
	if d == nil || !ok {
		return nil, nil, errNotFound(id)
	}
	if etag != "" && etag != "*" && unquote(etag) != cur.Etag {
		return nil, nil, errPrecondition("etag %q is stale: the identity of %q is now at etag %q; get it and retry", etag, id, cur.Etag)
	}
	return cur, d, nil
}

// DeleteDevice deletes an identity and its twin if etag ("" or "*" for any) is the
// identity's etag, disconnects the device and forgets its session.
func (h *Hub) DeleteDevice(ctx context.Context, id, etag string) error {
	_, err := h.registryOp(ctx, id, func(tx *txn) (*Identity, string, error) {
		if _, _, err := h.currentIdentity(tx, id, etag); err != nil {
			return nil, "", err
		}
		delete(tx.s.docs, id)
		delete(tx.s.touched, id)
		tx.markDirty(id)
		return nil, "deleted", nil
	})
	return err
}

// RegenerateKey replaces the primary or secondary key of device id with a new random one
// ("swap" exchanges them).
func (h *Hub) RegenerateKey(ctx context.Context, id, which string) (Identity, error) {
	which = strings.ToLower(which)
	if which != "primary" && which != "secondary" && which != "swap" {
		return Identity{}, errInvalid("key %q: say primary, secondary or swap", which)
	}
	nk, err := newKey()
	if err != nil {
		return Identity{}, errInternal("%v", err)
	}
	return h.registryOp(ctx, id, func(tx *txn) (*Identity, string, error) {
		cur, d, err := h.currentIdentity(tx, id, "")
		if err != nil {
			return nil, "", err
		}
		nx := *cur
		k := &nx.Authentication.SymmetricKey
		switch which {
		case "primary":
			k.PrimaryKey = nk
		case "secondary":
			k.SecondaryKey = nk
		default:
			k.PrimaryKey, k.SecondaryKey = k.SecondaryKey, k.PrimaryKey
		}
		nx.Etag = newIdentityEtag()
		mirrorIdentity(d, &nx)
		tx.markDirty(id)
		return &nx, "updated", nil
	})
}

// DeviceConnectionString returns HostName=...;DeviceId=...;SharedAccessKey=<primary>.
func (h *Hub) DeviceConnectionString(ctx context.Context, id string) (string, error) {
	x, err := h.GetDevice(ctx, id)
	if err != nil {
		return "", err
	}
	cs := sas.ConnectionString{HostName: h.cfg.Hostname, DeviceID: id, SharedAccessKey: x.Authentication.SymmetricKey.PrimaryKey}
	return cs.String(), nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
