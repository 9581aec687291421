package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"keyward"
)

// The one code path of every resource kind: documents (docs), their index
// fields (doc_index) and their references (doc_refs), as migration 0003
// creates them.

const (
	// docColumns are read by ListDocs, in order. Referrers come from the
	// in-memory index (memindex.go).
	docColumns = `d.account, d.region, d.id, d.body, d.settled, d.refs`

	countDocsSQL = `SELECT COUNT(*) FROM docs WHERE kind = ? AND account = ? AND region = ?`

	insertDocSQL  = `INSERT INTO docs (kind, account, region, id, body, settled, fields, refs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	updateDocSQL  = `UPDATE docs SET body = ?, settled = ?, fields = ?, refs = ? WHERE kind = ? AND account = ? AND region = ? AND id = ?`
	updateRefsSQL = `UPDATE docs SET refs = ? WHERE kind = ? AND account = ? AND region = ? AND id = ?`
	deleteDocSQL  = `DELETE FROM docs WHERE kind = ? AND account = ? AND region = ? AND id = ?`

	// listByKeysSQL reads the documents of a JSON array of [account,
	// region, id], in its order: those the index found by field.
	listByKeysSQL = `SELECT ` + docColumns + ` FROM json_each(?2) j CROSS JOIN docs d
	WHERE d.kind = ?1 AND d.account = j.value ->> 0 AND d.region = j.value ->> 1 AND d.id = j.value ->> 2 ORDER BY j.key`

	seqSQL     = `SELECT n FROM commit_seq`
	bumpSeqSQL = `UPDATE commit_seq SET n = n + 1 RETURNING n`

	findUnsettledSQL = `SELECT kind, account, region, id FROM docs WHERE settled = 0 ORDER BY kind, account, region, id`
)

// docQueryShape numbers the parts of q a query needs: one shape each.
// Queries by index field are answered by the in-memory index, then
// listByKeysSQL.
type docQueryShape struct {
	allScopes, id, after bool
}

func shapeOf(q keyward.DocQuery) docQueryShape {
	return docQueryShape{allScopes: q.AllScopes, id: q.ID != "", after: q.AfterID != "" && !q.AllScopes}
}

// docQueryShapes lists the shapes Open prepares.
func docQueryShapes() []docQueryShape {
	var out []docQueryShape
	for _, all := range []bool{false, true} {
		for _, id := range []bool{false, true} {
			for _, after := range []bool{false, true} {
				if !(all && after) {
					out = append(out, docQueryShape{all, id, after})
				}
			}
		}
	}
	return out
}

// listDocsSQL writes the query of a shape. Only the parts used appear, so
// SQLite can seek the primary key.
func listDocsSQL(sh docQueryShape) string {
	var b strings.Builder
	b.WriteString(`SELECT ` + docColumns + ` FROM docs d WHERE d.kind = ?`)
	if !sh.allScopes {
		b.WriteString(` AND d.account = ? AND d.region = ?`)
	}
	if sh.id {
		b.WriteString(` AND d.id = ?`)
	}
	if sh.after {
		b.WriteString(` AND d.id > ?`)
	}
	if sh.allScopes {
		b.WriteString(` ORDER BY d.account, d.region, d.id`)
	} else {
		b.WriteString(` ORDER BY d.id`)
	}
	return b.String()
}

// listDocsQueries holds the query of each prepared shape, built once.
var listDocsQueries = func() map[docQueryShape]string {
	m := map[docQueryShape]string{}
	for _, sh := range docQueryShapes() {
		m[sh] = listDocsSQL(sh)
	}
	return m
}()

func docQueryArgs(q keyward.DocQuery) []any {
	args := []any{q.Kind}
	if !q.AllScopes {
		args = append(args, q.Scope.Account, q.Scope.Region)
	}
	if q.ID != "" {
		args = append(args, q.ID)
	}
	if q.AfterID != "" && !q.AllScopes {
		args = append(args, q.AfterID)
	}
	// No LIMIT: ListDocs stops reading at q.Limit (the rows come in order
	// from the primary key, so stopping early reads no more than LIMIT
	// would).
	return args
}

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
	if t.view != nil {
		return t.view.version
	}
	return t.mem.pending
}

// ListDocs returns the documents q selects, ordered by id.
func (t *tx) ListDocs(ctx context.Context, q keyward.DocQuery) (_ []*keyward.Doc, err error) {
	defer wrap(&err, "list %s", q.Kind)
	point := isPoint(q)
	if point {
		// One id selects at most one document, whatever the limit: reads
		// with and without one share the cached answer.
		q.Limit = 0
	}
	if point && t.last != nil && samePoint(t.last.q, q) {
		return copyDocs(t.last.docs), nil
	}
	if point && t.points != nil && (t.view == nil || !t.view.nohits) {
		if ds, ok := t.points[pointKeyOf(q)]; ok {
			if t.view != nil {
				t.view.hits++
			}
			return copyDocs(ds), nil
		}
	}
	if err := t.ensure(); err != nil {
		return nil, err
	}
	v := t.version()
	var query string
	var args []any
	var keys []scopedID
	if len(q.Where) > 0 {
		if keys = t.mem.find(q, v); len(keys) == 0 {
			return nil, nil
		}
		triples := make([][3]string, len(keys))
		for i, k := range keys {
			triples[i] = [3]string{k.account, k.region, k.id}
		}
		query, args = listByKeysSQL, []any{q.Kind, mustJSON(triples)}
	} else {
		query, args = listDocsQueries[shapeOf(q)], docQueryArgs(q)
	}
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Doc
	for rows.Next() {
		d := &keyward.Doc{Kind: q.Kind}
		var refs sql.NullString
		if err := rows.Scan(&d.Scope.Account, &d.Scope.Region, &d.ID, &d.Body, &d.Settled, &refs); err != nil {
			return nil, err
		}
		if !q.NoRefs {
			if d.Refs, err = parseRefs(refs); err != nil {
				return nil, err
			}
		}
		d.Referrers = t.mem.referrersOf(refTarget{d.Scope.Account, d.Scope.Region, d.Kind, d.ID}, v)
		out = append(out, d)
		if len(out) == q.Limit {
			break // see docQueryArgs
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if keys != nil && len(out) != len(keys) {
		return nil, fmt.Errorf("the index names %d documents, the database holds %d of them", len(keys), len(out))
	}
	switch {
	case point && t.write:
		t.last = &pointRead{q: q, docs: copyDocs(out)}
	case point && t.points != nil:
		if len(t.points) >= maxPoints {
			clear(t.points)
		}
		t.points[pointKeyOf(q)] = copyDocs(out)
	}
	return out, nil
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
	if err := t.ensure(); err != nil {
		return 0, err
	}
	err = t.queryRow(ctx, countDocsSQL, kind, s.Account, s.Region).Scan(&n)
	return n, err
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
	t.mem.put(k, nil, &docMeta{fields: fields, refs: refs})
	return nil
}

// UpdateDoc replaces a document; ENOTFOUND if it or a referenced document
// does not exist, found before anything is written.
func (t *tx) UpdateDoc(ctx context.Context, d *keyward.Doc) (err error) {
	defer wrap(&err, "update %s %q", d.Kind, d.ID)
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
	t.mem.put(k, old, &docMeta{fields: fields, refs: refs})
	return nil
}

// DeleteDoc removes a document and what depends on it; ENOTFOUND if
// absent, EREFERENCED if a Restrict reference holds it, both found before
// anything is written.
func (t *tx) DeleteDoc(ctx context.Context, kind string, s keyward.Scope, id string) (err error) {
	defer wrap(&err, "delete %s %q", kind, id)
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
		t.mem.put(rk, rm, &docMeta{fields: rm.fields, refs: refs})
	}
	return nil
}

// FindUnsettled returns the keys of every unsettled document.
func (t *tx) FindUnsettled(ctx context.Context) (_ []keyward.DocKey, err error) {
	defer wrap(&err, "find unsettled")
	if err := t.ensure(); err != nil {
		return nil, err
	}
	rows, err := t.query(ctx, findUnsettledSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []keyward.DocKey
	for rows.Next() {
		var k keyward.DocKey
		if err := rows.Scan(&k.Kind, &k.Scope.Account, &k.Scope.Region, &k.ID); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}
