package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"

	"keyward"
)

// cacheColumns are read by findCaches, in order. The scope and kind come
// from the row, so FindAllCaches shares the scanner; user_group_ids is the
// cache's side of the attachment relation, in the same query (no N+1).
const cacheColumns = `c.account, c.region, c.kind, c.id, c.description, c.engine, c.engine_version,
	c.cache_node_type, c.status, c.status_since, c.generation, c.created_at, c.num_nodes,
	c.transit_encryption, c.auth_token_hashes, c.auth_token_optional, c.auth_token_last_modified,
	c.pending_user_groups_add, c.pending_user_groups_remove, c.nodes,
	c.failure_message, c.applied_acl, c.applied_default_user,
	(SELECT group_concat(a.group_id, ',') FROM cache_user_groups a
	 WHERE a.account = c.account AND a.region = c.region AND a.cache_type = c.kind AND a.cache_id = c.id)`

const (
	findAllCachesSQL = `SELECT ` + cacheColumns + ` FROM caches c ORDER BY c.account, c.region, c.kind, c.id`

	insertCacheSQL = `INSERT INTO caches (account, region, kind, id, description, engine, engine_version,
	cache_node_type, status, status_since, generation, created_at, num_nodes, transit_encryption,
	auth_token_hashes, auth_token_optional, auth_token_last_modified,
	pending_user_groups_add, pending_user_groups_remove, nodes,
	failure_message, applied_acl, applied_default_user)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	updateCacheSQL = `UPDATE caches SET description = ?, engine = ?, engine_version = ?,
	cache_node_type = ?, status = ?, status_since = ?, generation = ?, created_at = ?, num_nodes = ?,
	transit_encryption = ?, auth_token_hashes = ?, auth_token_optional = ?, auth_token_last_modified = ?,
	pending_user_groups_add = ?, pending_user_groups_remove = ?, nodes = ?,
	failure_message = ?, applied_acl = ?, applied_default_user = ?
	WHERE account = ? AND region = ? AND kind = ? AND id = ?`

	deleteCacheSQL = `DELETE FROM caches WHERE account = ? AND region = ? AND kind = ? AND id = ?`

	deleteAttachmentsSQL = `DELETE FROM cache_user_groups
	WHERE account = ? AND region = ? AND cache_type = ? AND cache_id = ?`

	// insertAttachmentsSQL attaches every listed group (a JSON array) that exists.
	insertAttachmentsSQL = `INSERT INTO cache_user_groups (account, region, cache_type, cache_id, group_id)
	SELECT ?1, ?2, ?3, ?4, g.id FROM user_groups g
	WHERE g.account = ?1 AND g.region = ?2 AND g.id IN (SELECT value FROM json_each(?5))`

	// findMissingGroupsSQL returns the first listed group (a JSON array)
	// that does not exist.
	findMissingGroupsSQL = `SELECT j.value FROM json_each(?3) j
	WHERE NOT EXISTS (SELECT 1 FROM user_groups g WHERE g.account = ?1 AND g.region = ?2 AND g.id = j.value)
	ORDER BY j.key LIMIT 1`
)

func cacheFilterShapes() []keyward.CacheFilter {
	return []keyward.CacheFilter{{}, {ID: "x"}, {AfterID: "x"}, {ID: "x", AfterID: "x"}}
}

// findCachesSQL returns the query for f, whose arguments cacheFilterArgs
// gives. The primary key (account, region, kind, id) serves every shape and
// the order.
func findCachesSQL(f keyward.CacheFilter) string {
	var b strings.Builder
	b.WriteString(`SELECT ` + cacheColumns + ` FROM caches c WHERE c.account = ? AND c.region = ? AND c.kind = ?`)
	if f.ID != "" {
		b.WriteString(` AND c.id = ?`)
	}
	if f.AfterID != "" {
		b.WriteString(` AND c.id > ?`)
	}
	b.WriteString(` ORDER BY c.id LIMIT ?`)
	return b.String()
}

func cacheFilterArgs(s keyward.Scope, kind keyward.CacheKind, f keyward.CacheFilter) []any {
	args := []any{s.Account, s.Region, string(kind)}
	if f.ID != "" {
		args = append(args, f.ID)
	}
	if f.AfterID != "" {
		args = append(args, f.AfterID)
	}
	return append(args, limit(f.Limit))
}

// cacheNoun names a kind in public messages, as ElastiCache does.
func cacheNoun(kind keyward.CacheKind) string {
	if kind == keyward.KindServerless {
		return "Serverless cache"
	}
	return "Replication group"
}

func errCacheNotFound(kind keyward.CacheKind, id string) error {
	return keyward.Errorf(keyward.ENOTFOUND, kind.Resource(), "%s %s not found.", cacheNoun(kind), id)
}

// FindCacheByID returns the cache, or ENOTFOUND.
func (t *tx) FindCacheByID(ctx context.Context, s keyward.Scope, kind keyward.CacheKind, id string) (_ *keyward.Cache, err error) {
	defer wrap(&err, "find %s %q", kind, id)
	f := keyward.CacheFilter{ID: id}
	cs, err := t.findCaches(ctx, findCachesSQL(f), cacheFilterArgs(s, kind, f)...)
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
	return t.findCaches(ctx, findCachesSQL(f), cacheFilterArgs(s, kind, f)...)
}

// FindAllCaches returns every cache of every kind in every scope, ordered
// by scope, kind and id.
func (t *tx) FindAllCaches(ctx context.Context) (_ []*keyward.Cache, err error) {
	defer wrap(&err, "find all caches")
	return t.findCaches(ctx, findAllCachesSQL)
}

func (t *tx) findCaches(ctx context.Context, q string, args ...any) ([]*keyward.Cache, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []*keyward.Cache
	for rows.Next() {
		c := &keyward.Cache{}
		var statusSince, createdAt, tokenModified, hashes, pendingAdd, pendingRemove, nodes string
		var groups sql.NullString
		if err := rows.Scan(&c.Scope.Account, &c.Scope.Region, &c.Kind, &c.ID, &c.Description,
			&c.Engine, &c.EngineVersion, &c.CacheNodeType, &c.Status, &statusSince, &c.Generation,
			&createdAt, &c.NumNodes, &c.TransitEncryption, &hashes, &c.AuthTokenOptional, &tokenModified,
			&pendingAdd, &pendingRemove, &nodes, &c.FailureMessage, &c.AppliedACL, &c.AppliedDefaultUser,
			&groups); err != nil {
			return nil, err
		}
		if c.StatusSince, err = parseTime(statusSince); err != nil {
			return nil, err
		}
		if c.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		}
		if c.AuthTokenLastModified, err = parseTime(tokenModified); err != nil {
			return nil, err
		}
		if c.AuthTokenHashes, err = decodeList(hashes); err != nil {
			return nil, err
		}
		if c.PendingUserGroupsAdd, err = decodeList(pendingAdd); err != nil {
			return nil, err
		}
		if c.PendingUserGroupsRemove, err = decodeList(pendingRemove); err != nil {
			return nil, err
		}
		if c.Nodes, err = decodeNodes(nodes); err != nil {
			return nil, err
		}
		c.UserGroupIDs = splitIDs(groups)
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// CreateCache stores c and its attachments; EEXISTS if the id is taken for
// that kind, ENOTFOUND (ResourceUserGroup) if an attached group does not
// exist. On error nothing of c is stored.
func (t *tx) CreateCache(ctx context.Context, c *keyward.Cache) (err error) {
	defer wrap(&err, "create %s %q", c.Kind, c.ID)
	return t.savepoint(ctx, func() error {
		_, err := t.exec(ctx, insertCacheSQL, c.Scope.Account, c.Scope.Region, string(c.Kind), c.ID,
			c.Description, string(c.Engine), c.EngineVersion, c.CacheNodeType, string(c.Status),
			formatTime(c.StatusSince), c.Generation, formatTime(c.CreatedAt), c.NumNodes, c.TransitEncryption,
			encodeList(c.AuthTokenHashes), c.AuthTokenOptional, formatTime(c.AuthTokenLastModified),
			encodeList(c.PendingUserGroupsAdd), encodeList(c.PendingUserGroupsRemove), encodeNodes(c.Nodes),
			c.FailureMessage, c.AppliedACL, c.AppliedDefaultUser)
		if isUniqueViolation(err) {
			return keyward.Errorf(keyward.EEXISTS, c.Kind.Resource(), "%s %s already exists.", cacheNoun(c.Kind), c.ID)
		} else if err != nil {
			return err
		}
		return t.insertAttachments(ctx, c)
	})
}

// UpdateCache stores every field of c and replaces its attachments with
// c.UserGroupIDs; ENOTFOUND if the cache or an attached group does not
// exist. On error the cache is left as it was.
func (t *tx) UpdateCache(ctx context.Context, c *keyward.Cache) (err error) {
	defer wrap(&err, "update %s %q", c.Kind, c.ID)
	return t.savepoint(ctx, func() error {
		res, err := t.exec(ctx, updateCacheSQL, c.Description, string(c.Engine), c.EngineVersion,
			c.CacheNodeType, string(c.Status), formatTime(c.StatusSince), c.Generation, formatTime(c.CreatedAt),
			c.NumNodes, c.TransitEncryption, encodeList(c.AuthTokenHashes), c.AuthTokenOptional,
			formatTime(c.AuthTokenLastModified), encodeList(c.PendingUserGroupsAdd),
			encodeList(c.PendingUserGroupsRemove), encodeNodes(c.Nodes),
			c.FailureMessage, c.AppliedACL, c.AppliedDefaultUser,
			c.Scope.Account, c.Scope.Region, string(c.Kind), c.ID)
		if err != nil {
			return err
		}
		if err := mustAffect(res, errCacheNotFound(c.Kind, c.ID)); err != nil {
			return err
		}
		if _, err := t.exec(ctx, deleteAttachmentsSQL, c.Scope.Account, c.Scope.Region, string(c.Kind), c.ID); err != nil {
			return err
		}
		return t.insertAttachments(ctx, c)
	})
}

// insertAttachments attaches c to the groups c.UserGroupIDs with one
// statement, then names the first missing group if fewer rows went in than
// ids were given.
func (t *tx) insertAttachments(ctx context.Context, c *keyward.Cache) error {
	if len(c.UserGroupIDs) == 0 {
		return nil
	}
	ids := slices.Compact(slices.Sorted(slices.Values(c.UserGroupIDs)))
	list := encodeList(ids)
	res, err := t.exec(ctx, insertAttachmentsSQL, c.Scope.Account, c.Scope.Region, string(c.Kind), c.ID, list)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == int64(len(ids)) {
		return nil
	}
	var missing string
	if err := t.queryRow(ctx, findMissingGroupsSQL, c.Scope.Account, c.Scope.Region, list).Scan(&missing); err != nil {
		return err
	}
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group %s not found.", missing)
}

// DeleteCache removes the cache, its attachments and its tags; ENOTFOUND if
// absent.
func (t *tx) DeleteCache(ctx context.Context, s keyward.Scope, kind keyward.CacheKind, id string) (err error) {
	defer wrap(&err, "delete %s %q", kind, id)
	return t.savepoint(ctx, func() error {
		res, err := t.exec(ctx, deleteCacheSQL, s.Account, s.Region, string(kind), id)
		if err != nil {
			return err
		}
		if err := mustAffect(res, errCacheNotFound(kind, id)); err != nil {
			return err
		}
		if _, err := t.exec(ctx, deleteAttachmentsSQL, s.Account, s.Region, string(kind), id); err != nil {
			return err
		}
		_, err = t.exec(ctx, deleteTagsSQL, s.Account, s.Region, string(keyward.ARNType(kind)), id)
		return err
	})
}

// nodeJSON is the stored form of a keyward.CacheNode, with names of its own
// so that renaming a Go field does not orphan stored data.
type nodeJSON struct {
	ClusterID string `json:"cluster_id"`
	Role      string `json:"role"`
	Port      int    `json:"port"`
}

// encodeNodes stores nodes as a JSON array ("[]" when empty).
func encodeNodes(nodes []keyward.CacheNode) string {
	if len(nodes) == 0 {
		return "[]"
	}
	js := make([]nodeJSON, len(nodes))
	for i, n := range nodes {
		js[i] = nodeJSON{ClusterID: n.ClusterID, Role: n.Role, Port: n.Port}
	}
	b, _ := json.Marshal(js) // plain strings and ints always marshal
	return string(b)
}

// decodeNodes reads nodes back; an empty array comes back as nil.
func decodeNodes(s string) ([]keyward.CacheNode, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var js []nodeJSON
	if err := json.Unmarshal([]byte(s), &js); err != nil {
		return nil, err
	}
	nodes := make([]keyward.CacheNode, len(js))
	for i, n := range js {
		nodes[i] = keyward.CacheNode{ClusterID: n.ClusterID, Role: n.Role, Port: n.Port}
	}
	return nodes, nil
}
