package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"keyward"

	"github.com/jackc/pgx/v5"
)

// The one code path of every resource kind: documents (docs), their index
// fields (doc_index) and their references (doc_refs), as migration
// 0002_documents creates them. Each method checks what it needs first,
// in its snapshot, so that one that answers a domain error has written
// nothing (PostgreSQL aborts a transaction at its first failed
// statement); SERIALIZABLE turns a concurrent change of what was checked
// into a conflict that Update retries.

// docColumns are read by scanDoc, in order: the body and, in the same
// query (no N+1), the document's references and referrers, sorted.
const docColumns = `d.account, d.region, d.id, d.body, d.settled,
	ARRAY(SELECT r.relation || ' ' || r.to_kind || ' ' || r.to_id || ' ' || r.restrict_delete::int FROM doc_refs r
	      WHERE r.account = d.account AND r.region = d.region AND r.from_kind = d.kind AND r.from_id = d.id
	      ORDER BY r.relation, r.to_kind, r.to_id),
	ARRAY(SELECT r.relation || ' ' || r.from_kind || ' ' || r.from_id || ' ' || r.restrict_delete::int FROM doc_refs r
	      WHERE r.account = d.account AND r.region = d.region AND r.to_kind = d.kind AND r.to_id = d.id
	      ORDER BY r.relation, r.from_kind, r.from_id)`

const (
	countDocsSQL = `SELECT count(*) FROM docs WHERE kind = $1 AND account = $2 AND region = $3`

	// insertDocSQL inserts nothing if the id is taken; a row a concurrent
	// transaction inserted makes it fail with a serialization failure
	// instead, which Update retries.
	insertDocSQL = `INSERT INTO docs (kind, account, region, id, body, settled) VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT DO NOTHING`
	updateDocSQL = `UPDATE docs SET body = $5, settled = $6 WHERE kind = $1 AND account = $2 AND region = $3 AND id = $4`

	// deleteDocSQL deletes a document with its index rows and references,
	// both ways, and counts the documents deleted.
	deleteDocSQL = `WITH deleted AS (
		DELETE FROM docs WHERE kind = $1 AND account = $2 AND region = $3 AND id = $4 RETURNING id
	), unindexed AS (
		DELETE FROM doc_index WHERE kind = $1 AND account = $2 AND region = $3 AND id IN (SELECT id FROM deleted)
	), unreferencing AS (
		DELETE FROM doc_refs WHERE account = $2 AND region = $3 AND from_kind = $1 AND from_id IN (SELECT id FROM deleted)
	), unreferenced AS (
		DELETE FROM doc_refs WHERE account = $2 AND region = $3 AND to_kind = $1 AND to_id IN (SELECT id FROM deleted)
	)
	SELECT count(*) FROM deleted`

	// deleteDependentsSQL deletes a document's index rows and references;
	// insertDependentsSQL then writes the new ones, given as parallel
	// arrays. Two statements, since the rows of one statement's deletes are
	// still there for its inserts.
	deleteDependentsSQL = `WITH unindexed AS (
		DELETE FROM doc_index WHERE kind = $1 AND account = $2 AND region = $3 AND id = $4
	)
	DELETE FROM doc_refs WHERE account = $2 AND region = $3 AND from_kind = $1 AND from_id = $4`
	insertDependentsSQL = `WITH indexed AS (
		INSERT INTO doc_index (kind, account, region, field, value, id)
		SELECT DISTINCT $1, $2, $3, f.name, f.value, $4 FROM unnest($5::text[], $6::text[]) AS f(name, value)
	)
	INSERT INTO doc_refs (account, region, from_kind, from_id, relation, to_kind, to_id, restrict_delete)
	SELECT DISTINCT ON (r.relation, r.kind, r.id) $2, $3, $1, $4, r.relation, r.kind, r.id, r.restrict_delete
	FROM unnest($7::text[], $8::text[], $9::text[], $10::boolean[]) AS r(relation, kind, id, restrict_delete)`

	// missingRefSQL returns the first reference, of those given as
	// parallel arrays, whose target does not exist.
	missingRefSQL = `SELECT r.kind, r.id FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS r(kind, id, n)
	WHERE NOT EXISTS (SELECT 1 FROM docs d WHERE d.kind = r.kind AND d.account = $1 AND d.region = $2 AND d.id = r.id)
	ORDER BY r.n LIMIT 1`

	restrictingRefSQL = `SELECT from_kind, from_id FROM doc_refs
	WHERE account = $1 AND region = $2 AND to_kind = $3 AND to_id = $4 AND restrict_delete
	ORDER BY from_kind, from_id LIMIT 1`

	findUnsettledSQL = `SELECT kind, account, region, id FROM docs WHERE NOT settled ORDER BY kind, account, region, id`
)

// listDocsSQL writes the query for q and its arguments. Only the parts q
// uses appear, so the planner can seek the primary key; pgx prepares each
// shape once per connection.
func listDocsSQL(q keyward.DocQuery) (string, args) {
	var a args
	var b strings.Builder
	b.WriteString(`SELECT ` + docColumns + ` FROM docs d WHERE d.kind = ` + a.add(q.Kind))
	if !q.AllScopes {
		b.WriteString(` AND d.account = ` + a.add(q.Scope.Account) + ` AND d.region = ` + a.add(q.Scope.Region))
	}
	if q.ID != "" {
		b.WriteString(` AND d.id = ` + a.add(q.ID))
	}
	if q.AfterID != "" && !q.AllScopes {
		b.WriteString(` AND d.id > ` + a.add(q.AfterID))
	}
	for _, f := range q.Where {
		b.WriteString(` AND EXISTS (SELECT 1 FROM doc_index i WHERE i.kind = d.kind AND i.account = d.account
		AND i.region = d.region AND i.field = ` + a.add(f.Name) + ` AND i.value = ` + a.add(f.Value) + ` AND i.id = d.id)`)
	}
	if q.AllScopes {
		b.WriteString(` ORDER BY d.account, d.region, d.id`)
	} else {
		b.WriteString(` ORDER BY d.id`)
	}
	if q.Limit > 0 {
		b.WriteString(` LIMIT ` + a.add(q.Limit))
	}
	return b.String(), a
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
	sql, a := listDocsSQL(q)
	rows, err := t.query(ctx, sql, a...)
	return collect(t, rows, err, func(row pgx.CollectableRow) (*keyward.Doc, error) {
		d := &keyward.Doc{Kind: q.Kind}
		var refs, referrers []string
		if err := row.Scan(&d.Scope.Account, &d.Scope.Region, &d.ID, &d.Body, &d.Settled, &refs, &referrers); err != nil {
			return nil, err
		}
		var err error
		if d.Refs, err = parseRefs(refs); err != nil {
			return nil, err
		}
		d.Referrers, err = parseRefs(referrers)
		return d, err
	})
}

// parseRefs reads references written "relation kind id restrict".
func parseRefs(ss []string) ([]keyward.Ref, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	refs := make([]keyward.Ref, len(ss))
	for i, s := range ss {
		f := strings.Split(s, " ")
		if len(f) != 4 {
			return nil, fmt.Errorf("malformed reference %q", s)
		}
		refs[i] = keyward.Ref{Relation: f[0], Kind: f[1], ID: f[2], Restrict: f[3] == "1"}
	}
	return refs, nil
}

// CountDocs returns how many documents of the kind the scope holds.
func (t *tx) CountDocs(ctx context.Context, kind string, s keyward.Scope) (n int, err error) {
	defer wrap(&err, "count %s", kind)
	err = t.queryRow(ctx, false, countDocsSQL, args{kind, s.Account, s.Region}, &n)
	return n, err
}

// InsertDoc stores a new document; a domain error means nothing was written.
func (t *tx) InsertDoc(ctx context.Context, d *keyward.Doc) (err error) {
	defer wrap(&err, "insert %s %q", d.Kind, d.ID)
	if err := t.checkRefs(ctx, d); err != nil {
		return err
	}
	tag, err := t.exec(ctx, insertDocSQL, d.Kind, d.Scope.Account, d.Scope.Region, d.ID, d.Body, d.Settled)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return keyward.ErrDocExists(d.Kind, d.ID)
	}
	return t.insertDependents(ctx, d)
}

// UpdateDoc replaces a document; a domain error means nothing was written.
func (t *tx) UpdateDoc(ctx context.Context, d *keyward.Doc) (err error) {
	defer wrap(&err, "update %s %q", d.Kind, d.ID)
	if err := t.checkRefs(ctx, d); err != nil {
		return err
	}
	tag, err := t.exec(ctx, updateDocSQL, d.Kind, d.Scope.Account, d.Scope.Region, d.ID, d.Body, d.Settled)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return keyward.ErrDocNotFound(d.Kind, d.ID)
	}
	if _, err := t.exec(ctx, deleteDependentsSQL, d.Kind, d.Scope.Account, d.Scope.Region, d.ID); err != nil {
		return err
	}
	return t.insertDependents(ctx, d)
}

// checkRefs answers ENOTFOUND for the first reference to nothing.
func (t *tx) checkRefs(ctx context.Context, d *keyward.Doc) error {
	if len(d.Refs) == 0 {
		return nil
	}
	kinds, ids := make([]string, len(d.Refs)), make([]string, len(d.Refs))
	for i, r := range d.Refs {
		kinds[i], ids[i] = r.Kind, r.ID
	}
	var kind, id string
	err := t.queryRow(ctx, false, missingRefSQL, args{d.Scope.Account, d.Scope.Region, kinds, ids}, &kind, &id)
	switch {
	case err == nil:
		return keyward.ErrDocNotFound(kind, id)
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	}
	return err
}

func (t *tx) insertDependents(ctx context.Context, d *keyward.Doc) error {
	if len(d.Index) == 0 && len(d.Refs) == 0 {
		return nil
	}
	names, values := make([]string, len(d.Index)), make([]string, len(d.Index))
	for i, f := range d.Index {
		names[i], values[i] = f.Name, f.Value
	}
	n := len(d.Refs)
	rels, kinds, ids, restricts := make([]string, n), make([]string, n), make([]string, n), make([]bool, n)
	for i, r := range d.Refs {
		rels[i], kinds[i], ids[i], restricts[i] = r.Relation, r.Kind, r.ID, r.Restrict
	}
	_, err := t.exec(ctx, insertDependentsSQL, d.Kind, d.Scope.Account, d.Scope.Region, d.ID,
		names, values, rels, kinds, ids, restricts)
	return err
}

// DeleteDoc removes a document and what depends on it; a domain error
// means nothing was written.
func (t *tx) DeleteDoc(ctx context.Context, kind string, s keyward.Scope, id string) (err error) {
	defer wrap(&err, "delete %s %q", kind, id)
	var byKind, byID string
	switch err := t.queryRow(ctx, false, restrictingRefSQL, args{s.Account, s.Region, kind, id}, &byKind, &byID); {
	case err == nil:
		return keyward.ErrDocReferenced(kind, id, byKind, byID)
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	var n int
	if err := t.queryRow(ctx, true, deleteDocSQL, args{kind, s.Account, s.Region, id}, &n); err != nil {
		return err
	}
	if n == 0 {
		return keyward.ErrDocNotFound(kind, id)
	}
	return nil
}

// FindUnsettled returns the keys of every unsettled document.
func (t *tx) FindUnsettled(ctx context.Context) (_ []keyward.DocKey, err error) {
	defer wrap(&err, "find unsettled")
	rows, err := t.query(ctx, findUnsettledSQL)
	return collect(t, rows, err, func(row pgx.CollectableRow) (keyward.DocKey, error) {
		var k keyward.DocKey
		err := row.Scan(&k.Kind, &k.Scope.Account, &k.Scope.Region, &k.ID)
		return k, err
	})
}
