package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"keyward"
)

// userGroupColumns are read by findUserGroups, in order. Membership and
// attachments come from their relations in the same query (no N+1).
const userGroupColumns = `g.id, g.engine, g.status, g.status_since, g.generation, g.created_at,
	g.pending_add, g.pending_remove, g.min_engine_version,
	(SELECT group_concat(m.user_id, ',') FROM user_group_members m
	 WHERE m.account = g.account AND m.region = g.region AND m.group_id = g.id),
	(SELECT group_concat(c.cache_id, ',') FROM cache_user_groups c
	 WHERE c.account = g.account AND c.region = g.region AND c.group_id = g.id AND c.cache_type = 'replicationgroup'),
	(SELECT group_concat(c.cache_id, ',') FROM cache_user_groups c
	 WHERE c.account = g.account AND c.region = g.region AND c.group_id = g.id AND c.cache_type = 'serverlesscache')`

const (
	countUserGroupsSQL = `SELECT COUNT(*) FROM user_groups WHERE account = ? AND region = ?`

	insertUserGroupSQL = `INSERT INTO user_groups (account, region, id, engine, status, status_since,
	generation, created_at, pending_add, pending_remove, min_engine_version)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	updateUserGroupSQL = `UPDATE user_groups SET engine = ?, status = ?, status_since = ?, generation = ?,
	created_at = ?, pending_add = ?, pending_remove = ?, min_engine_version = ?
	WHERE account = ? AND region = ? AND id = ?`

	deleteUserGroupSQL = `DELETE FROM user_groups WHERE account = ? AND region = ? AND id = ?`

	deleteMembersSQL = `DELETE FROM user_group_members WHERE account = ? AND region = ? AND group_id = ?`

	// insertMembersSQL adds every listed user (a JSON array) that exists.
	insertMembersSQL = `INSERT INTO user_group_members (account, region, group_id, user_id)
	SELECT ?1, ?2, ?3, u.id FROM users u
	WHERE u.account = ?1 AND u.region = ?2 AND u.id IN (SELECT value FROM json_each(?4))`

	// findMissingUsersSQL returns the first listed user (a JSON array) that
	// does not exist.
	findMissingUsersSQL = `SELECT j.value FROM json_each(?3) j
	WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.account = ?1 AND u.region = ?2 AND u.id = j.value)
	ORDER BY j.key LIMIT 1`
)

func userGroupFilterShapes() []keyward.UserGroupFilter {
	return []keyward.UserGroupFilter{{}, {ID: "x"}, {AfterID: "x"}, {ID: "x", AfterID: "x"}}
}

func findUserGroupsSQL(f keyward.UserGroupFilter) string {
	var b strings.Builder
	b.WriteString(`SELECT ` + userGroupColumns + ` FROM user_groups g WHERE g.account = ? AND g.region = ?`)
	if f.ID != "" {
		b.WriteString(` AND g.id = ?`)
	}
	if f.AfterID != "" {
		b.WriteString(` AND g.id > ?`)
	}
	b.WriteString(` ORDER BY g.id LIMIT ?`)
	return b.String()
}

func userGroupFilterArgs(s keyward.Scope, f keyward.UserGroupFilter) []any {
	args := []any{s.Account, s.Region}
	if f.ID != "" {
		args = append(args, f.ID)
	}
	if f.AfterID != "" {
		args = append(args, f.AfterID)
	}
	return append(args, limit(f.Limit))
}

// FindUserGroupByID returns the group, or ENOTFOUND.
func (t *tx) FindUserGroupByID(ctx context.Context, s keyward.Scope, id string) (_ *keyward.UserGroup, err error) {
	defer wrap(&err, "find user group %q", id)
	gs, err := t.findUserGroups(ctx, s, keyward.UserGroupFilter{ID: id})
	if err != nil {
		return nil, err
	} else if len(gs) == 0 {
		return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group %s not found.", id)
	}
	return gs[0], nil
}

// FindUserGroups returns the groups matching f, ordered by id.
func (t *tx) FindUserGroups(ctx context.Context, s keyward.Scope, f keyward.UserGroupFilter) (_ []*keyward.UserGroup, err error) {
	defer wrap(&err, "find user groups")
	return t.findUserGroups(ctx, s, f)
}

func (t *tx) findUserGroups(ctx context.Context, s keyward.Scope, f keyward.UserGroupFilter) ([]*keyward.UserGroup, error) {
	rows, err := t.query(ctx, findUserGroupsSQL(f), userGroupFilterArgs(s, f)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var gs []*keyward.UserGroup
	for rows.Next() {
		g := &keyward.UserGroup{Scope: s}
		var statusSince, createdAt, pendingAdd, pendingRemove string
		var users, rgs, scs sql.NullString
		if err := rows.Scan(&g.ID, &g.Engine, &g.Status, &statusSince, &g.Generation, &createdAt,
			&pendingAdd, &pendingRemove, &g.MinimumEngineVersion, &users, &rgs, &scs); err != nil {
			return nil, err
		}
		if g.StatusSince, err = parseTime(statusSince); err != nil {
			return nil, err
		}
		if g.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		}
		if g.PendingAdd, err = decodeList(pendingAdd); err != nil {
			return nil, err
		}
		if g.PendingRemove, err = decodeList(pendingRemove); err != nil {
			return nil, err
		}
		g.UserIDs, g.ReplicationGroups, g.ServerlessCaches = splitIDs(users), splitIDs(rgs), splitIDs(scs)
		gs = append(gs, g)
	}
	return gs, rows.Err()
}

// CountUserGroups returns how many groups the scope has.
func (t *tx) CountUserGroups(ctx context.Context, s keyward.Scope) (n int, err error) {
	defer wrap(&err, "count user groups")
	err = t.queryRow(ctx, countUserGroupsSQL, s.Account, s.Region).Scan(&n)
	return n, err
}

// CreateUserGroup stores g and its membership; EEXISTS if the id is taken,
// ENOTFOUND (ResourceUser) if a member does not exist. On error nothing of
// g is stored.
func (t *tx) CreateUserGroup(ctx context.Context, g *keyward.UserGroup) (err error) {
	defer wrap(&err, "create user group %q", g.ID)
	return t.savepoint(ctx, func() error {
		_, err := t.exec(ctx, insertUserGroupSQL, g.Scope.Account, g.Scope.Region, g.ID, string(g.Engine),
			string(g.Status), formatTime(g.StatusSince), g.Generation, formatTime(g.CreatedAt),
			encodeList(g.PendingAdd), encodeList(g.PendingRemove), g.MinimumEngineVersion)
		if isUniqueViolation(err) {
			return keyward.Errorf(keyward.EEXISTS, keyward.ResourceUserGroup, "User group %s already exists.", g.ID)
		} else if err != nil {
			return err
		}
		return t.insertMembers(ctx, g.Scope, g.ID, g.UserIDs)
	})
}

// UpdateUserGroup stores every field of g and replaces its membership with
// g.UserIDs; ENOTFOUND if the group or a member does not exist. On error
// the group is left as it was.
func (t *tx) UpdateUserGroup(ctx context.Context, g *keyward.UserGroup) (err error) {
	defer wrap(&err, "update user group %q", g.ID)
	return t.savepoint(ctx, func() error {
		res, err := t.exec(ctx, updateUserGroupSQL, string(g.Engine), string(g.Status), formatTime(g.StatusSince),
			g.Generation, formatTime(g.CreatedAt), encodeList(g.PendingAdd), encodeList(g.PendingRemove),
			g.MinimumEngineVersion, g.Scope.Account, g.Scope.Region, g.ID)
		if err != nil {
			return err
		}
		if err := mustAffect(res, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group %s not found.", g.ID)); err != nil {
			return err
		}
		if _, err := t.exec(ctx, deleteMembersSQL, g.Scope.Account, g.Scope.Region, g.ID); err != nil {
			return err
		}
		return t.insertMembers(ctx, g.Scope, g.ID, g.UserIDs)
	})
}

// insertMembers adds the users ids to group id with one statement, then
// names the first missing user if fewer rows went in than ids were given.
func (t *tx) insertMembers(ctx context.Context, s keyward.Scope, id string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	list := encodeList(ids)
	res, err := t.exec(ctx, insertMembersSQL, s.Account, s.Region, id, list)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == int64(len(ids)) {
		return nil
	}
	var missing string
	if err := t.queryRow(ctx, findMissingUsersSQL, s.Account, s.Region, list).Scan(&missing); err != nil {
		return err
	}
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUser, "User %s not found.", missing)
}

// DeleteUserGroup removes the group, its memberships and attachments (by
// cascade) and its tags; ENOTFOUND if absent.
func (t *tx) DeleteUserGroup(ctx context.Context, s keyward.Scope, id string) (err error) {
	defer wrap(&err, "delete user group %q", id)
	res, err := t.exec(ctx, deleteUserGroupSQL, s.Account, s.Region, id)
	if err != nil {
		return err
	}
	if err := mustAffect(res, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group %s not found.", id)); err != nil {
		return err
	}
	_, err = t.exec(ctx, deleteTagsSQL, s.Account, s.Region, string(keyward.ARNUserGroup), id)
	return err
}
