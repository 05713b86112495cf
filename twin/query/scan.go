package query

import (
	"runtime"
	"sync"

	"github.com/twinops/twinops/twin"
)

// minChunk is the fewest twins worth handing to a goroutine of their own.
const minChunk = 4096

// parallel splits docs into contiguous parts, one per available core (at most), and calls
// work(i, part) for each on its own goroutine, returning once all are done. It returns
// the number of parts; part i precedes part i+1 in docs. Small inputs run inline.
func parallel(docs []*twin.Doc, work func(i int, part []*twin.Doc)) int {
	n := min(runtime.GOMAXPROCS(0), len(docs)/minChunk)
	if n <= 1 {
		work(0, docs)
		return 1
	}
	var wg sync.WaitGroup
	size := (len(docs) + n - 1) / n
	for i := range n {
		part := docs[i*size : min((i+1)*size, len(docs))]
		wg.Go(func() { work(i, part) })
	}
	wg.Wait()
	return n
}

// matching returns the docs that pass the WHERE condition, in input order.
func (q *Query) matching(docs []*twin.Doc) []*twin.Doc {
	if q.match == nil {
		return docs
	}
	parts := make([][]*twin.Doc, runtime.GOMAXPROCS(0))
	n := parallel(docs, func(i int, part []*twin.Doc) {
		var hits []*twin.Doc
		for _, d := range part {
			if q.match(d).isTrue() {
				hits = append(hits, d)
			}
		}
		parts[i] = hits
	})
	if n == 1 {
		return parts[0]
	}
	var hits []*twin.Doc
	for _, p := range parts[:n] {
		hits = append(hits, p...)
	}
	return hits
}
