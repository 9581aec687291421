package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/google/btree"

	"keyward"
)

// Every document, with its index fields and references, is kept in
// memory (memIndex), built from the docs table at Open and kept in step
// by the writer, so that a write is one statement on docs per changed
// document (the fields and references are columns of its row) and every
// read (a View's and an Update's) is answered from memory: no SQL, no
// read transaction, no database/sql.
//
// Versions. The index counts versions in memory, from 1 at Open: every
// write transaction that writes something commits the next one (one that
// writes nothing rolls back, see Store.commit). The index is
// multi-version, like SQLite's WAL: each document version, index entry
// and reference carries the span of versions [from, to) it exists in, and
// a View reads those of the version last committed when it began (pin), so
// that the documents, what it finds by field and the referrers it derives
// are of one snapshot. A version is published to Views only once its COMMIT has
// returned, that is once it is durable (commit). The writer reads and
// writes at the version its open transaction will commit (pending).
// Entries a transaction ended are forgotten once no View can be at a
// version that sees them (pins). A savepoint or transaction rolled back
// undoes its changes to the index (undo).
//
// Another process writing the file (or a second Store on it) moves
// SQLite's WAL-index change counter (shm.go), which every commit with WAL
// frames increments: the writer finds a counter it did not expect at its
// next BEGIN and rebuilds the index from the database. A View finds such a
// commit without SQL from the same counter: if it moved past the last
// commit the index holds, the View first makes the writer catch up
// (Store.resync). A View pinned at a version older than a rebuilt index
// (base) runs its fn again (errStaleIndex).

const never = math.MaxUint64

// addID adds id to the ordered set of ids of ks. A B-tree, not a sorted
// slice: an insert costs O(log n) wherever the id falls, and events, whose
// ids sort newest first, would otherwise each move every id before them.
func addID(ids map[kindScope]*btree.BTreeG[string], ks kindScope, id string) {
	if ids[ks] == nil {
		ids[ks] = btree.NewOrderedG[string](32)
	}
	ids[ks].ReplaceOrInsert(id)
}

// span is the versions [from, to) an entry exists in.
type span struct {
	from, to uint64
	restrict bool // references only
}

func (s *span) visible(v uint64) bool { return s.from <= v && v < s.to }

type docKey struct{ kind, account, region, id string }

type scopedID struct{ account, region, id string }

type fieldKey struct{ kind, name, value string }

type refTarget struct{ account, region, kind, id string }

type refSource struct{ kind, id, relation string }

// docMeta is one stored state of a document: its index fields and
// references (sorted), as its row stores them, its body and whether it
// is settled. It is never changed once stored (readers get copies).
type docMeta struct {
	fields  []keyward.Field
	refs    []keyward.Ref
	body    []byte
	settled bool
}

// docVersion is a document's state in the versions of its span.
type docVersion struct {
	span
	meta *docMeta
}

type memIndex struct {
	// meta is read and written by the writer only (commitLoop's
	// transactions, which run one at a time): no lock.
	meta map[docKey]*docMeta
	// counts is the number of documents of a kind in a scope, for the
	// writer only, like meta.
	counts map[kindScope]int

	mu        sync.RWMutex // guards what follows; the writer changes it, Views read it
	docs      map[docKey][]*docVersion
	ids       map[kindScope]*btree.BTreeG[string] // the ids with a version in docs, in order
	fields    spanMap[fieldKey, scopedID]
	referrers spanMap[refTarget, refSource]
	base      uint64 // the version the index was built at: older ones are unknown
	ver       uint64 // the last version committed
	pending   uint64 // the open write transaction's version, or 0
	pins      map[uint64]int
	// change is SQLite's WAL-index change counter (shm.go) after the
	// commit of ver; next is what it will be after pending's.
	change, next uint32

	undo    []func()  // the open write transaction's changes, undone in reverse
	retired []retired // ended entries, removed once no View can see them
}

type kindScope struct{ kind, account, region string }

type retired struct {
	s      *span
	remove func()
}

// errStaleIndex aborts a read of a View pinned at a version the index no
// longer holds (it was rebuilt since); the View runs fn again.
var errStaleIndex = errors.New("sqlite: view: snapshot at a version the index does not hold")

// load rebuilds the index from the database as q reads it, at version ver
// and WAL-index change counter change, in a write transaction (so that
// the version, the counter and the rows are one state).
func (m *memIndex) load(ctx context.Context, q querier, ver uint64, change uint32) error {
	rows, err := q.QueryContext(ctx, `SELECT kind, account, region, id, body, settled, fields, refs FROM docs`)
	if err != nil {
		return err
	}
	defer rows.Close()
	meta := map[docKey]*docMeta{}
	counts := map[kindScope]int{}
	docs := map[docKey][]*docVersion{}
	ids := map[kindScope]*btree.BTreeG[string]{}
	fields := spanMap[fieldKey, scopedID]{}
	referrers := spanMap[refTarget, refSource]{}
	for rows.Next() {
		var k docKey
		var fs, rs string
		dm := &docMeta{}
		if err := rows.Scan(&k.kind, &k.account, &k.region, &k.id, &dm.body, &dm.settled, &fs, &rs); err != nil {
			return err
		}
		if dm.fields, err = parseFields(fs); err != nil {
			return fmt.Errorf("%s %s: %w", k.kind, k.id, err)
		}
		if dm.refs, err = parseRefs(sql.NullString{String: rs, Valid: true}); err != nil {
			return fmt.Errorf("%s %s: %w", k.kind, k.id, err)
		}
		meta[k] = dm
		ks := kindScope{k.kind, k.account, k.region}
		counts[ks]++
		docs[k] = []*docVersion{{span: span{from: ver, to: never}, meta: dm}}
		addID(ids, ks, k.id)
		sid := scopedID{k.account, k.region, k.id}
		for _, f := range dm.fields {
			fk := fieldKey{k.kind, f.Name, f.Value}
			if fields[fk] == nil {
				fields[fk] = map[scopedID][]*span{}
			}
			fields[fk][sid] = append(fields[fk][sid], &span{from: ver, to: never})
		}
		for _, r := range dm.refs {
			t := refTarget{k.account, k.region, r.Kind, r.ID}
			if referrers[t] == nil {
				referrers[t] = map[refSource][]*span{}
			}
			src := refSource{k.kind, k.id, r.Relation}
			referrers[t][src] = append(referrers[t][src], &span{from: ver, to: never, restrict: r.Restrict})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta, m.counts, m.docs, m.ids, m.fields, m.referrers = meta, counts, docs, ids, fields, referrers
	m.base, m.ver, m.change = ver, ver, change
	m.undo, m.retired = nil, nil
	if m.pins == nil {
		m.pins = map[uint64]int{}
	}
	return nil
}

// pin keeps the entries of the last committed version for a View, which
// reads at it, and returns it. current is false if the WAL-index change
// counter c (read now) tells of a commit the index does not hold, made
// by another connection: the View makes the writer catch up first. The
// counter may also be at the open transaction's commit, whose COMMIT has
// not returned yet: the View then reads the version before it, which is
// what it would have read a moment earlier.
func (m *memIndex) pin(c func() (uint32, bool)) (v uint64, current bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := c()
	m.pins[m.ver]++
	return m.ver, ok && (n == m.change || m.pending != 0 && n == m.next)
}

func (m *memIndex) unpin(v uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pins[v]--; m.pins[v] <= 0 {
		delete(m.pins, v)
	}
}

// begin starts the write transaction of version v, whose commit will
// set the WAL-index change counter to next.
func (m *memIndex) begin(v uint64, next uint32) {
	m.mu.Lock()
	m.pending, m.next = v, next
	m.mu.Unlock()
}

// changed reports whether the open transaction has changes left (none
// rolled back): each is a statement that wrote the database.
func (m *memIndex) changed() bool { return len(m.undo) > 0 }

// wrote records a write to the database that changes no document (the
// write probe's), so that the transaction commits (changed) unless rolled
// back.
func (m *memIndex) wrote() { m.undo = append(m.undo, func() {}) }

// mark returns where the open transaction's changes are, for rollbackTo.
func (m *memIndex) mark() int { return len(m.undo) }

// rollbackTo undoes the changes made since mark.
func (m *memIndex) rollbackTo(mark int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.undo) - 1; i >= mark; i-- {
		m.undo[i]()
	}
	clear(m.undo[mark:])
	m.undo = m.undo[:mark]
}

// abort undoes the open transaction, which was rolled back.
func (m *memIndex) abort() {
	m.rollbackTo(0)
	m.mu.Lock()
	m.pending = 0
	m.mu.Unlock()
	m.collect()
}

// commit publishes the open transaction's version, once it is durable.
func (m *memIndex) commit() {
	m.mu.Lock()
	if m.pending != 0 {
		m.ver, m.change = m.pending, m.next
	}
	m.pending = 0
	clear(m.undo)
	m.undo = m.undo[:0]
	m.mu.Unlock()
	m.collect()
}

// collect forgets the ended entries that no View can see any more.
func (m *memIndex) collect() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.retired) == 0 {
		return
	}
	oldest := m.ver
	for v := range m.pins {
		oldest = min(oldest, v)
	}
	keep := m.retired[:0]
	for _, r := range m.retired {
		switch {
		case r.s.to == r.s.from || r.s.to <= oldest:
			r.remove()
		case r.s.to == never: // its end was rolled back
		default:
			keep = append(keep, r)
		}
	}
	clear(m.retired[len(keep):])
	m.retired = keep
}

// The writer's changes, at version pending, each with its undo. They are
// called with m.mu held.

// opened records s, opened at the pending version: undone, it ends
// where it began and is removed.
func (m *memIndex) opened(s *span, remove func()) {
	m.undo = append(m.undo, func() {
		s.to = s.from
		m.retired = append(m.retired, retired{s, remove})
	})
}

// end ends s at the pending version; it is removed once no View sees it.
func (m *memIndex) end(s *span, remove func()) {
	s.to = m.pending
	m.retired = append(m.retired, retired{s, remove})
	m.undo = append(m.undo, func() { s.to = never })
}

func (m *memIndex) addSpan(list *[]*span, restrict bool, remove func(*span)) {
	s := &span{from: m.pending, to: never, restrict: restrict}
	*list = append(*list, s)
	m.opened(s, func() { remove(s) })
}

func (m *memIndex) endSpan(list []*span, remove func(*span)) {
	for _, s := range list {
		if s.to == never {
			m.end(s, func() { remove(s) })
			return
		}
	}
}

// putDoc ends document k's open version, if any, and opens one holding
// dm, unless dm is nil (deleted).
func (m *memIndex) putDoc(k docKey, dm *docMeta) {
	for _, dv := range m.docs[k] {
		if dv.to == never {
			m.end(&dv.span, func() { m.removeDoc(k, dv) })
			break
		}
	}
	if dm == nil {
		return
	}
	dv := &docVersion{span: span{from: m.pending, to: never}, meta: dm}
	m.docs[k] = append(m.docs[k], dv)
	ks := kindScope{k.kind, k.account, k.region}
	addID(m.ids, ks, k.id)
	m.opened(&dv.span, func() { m.removeDoc(k, dv) })
}

// removeDoc drops version dv of document k, and its id once it has none.
func (m *memIndex) removeDoc(k docKey, dv *docVersion) {
	if list := slices.DeleteFunc(m.docs[k], func(x *docVersion) bool { return x == dv }); len(list) > 0 {
		m.docs[k] = list
		return
	}
	delete(m.docs, k)
	ks := kindScope{k.kind, k.account, k.region}
	if ids := m.ids[ks]; ids != nil {
		ids.Delete(k.id)
		if ids.Len() == 0 {
			delete(m.ids, ks)
		}
	}
}

// spanMap is the shape of both in-memory indexes (fields and referrers):
// for each key, the documents under it, each with its spans of versions.
type spanMap[K, D comparable] map[K]map[D][]*span

// addSpanTo opens a span for d under k at the pending version.
func addSpanTo[K, D comparable](m *memIndex, sm spanMap[K, D], k K, d D, restrict bool) {
	ds := sm[k]
	if ds == nil {
		ds = map[D][]*span{}
		sm[k] = ds
	}
	list := ds[d]
	m.addSpan(&list, restrict, func(s *span) { removeSpanFrom(sm, k, d, s) })
	ds[d] = list
}

// endSpanIn ends d's open span under k at the pending version.
func endSpanIn[K, D comparable](m *memIndex, sm spanMap[K, D], k K, d D) {
	m.endSpan(sm[k][d], func(s *span) { removeSpanFrom(sm, k, d, s) })
}

// removeSpanFrom drops span s of d under k, and the entries left empty.
func removeSpanFrom[K, D comparable](sm spanMap[K, D], k K, d D, s *span) {
	ds := sm[k]
	if list := slices.DeleteFunc(ds[d], func(x *span) bool { return x == s }); len(list) > 0 {
		ds[d] = list
	} else {
		delete(ds, d)
		if len(ds) == 0 {
			delete(sm, k)
		}
	}
}

// setMeta replaces (nil: removes) the writer's record of a document.
func (m *memIndex) setMeta(k docKey, dm *docMeta) {
	old, had := m.meta[k]
	ks := kindScope{k.kind, k.account, k.region}
	delta := 0
	switch {
	case dm == nil && had:
		delete(m.meta, k)
		delta = -1
	case dm != nil:
		m.meta[k] = dm
		if !had {
			delta = 1
		}
	}
	m.counts[ks] += delta
	m.undo = append(m.undo, func() {
		if had {
			m.meta[k] = old
		} else {
			delete(m.meta, k)
		}
		m.counts[ks] -= delta
	})
}

// put records a document's new state (old: its previous one, nil if new;
// cur nil if deleted), changing only the index entries that differ.
func (m *memIndex) put(k docKey, old, cur *docMeta) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setMeta(k, cur)
	m.putDoc(k, cur)
	var oldFields []keyward.Field
	var oldRefs []keyward.Ref
	if old != nil {
		oldFields, oldRefs = old.fields, old.refs
	}
	var curFields []keyward.Field
	var curRefs []keyward.Ref
	if cur != nil {
		curFields, curRefs = cur.fields, cur.refs
	}
	sid := scopedID{k.account, k.region, k.id}
	for _, f := range oldFields {
		if !slices.Contains(curFields, f) {
			endSpanIn(m, m.fields, fieldKey{k.kind, f.Name, f.Value}, sid)
		}
	}
	for _, f := range curFields {
		if !slices.Contains(oldFields, f) {
			addSpanTo(m, m.fields, fieldKey{k.kind, f.Name, f.Value}, sid, false)
		}
	}
	for _, r := range oldRefs {
		if !slices.Contains(curRefs, r) {
			endSpanIn(m, m.referrers, refTarget{k.account, k.region, r.Kind, r.ID}, refSource{k.kind, k.id, r.Relation})
		}
	}
	for _, r := range curRefs {
		if !slices.Contains(oldRefs, r) {
			addSpanTo(m, m.referrers, refTarget{k.account, k.region, r.Kind, r.ID}, refSource{k.kind, k.id, r.Relation}, r.Restrict)
		}
	}
}

// Reads, at version v. Each returns false if the index no longer holds
// v (a View pinned before it was rebuilt: errStaleIndex).

// referrersOf returns the references to a document at version v, sorted
// like parseRefs sorts references.
func (m *memIndex) referrersOf(t refTarget, v uint64) []keyward.Ref {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.referrersAt(t, v)
}

func (m *memIndex) referrersAt(t refTarget, v uint64) []keyward.Ref {
	var out []keyward.Ref
	for src, list := range m.referrers[t] {
		for _, s := range list {
			if s.visible(v) {
				out = append(out, keyward.Ref{Relation: src.relation, Kind: src.kind, ID: src.id, Restrict: s.restrict})
				break
			}
		}
	}
	slices.SortFunc(out, compareRefs)
	return out
}

// docAt returns document k's state at version v, or nil.
func (m *memIndex) docAt(k docKey, v uint64) *docMeta {
	for _, dv := range m.docs[k] {
		if dv.visible(v) {
			return dv.meta
		}
	}
	return nil
}

// list returns copies of the documents q selects at version v, ordered
// by id (by account, region and id across scopes), with their references
// (unless q.NoRefs) and referrers.
func (m *memIndex) list(q keyward.DocQuery, v uint64) ([]*keyward.Doc, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if v < m.base {
		return nil, false
	}
	var keys []scopedID
	switch {
	case len(q.Where) > 0:
		keys = m.find(q, v)
	case q.ID != "" && !q.AllScopes:
		if q.AfterID == "" || q.ID > q.AfterID {
			keys = []scopedID{{q.Scope.Account, q.Scope.Region, q.ID}}
		}
	default:
		// The scopes in order, then each one's ids, which are sorted:
		// reading stops at the limit.
		var scopes []kindScope
		for ks := range m.ids {
			if ks.kind == q.Kind && (q.AllScopes || ks.account == q.Scope.Account && ks.region == q.Scope.Region) {
				scopes = append(scopes, ks)
			}
		}
		slices.SortFunc(scopes, func(a, b kindScope) int {
			return cmp.Or(strings.Compare(a.account, b.account), strings.Compare(a.region, b.region))
		})
		var metas []*docMeta
		for _, ks := range scopes {
			from := ""
			if !q.AllScopes && q.AfterID != "" {
				from = q.AfterID + "\x00"
			}
			m.ids[ks].AscendGreaterOrEqual(from, func(id string) bool {
				if q.ID != "" && id != q.ID {
					return true
				}
				if dm := m.docAt(docKey{q.Kind, ks.account, ks.region, id}, v); dm != nil {
					keys = append(keys, scopedID{ks.account, ks.region, id})
					metas = append(metas, dm)
				}
				return len(metas) != q.Limit
			})
			if len(metas) == q.Limit {
				break
			}
		}
		return m.copies(q, v, keys, metas), true
	}
	var metas []*docMeta
	for _, k := range keys {
		if dm := m.docAt(docKey{q.Kind, k.account, k.region, k.id}, v); dm != nil {
			keys[len(metas)] = k
			metas = append(metas, dm)
			if len(metas) == q.Limit {
				break
			}
		}
	}
	return m.copies(q, v, keys, metas), true
}

// copies returns copies of the documents of keys (metas: their states at
// v) as ListDocs returns them; called with m.mu held.
func (m *memIndex) copies(q keyward.DocQuery, v uint64, keys []scopedID, metas []*docMeta) []*keyward.Doc {
	if len(metas) == 0 {
		return nil
	}
	// One allocation for the documents and one for their bodies.
	docs := make([]keyward.Doc, len(metas))
	size := 0
	for _, dm := range metas {
		size += len(dm.body)
	}
	bodies := make([]byte, 0, size)
	out := make([]*keyward.Doc, len(metas))
	for i, dm := range metas {
		k := keys[i]
		d := &docs[i]
		d.Kind, d.Scope, d.ID, d.Settled = q.Kind, keyward.Scope{Account: k.account, Region: k.region}, k.id, dm.settled
		bodies = append(bodies, dm.body...)
		d.Body = bodies[len(bodies)-len(dm.body) : len(bodies) : len(bodies)]
		if !q.NoRefs {
			d.Refs = slices.Clone(dm.refs)
		}
		d.Referrers = m.referrersAt(refTarget{k.account, k.region, q.Kind, k.id}, v)
		out[i] = d
	}
	return out
}

// count returns how many documents of the kind the scope holds at v.
func (m *memIndex) count(kind string, s keyward.Scope, v uint64) (int, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	if ids := m.ids[kindScope{kind, s.Account, s.Region}]; ids != nil {
		ids.Ascend(func(id string) bool {
			if m.docAt(docKey{kind, s.Account, s.Region, id}, v) != nil {
				n++
			}
			return true
		})
	}
	return n, v >= m.base
}

// unsettled returns the keys of the documents stored unsettled at v, by
// kind, account, region and id.
func (m *memIndex) unsettled(v uint64) ([]keyward.DocKey, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []keyward.DocKey
	for k := range m.docs {
		if dm := m.docAt(k, v); dm != nil && !dm.settled {
			out = append(out, keyward.DocKey{Kind: k.kind, Scope: keyward.Scope{Account: k.account, Region: k.region}, ID: k.id})
		}
	}
	slices.SortFunc(out, func(a, b keyward.DocKey) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Scope.Account, b.Scope.Account),
			strings.Compare(a.Scope.Region, b.Scope.Region), strings.Compare(a.ID, b.ID))
	})
	return out, v >= m.base
}

func compareScopedIDs(a, b scopedID) int {
	return cmp.Or(strings.Compare(a.account, b.account), strings.Compare(a.region, b.region), strings.Compare(a.id, b.id))
}

// find returns the documents q's fields select at version v, ordered by
// account, region and id, honouring q's scope, ID and AfterID; called
// with m.mu held.
func (m *memIndex) find(q keyward.DocQuery, v uint64) []scopedID {
	// Start from the field with the fewest documents.
	sets := make([]map[scopedID][]*span, len(q.Where))
	for i, f := range q.Where {
		sets[i] = m.fields[fieldKey{q.Kind, f.Name, f.Value}]
	}
	slices.SortFunc(sets, func(a, b map[scopedID][]*span) int { return cmp.Compare(len(a), len(b)) })
	in := func(set map[scopedID][]*span, sid scopedID) bool {
		for _, s := range set[sid] {
			if s.visible(v) {
				return true
			}
		}
		return false
	}
	var out []scopedID
	for sid := range sets[0] {
		if !q.AllScopes && (sid.account != q.Scope.Account || sid.region != q.Scope.Region || q.AfterID != "" && sid.id <= q.AfterID) ||
			q.ID != "" && sid.id != q.ID {
			continue
		}
		ok := true
		for _, set := range sets {
			if ok = in(set, sid); !ok {
				break
			}
		}
		if ok {
			out = append(out, sid)
		}
	}
	slices.SortFunc(out, compareScopedIDs)
	return out
}

// encodeFields is the fields column: a JSON array of [name, value],
// sorted and without duplicates (index rows are a set).
func encodeFields(fs []keyward.Field) ([]keyward.Field, string) {
	if len(fs) == 0 {
		return nil, "[]"
	}
	fs = slices.Clone(fs)
	slices.SortFunc(fs, func(a, b keyward.Field) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Value, b.Value))
	})
	fs = slices.Compact(fs)
	pairs := make([][2]string, len(fs))
	for i, f := range fs {
		pairs[i] = [2]string{f.Name, f.Value}
	}
	return fs, mustJSON(pairs)
}

func parseFields(s string) ([]keyward.Field, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil, fmt.Errorf("malformed index fields %q: %w", s, err)
	}
	fs := make([]keyward.Field, len(pairs))
	for i, p := range pairs {
		fs[i] = keyward.Field{Name: p[0], Value: p[1]}
	}
	return fs, nil
}

// encodeRefs is the refs column: "relation kind id restrict" joined by
// commas, sorted and without duplicates (as parseRefs reads it).
func encodeRefs(rs []keyward.Ref) ([]keyward.Ref, string) {
	if len(rs) == 0 {
		return nil, ""
	}
	rs = slices.Clone(rs)
	slices.SortFunc(rs, compareRefs)
	// The key of a reference is its relation and target (doc_refs' primary key was).
	rs = slices.CompactFunc(rs, func(a, b keyward.Ref) bool { return compareRefs(a, b) == 0 })
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		restrict := "0"
		if r.Restrict {
			restrict = "1"
		}
		b.WriteString(r.Relation + " " + r.Kind + " " + r.ID + " " + restrict)
	}
	return rs, b.String()
}
