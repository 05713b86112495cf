package hub

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/twin/query"
)

// Page is one page of a query's answer. Items are JSON-marshalable: *twin.Doc copies for
// SELECT *, json.RawMessage rows for projections and aggregates. Continuation is "" on the
// last page.
type Page struct {
	Items        []any
	Continuation string
	ItemType     string
}

const (
	maxQueryLen = 8192
	maxCursors  = 32
	cursorTTL   = 5 * time.Minute
)

// cursor is the sorted list of device ids a query matched when its first page was read;
// later pages walk it, re-checking each twin, so a page costs only its own rows. Paging is
// not a snapshot (as in IoT Hub): a twin shows its state when its page is read.
type cursor struct {
	ids  []string
	base int // the query's position of ids[0]: continuations count from the first page
	used time.Time
}

// cursorCache keeps the cursors of recent queries. Its zero value is ready.
type cursorCache struct {
	mu sync.Mutex
	m  map[string]*cursor
}

func (cc *cursorCache) get(token string, now time.Time) *cursor {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	c := cc.m[token]
	if c != nil {
		c.used = now
	}
	return c
}

func (cc *cursorCache) put(c *cursor, now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil {
		cc.m = map[string]*cursor{}
	}
	var oldest string
	for t, x := range cc.m {
		if now.Sub(x.used) > cursorTTL {
			delete(cc.m, t)
		} else if oldest == "" || x.used.Before(cc.m[oldest].used) {
			oldest = t
		}
	}
	if len(cc.m) >= maxCursors && oldest != "" {
		delete(cc.m, oldest)
	}
	c.used = now
	cc.m[token] = c
	return token
}

func (cc *cursorCache) drop(token string) {
	cc.mu.Lock()
	delete(cc.m, token)
	cc.mu.Unlock()
}

// Query runs an IoT Hub query (twin/query) and returns one page: pageSize rows (0 means
// 100, at most 1000) after continuation ("" for the first page). Aggregates come in one
// page.
func (h *Hub) Query(ctx context.Context, q string, pageSize int, continuation string) (Page, error) {
	var pg Page
	err := h.queryPage(ctx, q, pageSize, continuation, &pg.ItemType, &pg.Continuation, func(d *twin.Doc, row any) error {
		if d != nil {
			pg.Items = append(pg.Items, d.Clone())
			return nil
		}
		b, err := json.Marshal(row)
		pg.Items = append(pg.Items, json.RawMessage(b))
		return err
	})
	return pg, err
}

// svcQuery answers the query operation, writing twins straight into the answer.
func (h *Hub) svcQuery(ctx context.Context, body []byte) (int, []byte, error) {
	var r struct {
		Query        string `json:"query"`
		PageSize     int    `json:"pageSize"`
		Continuation string `json:"continuation"`
	}
	if err := decodeRequest(body, &r); err != nil {
		return 0, nil, err
	}
	size := r.PageSize
	if size <= 0 || size > 1000 {
		size = 100
	}
	out := make([]byte, 0, 64<<10) // a page of twins is sized from its first twin (below)
	out = append(out, `{"items":[`...)
	n := 0
	var itemType, next string
	err := h.queryPage(ctx, r.Query, r.PageSize, r.Continuation, &itemType, &next, func(d *twin.Doc, row any) error {
		if n > 0 {
			out = append(out, ',')
		}
		n++
		if d != nil {
			out = d.AppendJSON(out)
			if n == 1 { // size the answer from its first twin rather than re-growing it
				if need := min(len(out)*size*9/8, 16<<20); cap(out) < need {
					out = slices.Grow(out, need-len(out))
				}
			}
			return nil
		}
		b, err := json.Marshal(row)
		out = append(out, b...)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	out = append(out, ']')
	if next != "" {
		out = append(out, `,"continuation":`...)
		out = strconv.AppendQuote(out, next)
	}
	out = append(out, `,"itemType":`...)
	out = strconv.AppendQuote(out, itemType)
	return 200, append(out, '}'), nil
}

// queryPage runs one page of q and calls emit for each row, under the twin's shard read
// lock: with the twin itself for SELECT * (emit must not keep it), or with a row value for
// projections and aggregates (d nil).
func (h *Hub) queryPage(ctx context.Context, src string, size int, cont string, itemType, next *string,
	emit func(d *twin.Doc, row any) error) error {
	if strings.TrimSpace(src) == "" {
		return errInvalid("the request has no query; give e.g. {\"query\":\"SELECT * FROM devices\"}")
	}
	if len(src) > maxQueryLen {
		return errInvalid("the query is %d characters long; the limit is %d", len(src), maxQueryLen)
	}
	size, err := pageSize(size)
	if err != nil {
		return err
	}
	q, err := query.Parse(src)
	if err != nil {
		return errInvalid("query: %v", err)
	}
	if q.SelectAll() {
		*itemType = query.ItemTwin
	} else {
		*itemType = query.ItemRaw
	}
	if q.Aggregate() {
		return h.queryAggregate(q, emit)
	}
	token, offset, base, ids, err := h.cursorFor(q, cont)
	if err != nil {
		return err
	}
	i := offset
	for n := 0; i < len(ids) && n < size; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		ok, err := h.emitRow(q, ids[i], emit)
		if err != nil {
			return errInternal("encoding a query row: %v", err)
		}
		if ok {
			n++
		}
	}
	s := &h.svc
	if i < len(ids) {
		if token == "" {
			token = s.cursors.put(&cursor{ids: ids, base: base}, h.now())
		}
		*next = encodeContinuation(token, base+i, ids[i-1])
	} else if token != "" {
		s.cursors.drop(token)
	}
	return nil
}

// emitRow emits twin id if it still exists and matches.
func (h *Hub) emitRow(q *query.Query, id string, emit func(*twin.Doc, any) error) (bool, error) {
	sh := h.shardFor(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	d := sh.docs[id]
	if d == nil || !q.Match(d) {
		return false, nil
	}
	if q.SelectAll() {
		return true, emit(d, nil)
	}
	return true, emit(nil, q.Project(d))
}

// queryAggregate runs an aggregate over every twin, shard by shard over their column
// indexes (hub/query_index.go), and merges the groups; rows hold nothing of a twin.
func (h *Hub) queryAggregate(q *query.Query, emit func(*twin.Doc, any) error) error {
	for _, row := range h.queryGroups(q) {
		if err := emit(nil, row); err != nil {
			return errInternal("encoding a query row: %v", err)
		}
	}
	return nil
}

// cursorFor returns the ids to page through and where to start: from a cached cursor,
// or, for a first page or an expired cursor, from a fresh scan (ids after the last one
// the previous page returned). offset indexes ids; base is the query's position of ids[0]
// (the ids a continuation already went past), so that TOP holds across a fresh scan.
func (h *Hub) cursorFor(q *query.Query, cont string) (token string, offset, base int, ids []string, err error) {
	after := ""
	if cont != "" {
		tok, off, last, ok := decodeContinuation(cont)
		if !ok {
			return "", 0, 0, nil, errInvalid("continuation %q is not one this hub gave; start the query again without it", cont)
		}
		if c := h.svc.cursors.get(tok, h.now()); c != nil && off >= c.base && off-c.base <= len(c.ids) {
			return tok, off - c.base, c.base, c.ids, nil
		}
		after, base = last, off
	}
	ids = h.queryIDs(q, after)
	slices.Sort(ids)
	if top := q.Top(); top >= 0 && len(ids) > max(top-base, 0) {
		ids = ids[:max(top-base, 0)]
	}
	return "", 0, base, ids, nil
}

func encodeContinuation(token string, offset int, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(token + ":" + strconv.Itoa(offset) + ":" + last))
}

func decodeContinuation(s string) (token string, offset int, last string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", 0, "", false
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 {
		return "", 0, "", false
	}
	offset, err = strconv.Atoi(parts[1])
	if err != nil || offset < 0 {
		return "", 0, "", false
	}
	return parts[0], offset, parts[2], true
}
