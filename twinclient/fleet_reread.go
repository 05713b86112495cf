package twinclient

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twinops/twinops/twin"
)

// reread fetches the twins whose changes were missed. What it reads is at least as new as
// every event applied so far (those arrived before the request went out), so it replaces
// what is held; a twin that is not there any more is dropped. A few are read one by one;
// more (a burst of new devices) by queries of up to rereadChunk ids each.
func (f *Fleet) reread(ids map[string]struct{}) error {
	if len(ids) == 0 {
		return nil
	}
	defer f.signal()
	if len(ids) <= 3 {
		for id := range ids {
			if err := f.rereadOne(id); err != nil {
				return err
			}
		}
		return nil
	}
	var chunk []string
	size := 0
	for id := range ids {
		chunk = append(chunk, id)
		size += len(id) + 4
		if len(chunk) == rereadChunk || size > 6000 {
			if err := f.rereadMany(chunk); err != nil {
				return err
			}
			chunk, size = chunk[:0], 0
		}
	}
	return f.rereadMany(chunk)
}

// rereadChunk is how many twins one re-read query asks for (the query stays under the
// hub's 8,192-character limit by also counting characters).
const rereadChunk = 500

func (f *Fleet) rereadOne(id string) error {
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	d, err := f.svc.GetTwin(ctx, id)
	cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case IsStatus(err, 404):
		f.removeLocked(id)
	case err != nil:
		return fmt.Errorf("re-reading twin %q: %w", id, err)
	default:
		f.installLocked(id, d)
	}
	return nil
}

// rereadMany reads the twins ids with SELECT * FROM devices WHERE deviceId IN [...].
func (f *Fleet) rereadMany(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString("SELECT * FROM devices WHERE deviceId IN [")
	for i, id := range ids {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(queryString(id))
	}
	q.WriteByte(']')
	got := make(map[string]*twin.Doc, len(ids))
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	cont := ""
	var dec twin.Decoder
	for {
		p, err := f.svc.rawPage(ctx, q.String(), 1000, cont)
		if err != nil {
			return fmt.Errorf("re-reading %d twins: %w", len(ids), err)
		}
		for _, raw := range p.Items {
			d := new(twin.Doc)
			if err := dec.Decode(raw, d); err != nil {
				return fmt.Errorf("re-reading twins: a twin the hub sent does not decode: %w", err)
			}
			got[d.DeviceID] = d
		}
		if p.Continuation == "" {
			break
		}
		cont = p.Continuation
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if d := got[id]; d != nil {
			f.installLocked(id, d)
		} else {
			f.removeLocked(id)
		}
	}
	return nil
}

// queryString quotes s as a query string literal.
func queryString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
