package twin

import "unsafe"

// UnmarshalJSON reads the form MarshalJSON writes (and Azure's REST twin JSON). Unknown
// members are ignored; the property values are not checked against the patch rules.
// $metadata times outside the years 1678–2262 are clamped to them. On error d is
// unchanged.
func (d *Doc) UnmarshalJSON(b []byte) error {
	dec := Decoder{single: true}
	return dec.Decode(b, d)
}

// Decoder reads twins as (*Doc).UnmarshalJSON does, for reading many twins (a fleet
// listing): it keeps its buffers from one twin to the next, and the twins it reads share
// their member names and short string values (an interned copy of each, up to 16,384
// distinct strings), which makes them smaller and quicker to read. Its zero value is
// ready to use; it is not safe for concurrent use (give each goroutine its own).
type Decoder struct {
	// ShareValues makes equal objects in the tags and property values, and equal
	// sections' values (up to 512 bytes of JSON, 4,096 of each) one map shared by every
	// twin this Decoder reads. It is for
	// twins that are never written in place: before Patch, Replace or ApplyChange on
	// one, give it its own copy of the section (Clone), as twinclient's Fleet does.
	ShareValues bool

	stack, done []metaNode           // see docReader
	keys        []string             // decoder.recKeys
	strs        map[string]string    // decoder.intern
	objs        map[string]sharedObj // decoder.share
	roots       map[string]sharedObj // sections' values (docReader.sharedRoot)
	single      bool                 // reading one twin (UnmarshalJSON): no interning
}

// Decode reads the twin in b into d, as d.UnmarshalJSON(b) would. b must not change
// while Decode runs; d keeps no reference to it.
func (dec *Decoder) Decode(b []byte, d *Doc) error {
	var r docReader
	dec.start(&r, b)
	var nd Doc
	if err := r.next(&nd); err != nil {
		return err
	}
	if r.ws(); r.pos < len(r.data) {
		r.fail("unexpected text after the JSON object")
		return r.err
	}
	*d = nd
	return nil
}

// DecodeArray reads b, a JSON array of twins (the items of a query page), calling fn
// with each twin in turn; it stops at the first error. b must not change while it runs;
// the twins keep no reference to it.
func (dec *Decoder) DecodeArray(b []byte, fn func(*Doc)) error {
	var r docReader
	dec.start(&r, b)
	if r.ws(); r.pos >= len(r.data) || r.data[r.pos] != '[' {
		r.fail("expected an array of twins")
		return r.err
	}
	r.pos++
	if r.ws(); r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
	} else {
		for {
			d := new(Doc)
			if err := r.next(d); err != nil {
				return err
			}
			fn(d)
			if r.ws(); r.pos >= len(r.data) || (r.data[r.pos] != ',' && r.data[r.pos] != ']') {
				r.fail("expected ',' or ']' after a twin")
				return r.err
			}
			r.pos++
			if r.data[r.pos-1] == ']' {
				break
			}
			r.ws()
		}
	}
	if r.ws(); r.pos < len(r.data) {
		r.fail("unexpected text after the array")
		return r.err
	}
	return nil
}

// start sets r up to read b with the decoder's buffers and tables.
func (dec *Decoder) start(r *docReader, b []byte) {
	if dec.done == nil {
		// a metadata node comes with about 64 bytes of JSON or more (its $lastUpdated); a
		// Decoder kept for many twins starts with room for a few large ones
		n := 256
		if dec.single {
			n = min(len(b)/64+2, n)
		} else {
			dec.strs = make(map[string]string, 256)
		}
		dec.stack, dec.done = make([]metaNode, 0, min(n, 16)), make([]metaNode, 0, n)
	}
	if dec.ShareValues && dec.objs == nil {
		dec.objs, dec.roots = make(map[string]sharedObj, 64), make(map[string]sharedObj, 64)
	}
	// every string kept is a copy (copyStrings), so src may alias b
	*r = docReader{decoder: decoder{data: b, src: unsafe.String(unsafe.SliceData(b), len(b))}, Decoder: dec}
	r.copyStrings, r.measure = true, true
	r.decoder.intern, r.decoder.share = dec.strs, dec.objs
}

// next reads the twin at r.pos into nd and returns the first error.
func (r *docReader) next(nd *Doc) error {
	r.decoder.recKeys, r.recPos = r.Decoder.keys[:0], 0
	r.roots, r.lent, r.bad = [2]int32{}, [2]bool{}, nil
	r.readDoc(nd)
	r.Decoder.keys = r.decoder.recKeys[:0]
	clear(r.done) // keys of the twin just read
	r.stack, r.done = r.stack[:0], r.done[:0]
	if r.err != nil {
		return r.err
	}
	return r.bad
}
