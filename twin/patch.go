package twin

import "time"

// Patch merges patch into section s as Azure does: members add or overwrite, a null
// member deletes, nested objects merge, arrays are replaced whole. On success the twin
// version grows by one with a new etag; desired and reported also grow their $version by
// one, and every node the patch touched gets $lastUpdated = now (and, on desired,
// $lastUpdatedVersion = the new $version), as do its ancestors up to the section root.
// Deleting a key removes its metadata and counts as touching its parent, so the parent's
// $lastUpdated records the removal. An empty patch is a successful update too.
//
// The patch is validated first (keys, depth, values) and so is the result (section size);
// on error d is unchanged. d does not keep references into patch.
func (d *Doc) Patch(s Section, patch map[string]any, now time.Time) *Error {
	if s > Reported {
		return errInvalid("", "unknown section %d; use tags, desired or reported", s)
	}
	if patch == nil {
		return errMalformed(s.pathPrefix(), "patch must be a JSON object")
	}
	var buf [opBufLen]mergeOp
	m := merger{p: pathStack{root: s.pathPrefix()}}
	ops, r, err := m.check(buf[:0], d.section(s), patch, 0)
	if err != nil {
		return err
	}
	st := stats{size: d.sectionSize(s) + r.delta.size}
	if pr := d.props(s); pr != nil {
		st.leaves = pr.leafCount() + r.delta.leaves
	}
	if err := checkSize(s, st.size); err != nil {
		return err
	}
	d.applyPatch(s, ops, r.news, len(patch), now)
	d.setStats(s, st)
	return nil
}

// setStats records the stats of section s after a write.
func (d *Doc) setStats(s Section, st stats) {
	*d.sizeSlot(s) = int32(st.size) + 1
	if p := d.props(s); p != nil {
		p.leaves = int32(st.leaves) + 1
	}
}

func checkSize(s Section, size int) *Error {
	if limit := sizeLimit(s); size > limit {
		return errInvalid(s.pathPrefix(), "would be %d bytes counted Azure's way; the limit is %d; remove or shorten properties", size, limit)
	}
	return nil
}

// section returns the values of section s.
func (d *Doc) section(s Section) map[string]any {
	if s == Tags {
		return d.Tags
	}
	return d.props(s).Values
}

// applyPatch carries out the ops merger.check recorded for a patch of n members on
// section s (news as check returned it); it cannot fail.
func (d *Doc) applyPatch(s Section, ops []mergeOp, news, n int, now time.Time) {
	if s == Tags {
		if d.Tags == nil {
			d.Tags = make(map[string]any, n)
		}
		applyOps(d.Tags, nil, ops, news, 0, 0)
		d.bumpVersion()
		return
	}
	p := d.props(s)
	p.Version++
	var ver int64
	if s == Desired {
		ver = p.Version
	}
	if p.Values == nil {
		p.Values = make(map[string]any, n)
	}
	if p.Meta == nil {
		p.Meta = &Meta{}
	}
	applyOps(p.Values, p.Meta, ops, news, stamp(now), ver)
	d.bumpVersion()
}

// copyPatchValue deep-copies a validated patch value for storage: null members of
// objects are dropped (merging a patch where there was no object), numbers become
// float64, arrays are copied as they are.
func copyPatchValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, e := range v {
			if e != nil {
				c[k] = copyPatchValue(e)
			}
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = copyArrayValue(e)
		}
		return c
	case string, float64, bool:
		return v
	}
	n, _ := normalizeScalar(v)
	return n
}

// copyArrayValue copies an array element: like copyPatchValue, but nulls in objects
// inside arrays are values, not deletions, so they are kept.
func copyArrayValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, e := range v {
			c[k] = copyArrayValue(e)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = copyArrayValue(e)
		}
		return c
	}
	n, _ := normalizeScalar(v)
	return n
}

// Replace substitutes the whole of desired or tags (reported can only be patched by the
// device). Null members of doc are dropped. For desired, the $version grows by one, and
// metadata changes as if the smallest merge patch from the old to the new document had
// been applied: unchanged nodes keep their $lastUpdated, the root is always touched. The
// previous section map is not modified (a caller holding it can still diff against it,
// e.g. MakePatch(old, d.Desired.Values) for the device notification). On error d is
// unchanged.
func (d *Doc) Replace(s Section, doc map[string]any, now time.Time) *Error {
	if s == Reported {
		return errInvalid(s.pathPrefix(), "reported properties are written by the device; patch desired or tags instead")
	}
	if s > Reported {
		return errInvalid("", "unknown section %d; use tags or desired", s)
	}
	if doc == nil {
		return errMalformed(s.pathPrefix(), "replacement must be a JSON object")
	}
	st, err := validateTree(s, doc)
	if err != nil {
		return err
	}
	if err := checkSize(s, st.size); err != nil {
		return err
	}
	nv := copyPatchValue(doc).(map[string]any)
	if s == Tags {
		d.Tags = nv
		d.bumpVersion()
	} else {
		patch := MakePatch(d.Desired.Values, nv)
		values := cloneMap(d.Desired.Values) // leave the caller's view of the old section alone
		m := merger{p: pathStack{root: s.pathPrefix()}, trusted: true}
		ops, r, err := m.check(nil, values, patch, 0)
		if err != nil {
			return err // not expected: nv is validated, and so is MakePatch's patch of it
		}
		d.Desired.Values = values
		d.applyPatch(s, ops, r.news, len(patch), now)
	}
	d.setStats(s, st)
	return nil
}
