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

	"keyward"
)

// The index fields and references of every document are kept in memory
// (memIndex), built from the docs table at Open and kept in step by the
// writer, so that a write is one statement on docs per changed document
// (the fields and references are columns of its row) and lookups by
// field, reference checks and referrers cost no SQL.
//
// Versions. Every write transaction increments the one row of commit_seq
// (migration 0004) as its first statement: a snapshot of the database is
// at the version that row holds. The index is multi-version, like
// SQLite's WAL: each index entry and each reference carries the span of
// versions [from, to) it exists in, and a View reads the entries of the
// version its snapshot holds (read in its transaction), so that what it
// finds by field and the referrers it derives are those of the very
// snapshot it reads the documents from. The writer reads and writes at
// the version its open transaction will commit (pending). Entries a
// transaction ended are forgotten once no View can be at a version that
// sees them (pins). A savepoint or transaction rolled back undoes its
// changes to the index (undo).
//
// Another process writing the file (or a second Store on it) increments
// the version too: the writer sees a version it did not expect at its
// next BEGIN and rebuilds the index from the database, and a View that
// finds a version the index does not know first makes the writer do so.

const never = math.MaxUint64

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

// docMeta is what the writer knows of a stored document: its index
// fields and references (sorted), as its row stores them.
type docMeta struct {
	fields []keyward.Field
	refs   []keyward.Ref
}

type memIndex struct {
	// meta is read and written by the writer only (commitLoop's
	// transactions, which run one at a time): no lock.
	meta map[docKey]*docMeta
	// counts is the number of documents of a kind in a scope, for the
	// writer only, like meta.
	counts map[kindScope]int

	mu        sync.RWMutex // guards what follows; the writer changes it, Views read it
	fields    spanMap[fieldKey, scopedID]
	referrers spanMap[refTarget, refSource]
	base      uint64 // the version the index was built at: older ones are unknown
	ver       uint64 // the last version committed
	pending   uint64 // the open write transaction's version, or 0
	pins      map[uint64]int

	undo    []func()  // the open write transaction's changes, undone in reverse
	retired []retired // ended entries, removed once no View can see them
}

type kindScope struct{ kind, account, region string }

type retired struct {
	s      *span
	remove func()
}

// errStaleIndex aborts a run of a View's fn whose snapshot is at a version
// the index does not hold; the View runs fn again.
var errStaleIndex = errors.New("sqlite: view: snapshot at a version the index does not hold")

// load rebuilds the index from the database as q reads it, at version ver,
// in a transaction (so that the version and the rows are one snapshot).
func (m *memIndex) load(ctx context.Context, q querier, ver uint64) error {
	rows, err := q.QueryContext(ctx, `SELECT kind, account, region, id, fields, refs FROM docs`)
	if err != nil {
		return err
	}
	defer rows.Close()
	meta := map[docKey]*docMeta{}
	counts := map[kindScope]int{}
	fields := spanMap[fieldKey, scopedID]{}
	referrers := spanMap[refTarget, refSource]{}
	for rows.Next() {
		var k docKey
		var fs, rs string
		if err := rows.Scan(&k.kind, &k.account, &k.region, &k.id, &fs, &rs); err != nil {
			return err
		}
		dm := &docMeta{}
		if dm.fields, err = parseFields(fs); err != nil {
			return fmt.Errorf("%s %s: %w", k.kind, k.id, err)
		}
		if dm.refs, err = parseRefs(sql.NullString{String: rs, Valid: true}); err != nil {
			return fmt.Errorf("%s %s: %w", k.kind, k.id, err)
		}
		meta[k] = dm
		counts[kindScope{k.kind, k.account, k.region}]++
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
	m.meta, m.counts, m.fields, m.referrers = meta, counts, fields, referrers
	m.base, m.ver = ver, ver
	m.undo, m.retired = nil, nil
	if m.pins == nil {
		m.pins = map[uint64]int{}
	}
	return nil
}

// known reports whether the index holds version v.
func (m *memIndex) known(v uint64) (ok, newer bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	head := max(m.ver, m.pending)
	return v >= m.base && v <= head, v > head
}

// pin keeps the entries of the versions a View about to begin may see;
// its snapshot will be at this version or a later one.
func (m *memIndex) pin() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pins[m.ver]++
	return m.ver
}

func (m *memIndex) unpin(v uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pins[v]--; m.pins[v] <= 0 {
		delete(m.pins, v)
	}
}

// begin starts the write transaction of version v.
func (m *memIndex) begin(v uint64) {
	m.mu.Lock()
	m.pending = v
	m.mu.Unlock()
}

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
		m.ver = m.pending
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

func (m *memIndex) addSpan(list *[]*span, restrict bool, remove func(*span)) {
	s := &span{from: m.pending, to: never, restrict: restrict}
	*list = append(*list, s)
	m.undo = append(m.undo, func() {
		s.to = s.from
		m.retired = append(m.retired, retired{s, func() { remove(s) }})
	})
}

func (m *memIndex) endSpan(list []*span, remove func(*span)) {
	for _, s := range list {
		if s.to == never {
			s.to = m.pending
			m.retired = append(m.retired, retired{s, func() { remove(s) }})
			m.undo = append(m.undo, func() { s.to = never })
			return
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

// put records a document's new fields and references (old: its previous
// ones, nil if new), changing only the entries that differ.
func (m *memIndex) put(k docKey, old, cur *docMeta) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setMeta(k, cur)
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

// Reads, at version v.

// referrersOf returns the references to a document at version v, sorted
// like parseRefs sorts references.
func (m *memIndex) referrersOf(t refTarget, v uint64) []keyward.Ref {
	m.mu.RLock()
	defer m.mu.RUnlock()
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

// find returns the documents q's fields select at version v, ordered by
// account, region and id, honouring q's scope, ID, AfterID and Limit.
func (m *memIndex) find(q keyward.DocQuery, v uint64) []scopedID {
	m.mu.RLock()
	defer m.mu.RUnlock()
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
	slices.SortFunc(out, func(a, b scopedID) int {
		return cmp.Or(strings.Compare(a.account, b.account), strings.Compare(a.region, b.region), strings.Compare(a.id, b.id))
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
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
