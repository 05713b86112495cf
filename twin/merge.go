package twin

// A patch is applied in two steps that walk its maps once: merger.check validates it
// against the section and records what merging it does (a list of mergeOp in depth-first
// order); if the result fits the section's limits, applyOps carries the list out. Nothing
// is written before the check has passed, so a rejected patch leaves the twin as it was.

// opKind is what one member of a patch does to the object it is merged into.
type opKind uint8

const (
	opSet    opKind = iota // store a copy of val under key (overwriting what was there)
	opDelete               // remove key (val is null and key was there)
	opEnter                // merge the object val into the object at key: the ops that follow, one level deeper
)

// mergeOp is one recorded member of a checked patch.
type mergeOp struct {
	dst   map[string]any // the object the member goes into; nil: the section root (which applyPatch creates if the section has none yet)
	key   string
	val   any
	kind  opKind
	depth uint8 // nesting of dst: 0 for the section root
	// news is, for opEnter, how many members the merge stores (sets and enters) in the
	// object at key: its $metadata gets room for them at once when it had none.
	news int32
}

// opBufLen is how many ops Patch records without allocating (a device's patch is
// usually a few dozen members at most; more simply moves the list to the heap).
const opBufLen = 24

// merger checks a patch and records its ops.
type merger struct {
	p pathStack
	// trusted skips the key and value rules: the patch was built by the package from
	// a validated document (Replace), and stored keys need not be re-checked.
	trusted bool
}

// merged is what check learns about merging a patch into an object.
type merged struct {
	delta   stats // the change of the object's stats (size, and leaves summed over its members)
	members int   // how many members the object will have
	news    int   // how many members the merge stores (sets and enters)
}

// check validates patch (merged into old, the object at depth depth) in one walk of the
// patch, appends its ops to ops (with a nil dst when depth is 0) and returns them with
// what it learnt. ops is passed and returned, not kept in m, so that Patch can record
// into an array on its stack.
func (m *merger) check(ops []mergeOp, old, patch map[string]any, depth int) ([]mergeOp, merged, *Error) {
	r := merged{members: len(old)}
	d := &r.delta
	dst := old
	if depth == 0 {
		dst = nil
	}
	for k, pv := range patch {
		m.p.push(k, -1)
		if !m.trusted {
			if msg := checkKey(k); msg != "" {
				return ops, r, errInvalid(m.p.String(), "%s", msg)
			}
		}
		if m.p.n > MaxDepth {
			return ops, r, errInvalid(m.p.String(), "nested deeper than %d levels; flatten the value", MaxDepth)
		}
		ov, had := old[k]
		var nv stats
		var err *Error
		switch pv := pv.(type) {
		case nil:
			if had {
				d.size -= charCount(k) + sizeOf(ov, false)
				d.leaves -= leafCount(ov)
				r.members--
				ops = append(ops, mergeOp{dst: dst, key: k, kind: opDelete, depth: uint8(depth)})
			}
			m.p.pop()
			continue
		case map[string]any:
			if om, ok := ov.(map[string]any); ok {
				at := len(ops)
				ops = append(ops, mergeOp{dst: dst, key: k, kind: opEnter, depth: uint8(depth)})
				var sub merged
				if ops, sub, err = m.check(ops, om, pv, depth+1); err != nil {
					return ops, r, err
				}
				ops[at].news = int32(sub.news)
				d.size += sub.delta.size
				d.leaves += objectLeafDelta(len(om), sub.members, sub.delta.leaves)
				r.news++
				m.p.pop()
				continue
			}
			if nv, err = m.value(pv, true); err != nil {
				return ops, r, err
			}
		default:
			if nv, err = m.value(pv, false); err != nil {
				return ops, r, err
			}
		}
		ops = append(ops, mergeOp{dst: dst, key: k, val: pv, kind: opSet, depth: uint8(depth)})
		r.news++
		d.size += nv.size
		d.leaves += nv.leaves
		if had {
			d.size -= sizeOf(ov, false)
			d.leaves -= leafCount(ov)
		} else {
			d.size += charCount(k)
			r.members++
		}
		m.p.pop()
	}
	return ops, r, nil
}

// value is checkValue; for a trusted patch it checks nothing and the stats are not
// computed (Replace has measured the whole document).
func (m *merger) value(v any, skipNull bool) (stats, *Error) {
	if m.trusted {
		return stats{}, nil
	}
	return checkValue(&m.p, v, skipNull)
}

// applyOps carries out the ops recorded by check on root (the section's values), and
// when meta is not nil keeps meta mirroring them and marks the root and every node the
// patch reaches as updated at now (version ver). news is what check returned for the
// root. It cannot fail.
func applyOps(root map[string]any, meta *Meta, ops []mergeOp, news int, now uint64, ver int64) {
	var metas [MaxDepth + 1]*Meta // the $metadata of the object at each depth, when kept
	if meta != nil {
		touchObject(meta, news, now, ver)
		metas[0] = meta
	}
	for i := range ops {
		op := &ops[i]
		dst := op.dst
		if dst == nil {
			dst = root
		}
		pm := metas[op.depth]
		switch op.kind {
		case opEnter:
			if pm != nil {
				c := pm.child(op.key, now, ver)
				touchObject(c, int(op.news), now, ver)
				metas[op.depth+1] = c
			}
		case opDelete:
			delete(dst, op.key)
			if pm != nil {
				pm.remove(op.key)
			}
		default:
			nv := copyPatchValue(op.val)
			dst[op.key] = nv
			if pm != nil {
				pm.setChild(op.key, nv, now, ver)
			}
		}
	}
}

// touchObject marks the metadata of an object the patch merges into as updated, and when
// it had no members yet but the merge stores more than one, makes room for them at once.
func touchObject(m *Meta, news int, now uint64, ver int64) {
	m.touch(now, ver)
	if m.kids == nil && news > 1 {
		m.kids = make([]Meta, 0, news)
	}
}
