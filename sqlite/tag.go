package sqlite

import (
	"context"
	"encoding/json"

	"keyward"
)

const (
	findTagsSQL = `SELECT key, value FROM tags
	WHERE account = ? AND region = ? AND resource_type = ? AND resource_id = ? ORDER BY position`

	deleteTagsSQL = `DELETE FROM tags WHERE account = ? AND region = ? AND resource_type = ? AND resource_id = ?`

	// insertTagsSQL adds every [key, value] pair of a JSON array, keeping
	// the array's order as position.
	insertTagsSQL = `INSERT INTO tags (account, region, resource_type, resource_id, position, key, value)
	SELECT ?1, ?2, ?3, ?4, j.key, j.value ->> 0, j.value ->> 1 FROM json_each(?5) j`

	findUnsettledSQL = `SELECT ?1, account, region, id FROM users WHERE status <> 'active'
	UNION ALL
	SELECT ?2, account, region, id FROM user_groups WHERE status <> 'active'
	UNION ALL
	SELECT CASE kind WHEN 'serverlesscache' THEN ?4 ELSE ?3 END, account, region, id FROM caches
	WHERE status NOT IN ('available', 'create-failed')
	ORDER BY 1, 2, 3, 4`
)

// FindTags returns the tags of a resource in the order they were added.
func (t *tx) FindTags(ctx context.Context, s keyward.Scope, r keyward.ResourceRef) (_ []keyward.Tag, err error) {
	defer wrap(&err, "find tags of %s %q", r.Type, r.ID)
	rows, err := t.query(ctx, findTagsSQL, s.Account, s.Region, string(r.Type), r.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tags []keyward.Tag
	for rows.Next() {
		var tag keyward.Tag
		if err := rows.Scan(&tag.Key, &tag.Value); err != nil {
			return nil, err
		}
		tags = append(tags, tag)
	}
	return tags, rows.Err()
}

// ReplaceTags sets the tags of a resource; an empty list removes them all.
func (t *tx) ReplaceTags(ctx context.Context, s keyward.Scope, r keyward.ResourceRef, tags []keyward.Tag) (err error) {
	defer wrap(&err, "replace tags of %s %q", r.Type, r.ID)
	if _, err := t.exec(ctx, deleteTagsSQL, s.Account, s.Region, string(r.Type), r.ID); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	pairs := make([][2]string, len(tags))
	for i, tag := range tags {
		pairs[i] = [2]string{tag.Key, tag.Value}
	}
	b, err := json.Marshal(pairs)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, insertTagsSQL, s.Account, s.Region, string(r.Type), r.ID, string(b))
	return err
}

// FindUnsettled returns every user and group whose status is not active,
// and every cache whose status is neither available nor create-failed, in
// every scope, ordered by resource, scope and id.
func (t *tx) FindUnsettled(ctx context.Context) (_ []keyward.Key, err error) {
	defer wrap(&err, "find unsettled")
	rows, err := t.query(ctx, findUnsettledSQL, string(keyward.ResourceUser), string(keyward.ResourceUserGroup),
		string(keyward.KindReplicationGroup.Resource()), string(keyward.KindServerless.Resource()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []keyward.Key
	for rows.Next() {
		var k keyward.Key
		if err := rows.Scan(&k.Resource, &k.Scope.Account, &k.Scope.Region, &k.ID); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}
