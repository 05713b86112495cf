package twinclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/twinops/twinops/twin"
)

// listedPage is one page of the fleet listing: the raw items array, decoded in one pass
// by twin.Decoder.DecodeArray, or (for an answer in another form) the items split.
type listedPage struct {
	array []byte
	items []json.RawMessage
}

// listQuery is the listing's query.
const listQuery = "SELECT * FROM devices"

// fetchListPage asks for one page of the listing and returns it with the continuation.
// The continuation is read from the end of the hub's answer (pageParts), so that the next
// request goes out without scanning the page; the decoding goroutines then read the items
// straight from the answer.
func (f *Fleet) fetchListPage(ctx context.Context, cont string) (listedPage, string, error) {
	body, err := json.Marshal(queryReq{Query: listQuery, PageSize: listPage, Continuation: cont})
	if err != nil {
		return listedPage{}, "", err
	}
	status, resp, err := f.svc.roundTrip(ctx, "query", body)
	if err == nil && (status < 200 || status > 299) {
		err = parseErrorBody(status, resp)
	}
	if err != nil {
		return listedPage{}, "", err
	}
	if items, next, ok := pageParts(resp); ok {
		return listedPage{array: items}, next, nil
	}
	items, next, ok := splitPage(resp)
	if !ok {
		var p QueryPage
		if err := json.Unmarshal(resp, &p); err != nil {
			return listedPage{}, "", fmt.Errorf("query: the hub's answer is not the expected JSON: %w", err)
		}
		return listedPage{items: p.Items}, p.Continuation, nil
	}
	p := listedPage{items: make([]json.RawMessage, len(items))}
	for i, it := range items {
		p.items[i] = it
	}
	return p, next, nil
}

// pageParts recognises an answer in exactly the form the hub writes,
// {"items":[…],"continuation":"TOKEN","itemType":"twin"} (the continuation only when there
// are more pages, TOKEN base64url), and returns the items array and the continuation,
// reading them from both ends of the answer without scanning the items. Its last member
// closes the top-level object, so the continuation found just before it is the
// top-level member. Anything else gives false (the caller then splits the page), and items
// that are not exactly one array fail to decode.
func pageParts(b []byte) (items []byte, cont string, ok bool) {
	const head, tail, key = `{"items":`, `,"itemType":"twin"}`, `,"continuation":`
	if !bytes.HasPrefix(b, []byte(head)) || !bytes.HasSuffix(b, []byte(tail)) {
		return nil, "", false
	}
	end := len(b) - len(tail)
	if end > len(head) && b[end-1] == '"' {
		q := bytes.LastIndexByte(b[:end-1], '"')
		if q < 0 {
			return nil, "", false
		}
		for _, c := range b[q+1 : end-1] {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return nil, "", false
			}
		}
		if !bytes.HasSuffix(b[:q], []byte(key)) {
			return nil, "", false
		}
		cont, end = string(b[q+1:end-1]), q-len(key)
	}
	if end < len(head)+2 || b[len(head)] != '[' || b[end-1] != ']' {
		return nil, "", false
	}
	return b[len(head):end], cont, true
}

// decodePage turns one page into twins with dec.
func decodePage(dec *twin.Decoder, p listedPage) ([]*twin.Doc, error) {
	docs := make([]*twin.Doc, 0, max(len(p.items), listPage))
	if p.array != nil {
		err := dec.DecodeArray(p.array, func(d *twin.Doc) { docs = append(docs, d) })
		return docs, err
	}
	for _, raw := range p.items {
		d := new(twin.Doc)
		if err := dec.Decode(raw, d); err != nil {
			return docs, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}
