package twinclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/twinops/twinops/twin"
)

// Patch is a change to a twin's back-end sections: a merge patch for PatchTwin (null
// deletes a key), whole documents for ReplaceTwin. A nil map leaves that section alone;
// an empty one is sent as {} (for ReplaceTwin: empty the section).
type Patch struct {
	Tags    map[string]any
	Desired map[string]any
}

// twinWriteReq is the body of twin.patch and twin.replace. The sections are pointers so
// that an empty map is sent as {} while a nil one is left out (omitempty drops both).
type twinWriteReq struct {
	DeviceID string          `json:"deviceId"`
	Etag     string          `json:"etag,omitempty"`
	Tags     *map[string]any `json:"tags,omitempty"`
	Desired  *map[string]any `json:"desired,omitempty"`
}

// present is a pointer to m, or nil when m is nil (the section is left out).
func present(m map[string]any) *map[string]any {
	if m == nil {
		return nil
	}
	return &m
}

type idReq struct {
	DeviceID string `json:"deviceId"`
	Etag     string `json:"etag,omitempty"`
	Key      string `json:"key,omitempty"`
}

// GetTwin reads a device's twin.
func (s *Service) GetTwin(ctx context.Context, id string) (*twin.Doc, error) {
	d := new(twin.Doc)
	if err := s.do(ctx, "twin.get", idReq{DeviceID: id}, d); err != nil {
		return nil, err
	}
	return d, nil
}

// PatchTwin merges p into the twin's tags and desired properties if the twin's etag is
// still etag ("" or "*" for any) and returns the twin after the change. A stale etag gives
// an *Error with Status 412 and changes nothing. The answer comes once the change is
// durable on the hub.
func (s *Service) PatchTwin(ctx context.Context, id string, p Patch, etag string) (*twin.Doc, error) {
	return s.writeTwin(ctx, "twin.patch", id, p, etag)
}

// ReplaceTwin replaces the sections of the twin that p sets (tags, desired), under the
// same etag rule as PatchTwin.
func (s *Service) ReplaceTwin(ctx context.Context, id string, p Patch, etag string) (*twin.Doc, error) {
	return s.writeTwin(ctx, "twin.replace", id, p, etag)
}

func (s *Service) writeTwin(ctx context.Context, op, id string, p Patch, etag string) (*twin.Doc, error) {
	if p.Tags == nil && p.Desired == nil {
		return nil, errors.New(op + ": nothing to write; give tags or desired properties")
	}
	d := new(twin.Doc)
	if err := s.do(ctx, op, twinWriteReq{DeviceID: id, Etag: etag, Tags: present(p.Tags), Desired: present(p.Desired)}, d); err != nil {
		return nil, err
	}
	return d, nil
}

// queryReq is the body of query and device.list.
type queryReq struct {
	Query        string `json:"query,omitempty"`
	PageSize     int    `json:"pageSize,omitempty"`
	Continuation string `json:"continuation,omitempty"`
}

// QueryPage is one page of a query's answer.
type QueryPage struct {
	Items        []json.RawMessage `json:"items"`
	Continuation string            `json:"continuation,omitempty"`
	ItemType     string            `json:"itemType,omitempty"`
}

// QueryPage runs one page of an IoT Hub query; pass the previous page's Continuation
// to get the next ("" for the first). pageSize 0 means the hub's default (100).
func (s *Service) QueryPage(ctx context.Context, q string, pageSize int, continuation string) (QueryPage, error) {
	var p QueryPage
	err := s.do(ctx, "query", queryReq{Query: q, PageSize: pageSize, Continuation: continuation}, &p)
	return p, err
}

// rawPage is QueryPage for callers that decode the items themselves: the items are
// sub-slices of the answer, split without a JSON decoding pass.
func (s *Service) rawPage(ctx context.Context, q string, pageSize int, continuation string) (QueryPage, error) {
	body, err := json.Marshal(queryReq{Query: q, PageSize: pageSize, Continuation: continuation})
	if err != nil {
		return QueryPage{}, err
	}
	status, resp, err := s.roundTrip(ctx, "query", body)
	if err != nil {
		return QueryPage{}, err
	}
	if status < 200 || status > 299 {
		return QueryPage{}, parseErrorBody(status, resp)
	}
	items, cont, ok := splitPage(resp)
	if !ok {
		var p QueryPage
		if err := json.Unmarshal(resp, &p); err != nil {
			return QueryPage{}, fmt.Errorf("query: the hub's answer is not the expected JSON: %w", err)
		}
		return p, nil
	}
	p := QueryPage{Continuation: cont, Items: make([]json.RawMessage, len(items))}
	for i, it := range items {
		p.Items[i] = it
	}
	return p, nil
}

// Query runs an IoT Hub query and yields its pages of raw JSON rows (whole twins for
// SELECT *, objects for projections and aggregates) until the last one or an error.
func (s *Service) Query(ctx context.Context, q string, pageSize int) iter.Seq2[[]json.RawMessage, error] {
	return func(yield func([]json.RawMessage, error) bool) {
		cont := ""
		for {
			p, err := s.QueryPage(ctx, q, pageSize, cont)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(p.Items, nil) || p.Continuation == "" {
				return
			}
			cont = p.Continuation
		}
	}
}

// HubInfo is the answer of hub.info: what the status line shows, and the event-stream
// positions used to detect lost events.
type HubInfo struct {
	Hostname  string           `json:"hostname"`
	Version   string           `json:"version"`
	Epoch     string           `json:"epoch"`
	Policy    string           `json:"policy"`
	Rights    []string         `json:"rights"`
	Devices   int              `json:"devices"`
	Connected int              `json:"connected"`
	Time      time.Time        `json:"time"`
	Seq       map[string]int64 `json:"seq"`
}

// HubInfo asks the hub about itself.
func (s *Service) HubInfo(ctx context.Context) (HubInfo, error) {
	var h HubInfo
	err := s.do(ctx, "hub.info", nil, &h)
	return h, err
}
