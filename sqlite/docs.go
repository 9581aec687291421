package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"keyward"
)

// The one code path of every resource kind: documents (docs), with their
// index fields and references in their row (migration 0004). Reads are
// answered from memory (memindex.go).

const (
	insertDocSQL  = `INSERT INTO docs (kind, account, region, id, body, settled, fields, refs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	updateDocSQL  = `UPDATE docs SET body = ?, settled = ?, fields = ?, refs = ? WHERE kind = ? AND account = ? AND region = ? AND id = ?`
	updateRefsSQL = `UPDATE docs SET refs = ? WHERE kind = ? AND account = ? AND region = ? AND id = ?`
	deleteDocSQL  = `DELETE FROM docs WHERE kind = ? AND account = ? AND region = ? AND id = ?`
)

// GetDoc returns one document, or ENOTFOUND.
func (t *tx) GetDoc(ctx context.Context, kind string, s keyward.Scope, id string) (*keyward.Doc, error) {
	ds, err := t.ListDocs(ctx, keyward.DocQuery{Kind: kind, Scope: s, ID: id})
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, keyward.ErrDocNotFound(kind, id)
	}
	return ds[0], nil
}

// version returns the version the transaction reads the index at.
func (t *tx) version() uint64 {
	if t.view {
		return t.at
	}
	return t.mem.pending
}

// ListDocs returns the documents q selects, ordered by id, from memory
// (memindex.go): copies, which the caller may change.
func (t *tx) ListDocs(ctx context.Context, q keyward.DocQuery) (_ []*keyward.Doc, err error) {
	defer wrap(&err, "list %s", q.Kind)
	ds, ok := t.mem.list(q, t.version())
	if !ok {
		return nil, t.staleIndex()
	}
	return ds, nil
}

// errReadOnly refuses a write in a View.
var errReadOnly = errors.New("a View cannot write")

// writable refuses a write in a View: it must not change the index,
// which the writer owns.
func (t *tx) writable() error {
	if !t.write {
		return errReadOnly
	}
	return nil
}

// staleIndex marks a View whose version the index no longer holds.
func (t *tx) staleIndex() error {
	t.stale = true
	return errStaleIndex
}

// parseRefs reads the references encodeRefs joined, sorted by relation,
// kind and id.
func parseRefs(s sql.NullString) ([]keyward.Ref, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	parts := strings.Split(s.String, ",")
	refs := make([]keyward.Ref, len(parts))
	for i, p := range parts {
		f := strings.Split(p, " ")
		if len(f) != 4 {
			return nil, fmt.Errorf("malformed reference %q", p)
		}
		refs[i] = keyward.Ref{Relation: f[0], Kind: f[1], ID: f[2], Restrict: f[3] == "1"}
	}
	slices.SortFunc(refs, compareRefs)
	return refs, nil
}

func compareRefs(a, b keyward.Ref) int {
	if c := strings.Compare(a.Relation, b.Relation); c != 0 {
		return c
	}
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// CountDocs returns how many documents of the kind the scope holds: in a
// write transaction, from the writer's count.
func (t *tx) CountDocs(ctx context.Context, kind string, s keyward.Scope) (n int, err error) {
	defer wrap(&err, "count %s", kind)
	if t.write {
		return t.mem.counts[kindScope{kind, s.Account, s.Region}], nil
	}
	n, ok := t.mem.count(kind, s, t.at)
	if !ok {
		return 0, t.staleIndex()
	}
	return n, nil
}

func keyOf(d *keyward.Doc) docKey { return docKey{d.Kind, d.Scope.Account, d.Scope.Region, d.ID} }

// checkRefs returns ENOTFOUND for the first reference whose target does
// not exist.
func (t *tx) checkRefs(d *keyward.Doc) error {
	for _, r := range d.Refs {
		if t.mem.meta[docKey{r.Kind, d.Scope.Account, d.Scope.Region, r.ID}] == nil {
			return keyward.ErrDocNotFound(r.Kind, r.ID)
		}
	}
	return nil
}

// InsertDoc stores a new document; EEXISTS, or ENOTFOUND for a reference
// to nothing, leave the transaction as it was: both are found before
// anything is written (see tx.failed for the other errors).
func (t *tx) InsertDoc(ctx context.Context, d *keyward.Doc) (err error) {
	defer wrap(&err, "insert %s %q", d.Kind, d.ID)
	if err := t.writable(); err != nil {
		return err
	}
	k := keyOf(d)
	if t.mem.meta[k] != nil {
		return keyward.ErrDocExists(d.Kind, d.ID)
	}
	if err := t.checkRefs(d); err != nil {
		return err
	}
	fields, fieldsCol := encodeFields(d.Index)
	refs, refsCol := encodeRefs(d.Refs)
	if _, err := t.exec(ctx, insertDocSQL, d.Kind, d.Scope.Account, d.Scope.Region, d.ID, d.Body, d.Settled, fieldsCol, refsCol); err != nil {
		return err
	}
	t.mem.put(k, nil, &docMeta{fields: fields, refs: refs, body: slices.Clone(d.Body), settled: d.Settled})
	return nil
}

// UpdateDoc replaces a document; ENOTFOUND if it or a referenced document
// does not exist, found before anything is written.
func (t *tx) UpdateDoc(ctx context.Context, d *keyward.Doc) (err error) {
	defer wrap(&err, "update %s %q", d.Kind, d.ID)
	if err := t.writable(); err != nil {
		return err
	}
	k := keyOf(d)
	old := t.mem.meta[k]
	if old == nil {
		return keyward.ErrDocNotFound(d.Kind, d.ID)
	}
	if err := t.checkRefs(d); err != nil {
		return err
	}
	fields, fieldsCol := encodeFields(d.Index)
	refs, refsCol := encodeRefs(d.Refs)
	if _, err := t.exec(ctx, updateDocSQL, d.Body, d.Settled, fieldsCol, refsCol, d.Kind, d.Scope.Account, d.Scope.Region, d.ID); err != nil {
		return err
	}
	t.mem.put(k, old, &docMeta{fields: fields, refs: refs, body: slices.Clone(d.Body), settled: d.Settled})
	return nil
}

// DeleteDoc removes a document and what depends on it; ENOTFOUND if
// absent, EREFERENCED if a Restrict reference holds it, both found before
// anything is written.
func (t *tx) DeleteDoc(ctx context.Context, kind string, s keyward.Scope, id string) (err error) {
	defer wrap(&err, "delete %s %q", kind, id)
	if err := t.writable(); err != nil {
		return err
	}
	k := docKey{kind, s.Account, s.Region, id}
	referrers := t.mem.referrersOf(refTarget{s.Account, s.Region, kind, id}, t.mem.pending)
	var by *keyward.Ref
	for i, r := range referrers {
		if r.Restrict && (by == nil || r.Kind < by.Kind || r.Kind == by.Kind && r.ID < by.ID) {
			by = &referrers[i]
		}
	}
	if by != nil {
		return keyward.ErrDocReferenced(kind, id, by.Kind, by.ID)
	}
	old := t.mem.meta[k]
	if old == nil {
		return keyward.ErrDocNotFound(kind, id)
	}
	if _, err := t.exec(ctx, deleteDocSQL, kind, s.Account, s.Region, id); err != nil {
		return err
	}
	t.mem.put(k, old, nil)
	// The (Cascade) references other documents hold to it go with it.
	for _, r := range referrers {
		rk := docKey{r.Kind, s.Account, s.Region, r.ID}
		rm := t.mem.meta[rk]
		if rm == nil {
			continue // itself, or a document already rewritten for another relation
		}
		kept := slices.DeleteFunc(slices.Clone(rm.refs), func(x keyward.Ref) bool { return x.Kind == kind && x.ID == id })
		if len(kept) == len(rm.refs) {
			continue
		}
		refs, refsCol := encodeRefs(kept)
		if _, err := t.exec(ctx, updateRefsSQL, refsCol, rk.kind, rk.account, rk.region, rk.id); err != nil {
			return err
		}
		cur := *rm
		cur.refs = refs
		t.mem.put(rk, rm, &cur)
	}
	return nil
}

// FindUnsettled returns the keys of every unsettled document.
func (t *tx) FindUnsettled(ctx context.Context) (_ []keyward.DocKey, err error) {
	defer wrap(&err, "find unsettled")
	keys, ok := t.mem.unsettled(t.version())
	if !ok {
		return nil, t.staleIndex()
	}
	return keys, nil
}
