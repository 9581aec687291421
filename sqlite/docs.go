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
	// docColumns are read by scanDoc, in order: the body and, in the same
	// query (no N+1), the document's references and referrers, each
	// "relation kind id restrict" joined by commas. Ids, kinds and
	// relations hold neither spaces nor commas.
	docColumns = `d.account, d.region, d.id, d.body, d.settled, ` + refsColumn + `,
	(SELECT group_concat(r.relation || ' ' || r.from_kind || ' ' || r.from_id || ' ' || r.restrict_delete, ',')
	 FROM doc_refs r INDEXED BY doc_refs_to
	 WHERE r.account = d.account AND r.region = d.region AND r.to_kind = d.kind AND r.to_id = d.id)`

	refsColumn = `(SELECT group_concat(r.relation || ' ' || r.to_kind || ' ' || r.to_id || ' ' || r.restrict_delete, ',')
	 FROM doc_refs r WHERE r.account = d.account AND r.region = d.region AND r.from_kind = d.kind AND r.from_id = d.id)`

	countDocsSQL = `SELECT COUNT(*) FROM docs WHERE kind = ? AND account = ? AND region = ?`

	insertDocSQL = `INSERT INTO docs (kind, account, region, id, body, settled) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING`
	updateDocSQL = `UPDATE docs SET body = ?, settled = ? WHERE kind = ? AND account = ? AND region = ? AND id = ?`
	deleteDocSQL = `DELETE FROM docs WHERE kind = ? AND account = ? AND region = ? AND id = ?`

	deleteIndexSQL = `DELETE FROM doc_index WHERE kind = ? AND account = ? AND region = ? AND id = ?`
	// insertIndexSQL adds every [name, value] pair of a JSON array.
	insertIndexSQL = `INSERT OR IGNORE INTO doc_index (kind, account, region, field, value, id)
	SELECT ?1, ?2, ?3, j.value ->> 0, j.value ->> 1, ?4 FROM json_each(?5) j`

	// staleIndexSQL deletes a document's index rows that are not in a JSON
	// array of [name, value], and staleRefsSQL its references that are not
	// in one of [relation, kind, id, restrict]: an update rewrites only the
	// rows that changed, so that pages it does not change are not written
	// to the log again.
	staleIndexSQL = `DELETE FROM doc_index WHERE kind = ?1 AND account = ?2 AND region = ?3 AND id = ?4
	AND (field, value) NOT IN (SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?5) j)`
	staleRefsSQL = `DELETE FROM doc_refs WHERE account = ?1 AND region = ?2 AND from_kind = ?3 AND from_id = ?4
	AND (relation, to_kind, to_id, restrict_delete) NOT IN
	(SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3 FROM json_each(?5) j)`

	// insertRefsSQL adds every [relation, kind, id, restrict] of a JSON array.
	insertRefsSQL = `INSERT OR IGNORE INTO doc_refs (account, region, from_kind, from_id, relation, to_kind, to_id, restrict_delete)
	SELECT ?1, ?2, ?3, ?4, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3 FROM json_each(?5) j`
	// missingRefsSQL returns the first [relation, kind, id] of a JSON array
	// whose target does not exist.
	missingRefsSQL = `SELECT j.value ->> 1, j.value ->> 2 FROM json_each(?3) j
	WHERE NOT EXISTS (SELECT 1 FROM docs d WHERE d.kind = j.value ->> 1 AND d.account = ?1 AND d.region = ?2 AND d.id = j.value ->> 2)
	ORDER BY j.key LIMIT 1`
	// deleteCheckSQL tells, before a delete writes anything, whether the
	// document exists, the first Restrict reference to it ("kind id"), and
	// whether it has index rows, references and referrers, in one
	// statement: the deletes of what it does not have are not run.
	deleteCheckSQL = `SELECT EXISTS (SELECT 1 FROM docs WHERE kind = ?3 AND account = ?1 AND region = ?2 AND id = ?4),
	(SELECT from_kind || ' ' || from_id FROM doc_refs INDEXED BY doc_refs_to
	 WHERE account = ?1 AND region = ?2 AND to_kind = ?3 AND to_id = ?4 AND restrict_delete = 1
	 ORDER BY from_kind, from_id LIMIT 1),
	EXISTS (SELECT 1 FROM doc_index INDEXED BY doc_index_doc WHERE kind = ?3 AND account = ?1 AND region = ?2 AND id = ?4),
	EXISTS (SELECT 1 FROM doc_refs WHERE account = ?1 AND region = ?2 AND from_kind = ?3 AND from_id = ?4),
	EXISTS (SELECT 1 FROM doc_refs INDEXED BY doc_refs_to WHERE account = ?1 AND region = ?2 AND to_kind = ?3 AND to_id = ?4)`
	deleteRefsFromSQL = `DELETE FROM doc_refs WHERE account = ? AND region = ? AND from_kind = ? AND from_id = ?`
	deleteRefsToSQL   = `DELETE FROM doc_refs INDEXED BY doc_refs_to WHERE account = ? AND region = ? AND to_kind = ? AND to_id = ?`

	findUnsettledSQL = `SELECT kind, account, region, id FROM docs WHERE settled = 0 ORDER BY kind, account, region, id`
)

// docQueryShape numbers the parts of q a query needs: one shape each.
type docQueryShape struct {
	allScopes, id, after bool
	where                int
	noRefs               bool // the kind holds no references: refs are not read
}

func shapeOf(q keyward.DocQuery) docQueryShape {
	return docQueryShape{allScopes: q.AllScopes, id: q.ID != "", after: q.AfterID != "" && !q.AllScopes, where: len(q.Where), noRefs: q.NoRefs}
}

// docQueryShapes lists the shapes Open prepares: up to two index fields.
func docQueryShapes() []docQueryShape {
	var out []docQueryShape
	for _, all := range []bool{false, true} {
		for _, id := range []bool{false, true} {
			for _, after := range []bool{false, true} {
				for where := range 3 {
					for _, noRefs := range []bool{false, true} {
						if !(all && after) {
							out = append(out, docQueryShape{all, id, after, where, noRefs})
						}
					}
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
	cols := docColumns
	if sh.noRefs {
		cols = strings.Replace(cols, refsColumn, "NULL", 1)
	}
	b.WriteString(`SELECT ` + cols + ` FROM docs d WHERE d.kind = ?`)
	if !sh.allScopes {
		b.WriteString(` AND d.account = ? AND d.region = ?`)
	}
	if sh.id {
		b.WriteString(` AND d.id = ?`)
	}
	if sh.after {
		b.WriteString(` AND d.id > ?`)
	}
	for range sh.where {
		if sh.allScopes {
			b.WriteString(` AND EXISTS (SELECT 1 FROM doc_index i WHERE i.kind = d.kind AND i.account = d.account
			AND i.region = d.region AND i.field = ? AND i.value = ? AND i.id = d.id)`)
		} else {
			// The ids the index holds for the field drive the search (a
			// correlated EXISTS would test every document of the scope).
			b.WriteString(` AND d.id IN (SELECT i.id FROM doc_index i WHERE i.kind = ? AND i.account = ? AND i.region = ?
			AND i.field = ? AND i.value = ?)`)
		}
	}
	if sh.allScopes {
		b.WriteString(` ORDER BY d.account, d.region, d.id LIMIT ?`)
	} else {
		b.WriteString(` ORDER BY d.id LIMIT ?`)
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
	for _, f := range q.Where {
		if !q.AllScopes {
			args = append(args, q.Kind, q.Scope.Account, q.Scope.Region)
		}
		args = append(args, f.Name, f.Value)
	}
	// The LIMIT parameter is always bound to "no limit" and ListDocs stops
	// reading at q.Limit instead: SQLite (3.54) plans a query by the value
	// bound to its LIMIT, so a statement whose LIMIT is bound to another
	// value than on its previous run is parsed and planned again (the
	// rows come in id order from the primary key, so stopping early reads
	// no more than LIMIT would).
	return append(args, -1)
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
	query, ok := listDocsQueries[shapeOf(q)]
	if !ok {
		query = listDocsSQL(shapeOf(q))
	}
	rows, err := t.query(ctx, query, docQueryArgs(q)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Doc
	for rows.Next() {
		d := &keyward.Doc{Kind: q.Kind}
		var refs, referrers sql.NullString
		if err := rows.Scan(&d.Scope.Account, &d.Scope.Region, &d.ID, &d.Body, &d.Settled, &refs, &referrers); err != nil {
			return nil, err
		}
		if d.Refs, err = parseRefs(refs); err != nil {
			return nil, err
		}
		if d.Referrers, err = parseRefs(referrers); err != nil {
			return nil, err
		}
		out = append(out, d)
		if len(out) == q.Limit {
			break // see docQueryArgs
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
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

// parseRefs reads the references group_concat joined, sorted by relation,
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

// CountDocs returns how many documents of the kind the scope holds.
func (t *tx) CountDocs(ctx context.Context, kind string, s keyward.Scope) (n int, err error) {
	defer wrap(&err, "count %s", kind)
	if err := t.ensure(); err != nil {
		return 0, err
	}
	err = t.queryRow(ctx, countDocsSQL, kind, s.Account, s.Region).Scan(&n)
	return n, err
}

// InsertDoc stores a new document; EEXISTS, or ENOTFOUND for a reference
// to nothing, leave the transaction as it was: both are found before
// anything is written (see tx.failed for the other errors).
func (t *tx) InsertDoc(ctx context.Context, d *keyward.Doc) (err error) {
	defer wrap(&err, "insert %s %q", d.Kind, d.ID)
	refs, err := t.checkRefs(ctx, d)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, insertDocSQL, d.Kind, d.Scope.Account, d.Scope.Region, d.ID, d.Body, d.Settled)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return keyward.ErrDocExists(d.Kind, d.ID)
	}
	return t.writeDependents(ctx, d, refs, true)
}

// UpdateDoc replaces a document; ENOTFOUND if it or a referenced document
// does not exist, found before anything is written.
func (t *tx) UpdateDoc(ctx context.Context, d *keyward.Doc) (err error) {
	defer wrap(&err, "update %s %q", d.Kind, d.ID)
	refs, err := t.checkRefs(ctx, d)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, updateDocSQL, d.Body, d.Settled, d.Kind, d.Scope.Account, d.Scope.Region, d.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return keyward.ErrDocNotFound(d.Kind, d.ID)
	}
	if !d.IndexKept {
		q, args := indexStatement(staleIndexSQL, staleIndexSQLs, d)
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	if !d.NoRefs || refs != "" {
		staleRefs := refs
		if staleRefs == "" {
			staleRefs = "[]"
		}
		if _, err := t.exec(ctx, staleRefsSQL, d.Scope.Account, d.Scope.Region, d.Kind, d.ID, staleRefs); err != nil {
			return err
		}
	}
	return t.writeDependents(ctx, d, refs, !d.IndexKept)
}

// Most kinds index at most a few fields: for up to maxIndexArity fields
// the index statements take them as parameters, which costs SQLite less
// than reading a JSON array with json_each, and Go no JSON encoding.
const maxIndexArity = 3

// insertIndexSQLs[n] and staleIndexSQLs[n] are insertIndexSQL and
// staleIndexSQL for n fields given as ?5, ?6 (name, value), ?7, ?8...
var insertIndexSQLs, staleIndexSQLs = func() (ins, stale [maxIndexArity + 1]string) {
	for n := 1; n <= maxIndexArity; n++ {
		var rows, pairs []string
		for i := range n {
			rows = append(rows, fmt.Sprintf("(?1, ?2, ?3, ?%d, ?%d, ?4)", 5+2*i, 6+2*i))
			pairs = append(pairs, fmt.Sprintf("(field = ?%d AND value = ?%d)", 5+2*i, 6+2*i))
		}
		ins[n] = `INSERT OR IGNORE INTO doc_index (kind, account, region, field, value, id) VALUES ` + strings.Join(rows, ", ")
		stale[n] = `DELETE FROM doc_index WHERE kind = ?1 AND account = ?2 AND region = ?3 AND id = ?4 AND NOT (` +
			strings.Join(pairs, " OR ") + `)`
	}
	stale[0] = deleteIndexSQL
	return ins, stale
}()

// indexStatement returns the statement and arguments that apply jsonSQL
// (insertIndexSQL or staleIndexSQL) to d's index fields: the fixed-arity
// form of byArity if d has few enough fields, else jsonSQL.
func indexStatement(jsonSQL string, byArity [maxIndexArity + 1]string, d *keyward.Doc) (string, []any) {
	n := len(d.Index)
	if n > maxIndexArity || byArity[n] == "" {
		return jsonSQL, []any{d.Kind, d.Scope.Account, d.Scope.Region, d.ID, indexJSON(d)}
	}
	args := make([]any, 4, 4+2*n)
	args[0], args[1], args[2], args[3] = d.Kind, d.Scope.Account, d.Scope.Region, d.ID
	for _, f := range d.Index {
		args = append(args, f.Name, f.Value)
	}
	return byArity[n], args
}

// indexJSON is a document's index fields as the JSON array of [name,
// value] that insertIndexSQL and staleIndexSQL read.
func indexJSON(d *keyward.Doc) string {
	pairs := make([][2]string, len(d.Index))
	for i, f := range d.Index {
		pairs[i] = [2]string{f.Name, f.Value}
	}
	return mustJSON(pairs)
}

// checkRefs returns a document's references as the JSON insertRefsSQL
// reads ("" if none), or ENOTFOUND for the first whose target does not
// exist.
func (t *tx) checkRefs(ctx context.Context, d *keyward.Doc) (string, error) {
	if len(d.Refs) == 0 {
		return "", nil
	}
	refs := make([][4]any, len(d.Refs))
	for i, r := range d.Refs {
		restrict := 0
		if r.Restrict {
			restrict = 1
		}
		refs[i] = [4]any{r.Relation, r.Kind, r.ID, restrict}
	}
	js := mustJSON(refs)
	var kind, id string
	switch err := t.queryRow(ctx, missingRefsSQL, d.Scope.Account, d.Scope.Region, js).Scan(&kind, &id); err {
	case nil:
		return "", keyward.ErrDocNotFound(kind, id)
	case sql.ErrNoRows:
		return js, nil
	default:
		return "", err
	}
}

// writeDependents writes a document's index fields (if index) and its
// references (refs, from checkRefs).
func (t *tx) writeDependents(ctx context.Context, d *keyward.Doc, refs string, index bool) error {
	if index && len(d.Index) > 0 {
		q, args := indexStatement(insertIndexSQL, insertIndexSQLs, d)
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	if refs == "" {
		return nil
	}
	_, err := t.exec(ctx, insertRefsSQL, d.Scope.Account, d.Scope.Region, d.Kind, d.ID, refs)
	return err
}

// DeleteDoc removes a document and what depends on it; ENOTFOUND if
// absent, EREFERENCED if a Restrict reference holds it, both found before
// anything is written.
func (t *tx) DeleteDoc(ctx context.Context, kind string, s keyward.Scope, id string) (err error) {
	defer wrap(&err, "delete %s %q", kind, id)
	var exists, indexed, refs, referrers bool
	var by sql.NullString
	if err := t.queryRow(ctx, deleteCheckSQL, s.Account, s.Region, kind, id).Scan(&exists, &by, &indexed, &refs, &referrers); err != nil {
		return err
	}
	if by.Valid {
		byKind, byID, _ := strings.Cut(by.String, " ")
		return keyward.ErrDocReferenced(kind, id, byKind, byID)
	}
	if !exists {
		return keyward.ErrDocNotFound(kind, id)
	}
	if _, err := t.exec(ctx, deleteDocSQL, kind, s.Account, s.Region, id); err != nil {
		return err
	}
	// The transaction holds the write lock: nothing has changed since the
	// check.
	if indexed {
		if _, err := t.exec(ctx, deleteIndexSQL, kind, s.Account, s.Region, id); err != nil {
			return err
		}
	}
	if refs {
		if _, err := t.exec(ctx, deleteRefsFromSQL, s.Account, s.Region, kind, id); err != nil {
			return err
		}
	}
	if referrers {
		if _, err := t.exec(ctx, deleteRefsToSQL, s.Account, s.Region, kind, id); err != nil {
			return err
		}
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
