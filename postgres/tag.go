package postgres

import (
	"context"

	"keyward"

	"github.com/jackc/pgx/v5"
)

const (
	findTagsSQL = `SELECT key, value FROM tags
	WHERE account = $1 AND region = $2 AND resource_type = $3 AND resource_id = $4 ORDER BY position`

	// replaceTagsSQL writes the n tags ($5 keys, $6 values) at positions 1
	// to n, over whatever was there, and deletes the positions after n: the
	// upsert and the delete touch different rows, as CTEs of one statement
	// must.
	replaceTagsSQL = `WITH upserted AS (
		INSERT INTO tags (account, region, resource_type, resource_id, position, key, value)
		SELECT $1, $2, $3, $4, t.n, t.key, t.value
		FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS t(key, value, n)
		ON CONFLICT (account, region, resource_type, resource_id, position)
		DO UPDATE SET key = excluded.key, value = excluded.value
	)
	DELETE FROM tags WHERE account = $1 AND region = $2 AND resource_type = $3 AND resource_id = $4
	AND position > cardinality($5::text[])`

	// findUnsettledSQL repeats the conditions of the partial indexes
	// users_unsettled, user_groups_unsettled and caches_unsettled so that
	// the planner can read only the few rows not at rest.
	findUnsettledSQL = `SELECT $1::text, account, region, id FROM users WHERE status <> 'active'
	UNION ALL
	SELECT $2::text, account, region, id FROM user_groups WHERE status <> 'active'
	UNION ALL
	SELECT CASE kind WHEN 'serverlesscache' THEN $4::text ELSE $3::text END, account, region, id FROM caches
	WHERE status NOT IN ('available', 'create-failed')
	ORDER BY 1, 2, 3, 4`
)

// FindTags returns the tags of a resource in the order they were added.
func (t *tx) FindTags(ctx context.Context, s keyward.Scope, r keyward.ResourceRef) (_ []keyward.Tag, err error) {
	defer wrap(&err, "find tags of %s %q", r.Type, r.ID)
	rows, err := t.query(ctx, findTagsSQL, s.Account, s.Region, string(r.Type), r.ID)
	tags, err := collect(t, rows, err, pgx.RowToStructByPos[keyward.Tag])
	if len(tags) == 0 {
		tags = nil
	}
	return tags, err
}

// ReplaceTags sets the tags of a resource; an empty list removes them all.
func (t *tx) ReplaceTags(ctx context.Context, s keyward.Scope, r keyward.ResourceRef, tags []keyward.Tag) (err error) {
	defer wrap(&err, "replace tags of %s %q", r.Type, r.ID)
	keys, values := make([]string, len(tags)), make([]string, len(tags))
	for i, tag := range tags {
		keys[i], values[i] = tag.Key, tag.Value
	}
	_, err = t.exec(ctx, replaceTagsSQL, s.Account, s.Region, string(r.Type), r.ID, keys, values)
	return err
}

// FindUnsettled returns every user and group whose status is not active,
// and every cache whose status is neither available nor create-failed, in
// every scope, ordered by resource, scope and id.
func (t *tx) FindUnsettled(ctx context.Context) (_ []keyward.Key, err error) {
	defer wrap(&err, "find unsettled")
	rows, err := t.query(ctx, findUnsettledSQL, string(keyward.ResourceUser), string(keyward.ResourceUserGroup),
		string(keyward.KindReplicationGroup.Resource()), string(keyward.KindServerless.Resource()))
	return collect(t, rows, err, func(row pgx.CollectableRow) (keyward.Key, error) {
		var k keyward.Key
		err := row.Scan(&k.Resource, &k.Scope.Account, &k.Scope.Region, &k.ID)
		return k, err
	})
}
