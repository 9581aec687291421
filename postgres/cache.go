package postgres

import (
	"context"
	"encoding/json"

	"keyward"

	"github.com/jackc/pgx/v5"
)

// cacheColumns are read by findCaches, in order. The scope and kind come
// from the row, so FindAllCaches shares the scanner; the last column is the
// cache's side of the attachment relation, in the same query (no N+1).
const cacheColumns = `c.account, c.region, c.kind, c.id, c.description, c.engine, c.engine_version,
	c.cache_node_type, c.status, c.status_since, c.generation, c.created_at, c.num_nodes,
	c.transit_encryption, c.auth_token_hashes, c.auth_token_optional, c.auth_token_last_modified,
	c.pending_user_groups_add, c.pending_user_groups_remove, c.nodes,
	c.failure_message, c.applied_acl, c.applied_default_user,
	ARRAY(SELECT a.group_id FROM cache_user_groups a
	      WHERE a.account = c.account AND a.region = c.region AND a.cache_type = c.kind AND a.cache_id = c.id
	      ORDER BY a.group_id)`

const (
	findAllCachesSQL = `SELECT ` + cacheColumns + ` FROM caches c ORDER BY c.account, c.region, c.kind, c.id`

	// wantGroupsSQL starts the statements that store a cache with its
	// attached groups ($24, sorted and without duplicates), as
	// wantMembersSQL does for a group and its members.
	wantGroupsSQL = `WITH want AS (
		SELECT w.id, w.n FROM unnest($24::text[]) WITH ORDINALITY AS w(id, n)
	), missing AS (
		SELECT w.id FROM want w
		WHERE NOT EXISTS (SELECT 1 FROM user_groups g WHERE g.account = $1 AND g.region = $2 AND g.id = w.id)
		ORDER BY w.n LIMIT 1
	), existing AS (
		SELECT 1 FROM caches WHERE account = $1 AND region = $2 AND kind = $3 AND id = $4
	)`

	insertCacheSQL = wantGroupsSQL + `, inserted AS (
		INSERT INTO caches (account, region, kind, id, description, engine, engine_version,
			cache_node_type, status, status_since, generation, created_at, num_nodes, transit_encryption,
			auth_token_hashes, auth_token_optional, auth_token_last_modified,
			pending_user_groups_add, pending_user_groups_remove, nodes,
			failure_message, applied_acl, applied_default_user)
		SELECT $1, $2, $3, $4, $5::text, $6::text, $7::text,
			$8::text, $9::text, $10::bigint, $11::bigint, $12::bigint, $13::integer, $14::boolean,
			$15::text[], $16::boolean, $17::bigint,
			$18::text[], $19::text[], $20::jsonb,
			$21::text, $22::text, $23::text
		WHERE NOT EXISTS (SELECT 1 FROM existing) AND NOT EXISTS (SELECT 1 FROM missing)
		ON CONFLICT DO NOTHING
		RETURNING 1
	), attached AS (
		INSERT INTO cache_user_groups (account, region, cache_type, cache_id, group_id)
		SELECT $1, $2, $3, $4, w.id FROM want w WHERE EXISTS (SELECT 1 FROM inserted)
	)
	SELECT EXISTS (SELECT 1 FROM existing), (SELECT id FROM missing), EXISTS (SELECT 1 FROM inserted)`

	updateCacheSQL = wantGroupsSQL + `, updated AS (
		UPDATE caches SET description = $5, engine = $6, engine_version = $7,
			cache_node_type = $8, status = $9, status_since = $10, generation = $11, created_at = $12,
			num_nodes = $13, transit_encryption = $14, auth_token_hashes = $15,
			auth_token_optional = $16, auth_token_last_modified = $17,
			pending_user_groups_add = $18, pending_user_groups_remove = $19, nodes = $20,
			failure_message = $21, applied_acl = $22, applied_default_user = $23
		WHERE account = $1 AND region = $2 AND kind = $3 AND id = $4 AND NOT EXISTS (SELECT 1 FROM missing)
		RETURNING 1
	), detached AS (
		DELETE FROM cache_user_groups a
		WHERE a.account = $1 AND a.region = $2 AND a.cache_type = $3 AND a.cache_id = $4
		AND a.group_id <> ALL ($24::text[]) AND EXISTS (SELECT 1 FROM updated)
	), attached AS (
		INSERT INTO cache_user_groups (account, region, cache_type, cache_id, group_id)
		SELECT $1, $2, $3, $4, w.id FROM want w WHERE EXISTS (SELECT 1 FROM updated)
		ON CONFLICT DO NOTHING
	)
	SELECT EXISTS (SELECT 1 FROM existing), (SELECT id FROM missing), EXISTS (SELECT 1 FROM updated)`

	// deleteCacheSQL deletes a cache and, if it existed, its tags; its
	// attachments go by cascade. The kind is also the tags' resource type.
	deleteCacheSQL = `WITH deleted AS (
		DELETE FROM caches WHERE account = $1 AND region = $2 AND kind = $3 AND id = $4 RETURNING id
	), untagged AS (
		DELETE FROM tags WHERE account = $1 AND region = $2 AND resource_type = $3
		AND resource_id IN (SELECT id FROM deleted)
	)
	SELECT count(*) FROM deleted`
)

// findCachesSQL writes the query for f and its arguments. The primary key
// (account, region, kind, id) serves every shape and the order.
func findCachesSQL(s keyward.Scope, kind keyward.CacheKind, f keyward.CacheFilter) (string, args) {
	var a args
	q := `SELECT ` + cacheColumns + ` FROM caches c WHERE c.account = ` + a.add(s.Account) +
		` AND c.region = ` + a.add(s.Region) + ` AND c.kind = ` + a.add(string(kind))
	if f.ID != "" {
		q += ` AND c.id = ` + a.add(f.ID)
	}
	if f.AfterID != "" {
		q += ` AND c.id > ` + a.add(f.AfterID)
	}
	q += ` ORDER BY c.id`
	if f.Limit > 0 {
		q += ` LIMIT ` + a.add(f.Limit)
	}
	return q, a
}

// cacheNoun names a kind in public messages, as ElastiCache does.
func cacheNoun(kind keyward.CacheKind) string {
	if kind == keyward.KindServerless {
		return "Serverless cache"
	}
	return "Replication group"
}

func errCacheNotFound(kind keyward.CacheKind, id string) *keyward.Error {
	return keyward.Errorf(keyward.ENOTFOUND, kind.Resource(), "%s %s not found.", cacheNoun(kind), id)
}

func errCacheExists(kind keyward.CacheKind, id string) *keyward.Error {
	return keyward.Errorf(keyward.EEXISTS, kind.Resource(), "%s %s already exists.", cacheNoun(kind), id)
}

// missingGroup returns the error of an attachment that names a group the
// scope lacks, a foreign-key violation included.
func missingGroup(id string) *keyward.Error { return errUserGroupNotFound(id) }

// FindCacheByID returns the cache, or ENOTFOUND.
func (t *tx) FindCacheByID(ctx context.Context, s keyward.Scope, kind keyward.CacheKind, id string) (_ *keyward.Cache, err error) {
	defer wrap(&err, "find %s %q", kind, id)
	q, a := findCachesSQL(s, kind, keyward.CacheFilter{ID: id})
	cs, err := t.findCaches(ctx, q, a...)
	if err != nil {
		return nil, err
	} else if len(cs) == 0 {
		return nil, errCacheNotFound(kind, id)
	}
	return cs[0], nil
}

// FindCaches returns the caches of one kind matching f, ordered by id.
func (t *tx) FindCaches(ctx context.Context, s keyward.Scope, kind keyward.CacheKind, f keyward.CacheFilter) (_ []*keyward.Cache, err error) {
	defer wrap(&err, "find %s caches", kind)
	q, a := findCachesSQL(s, kind, f)
	return t.findCaches(ctx, q, a...)
}

// FindAllCaches returns every cache of every kind in every scope, ordered
// by scope, kind and id.
func (t *tx) FindAllCaches(ctx context.Context) (_ []*keyward.Cache, err error) {
	defer wrap(&err, "find all caches")
	return t.findCaches(ctx, findAllCachesSQL)
}

func (t *tx) findCaches(ctx context.Context, q string, a ...any) ([]*keyward.Cache, error) {
	rows, err := t.query(ctx, q, a...)
	return collect(t, rows, err, func(row pgx.CollectableRow) (*keyward.Cache, error) {
		c := &keyward.Cache{}
		var nodes []byte
		if err := row.Scan(&c.Scope.Account, &c.Scope.Region, &c.Kind, &c.ID, &c.Description,
			&c.Engine, &c.EngineVersion, &c.CacheNodeType, &c.Status, (*nanoTime)(&c.StatusSince), &c.Generation,
			(*nanoTime)(&c.CreatedAt), &c.NumNodes, &c.TransitEncryption, &c.AuthTokenHashes,
			&c.AuthTokenOptional, (*nanoTime)(&c.AuthTokenLastModified),
			&c.PendingUserGroupsAdd, &c.PendingUserGroupsRemove, &nodes,
			&c.FailureMessage, &c.AppliedACL, &c.AppliedDefaultUser, &c.UserGroupIDs); err != nil {
			return nil, err
		}
		c.AuthTokenHashes, c.UserGroupIDs = nilIfEmpty(c.AuthTokenHashes), nilIfEmpty(c.UserGroupIDs)
		c.PendingUserGroupsAdd, c.PendingUserGroupsRemove = nilIfEmpty(c.PendingUserGroupsAdd), nilIfEmpty(c.PendingUserGroupsRemove)
		var err error
		c.Nodes, err = decodeNodes(nodes)
		return c, err
	})
}

// cacheArgs returns the arguments of insertCacheSQL and updateCacheSQL.
func cacheArgs(c *keyward.Cache) args {
	return args{c.Scope.Account, c.Scope.Region, string(c.Kind), c.ID, c.Description,
		string(c.Engine), c.EngineVersion, c.CacheNodeType, string(c.Status),
		nanoTime(c.StatusSince), c.Generation, nanoTime(c.CreatedAt), c.NumNodes, c.TransitEncryption,
		list(c.AuthTokenHashes), c.AuthTokenOptional, nanoTime(c.AuthTokenLastModified),
		list(c.PendingUserGroupsAdd), list(c.PendingUserGroupsRemove), encodeNodes(c.Nodes),
		c.FailureMessage, c.AppliedACL, c.AppliedDefaultUser, ids(c.UserGroupIDs)}
}

// CreateCache stores c and its attachments in one statement; EEXISTS if
// the id is taken for that kind, else ENOTFOUND (ResourceUserGroup) naming
// the first attached group that does not exist. On error nothing of c is
// stored.
func (t *tx) CreateCache(ctx context.Context, c *keyward.Cache) (err error) {
	defer wrap(&err, "create %s %q", c.Kind, c.ID)
	var existed, inserted bool
	var missing *string
	if err := t.queryRow(ctx, true, insertCacheSQL, cacheArgs(c), &existed, &missing, &inserted); err != nil {
		return violation(err, errCacheExists(c.Kind, c.ID), missingGroup)
	}
	switch {
	case existed:
		return errCacheExists(c.Kind, c.ID)
	case missing != nil:
		return missingGroup(*missing)
	case !inserted:
		return errCacheExists(c.Kind, c.ID)
	}
	return nil
}

// UpdateCache stores every field of c and replaces its attachments with
// c.UserGroupIDs in one statement; ENOTFOUND if the cache does not exist,
// else ENOTFOUND (ResourceUserGroup) naming the first attached group that
// does not. On error the cache is left as it was.
func (t *tx) UpdateCache(ctx context.Context, c *keyward.Cache) (err error) {
	defer wrap(&err, "update %s %q", c.Kind, c.ID)
	var existed, updated bool
	var missing *string
	if err := t.queryRow(ctx, true, updateCacheSQL, cacheArgs(c), &existed, &missing, &updated); err != nil {
		return violation(err, nil, missingGroup)
	}
	switch {
	case !existed:
		return errCacheNotFound(c.Kind, c.ID)
	case missing != nil:
		return missingGroup(*missing)
	case !updated:
		return errCacheNotFound(c.Kind, c.ID)
	}
	return nil
}

// DeleteCache removes the cache, its attachments and its tags; ENOTFOUND if
// absent.
func (t *tx) DeleteCache(ctx context.Context, s keyward.Scope, kind keyward.CacheKind, id string) (err error) {
	defer wrap(&err, "delete %s %q", kind, id)
	var n int
	if err := t.queryRow(ctx, true, deleteCacheSQL, args{s.Account, s.Region, string(kind), id}, &n); err != nil {
		return err
	} else if n == 0 {
		return errCacheNotFound(kind, id)
	}
	return nil
}

// nodeJSON is the stored form of a keyward.CacheNode, with names of its own
// so that renaming a Go field does not orphan stored data; the same as
// package sqlite's.
type nodeJSON struct {
	ClusterID string `json:"cluster_id"`
	Role      string `json:"role"`
	Port      int    `json:"port"`
}

// encodeNodes returns nodes as a JSON array ("[]" when empty), which pgx
// sends as the jsonb value itself.
func encodeNodes(nodes []keyward.CacheNode) []byte {
	js := make([]nodeJSON, len(nodes))
	for i, n := range nodes {
		js[i] = nodeJSON{ClusterID: n.ClusterID, Role: n.Role, Port: n.Port}
	}
	b, _ := json.Marshal(js) // plain strings and ints always marshal
	return b
}

// decodeNodes reads nodes back; an empty array comes back as nil.
func decodeNodes(b []byte) ([]keyward.CacheNode, error) {
	var js []nodeJSON
	if err := json.Unmarshal(b, &js); err != nil {
		return nil, err
	}
	if len(js) == 0 {
		return nil, nil
	}
	nodes := make([]keyward.CacheNode, len(js))
	for i, n := range js {
		nodes[i] = keyward.CacheNode{ClusterID: n.ClusterID, Role: n.Role, Port: n.Port}
	}
	return nodes, nil
}
