package postgres

import (
	"context"

	"keyward"

	"github.com/jackc/pgx/v5"
)

// userGroupColumns are read by findUserGroups, in order. Membership and
// attachments come from their relations in the same query (no N+1): the
// members off user_group_members' primary key, the caches off
// cache_user_groups_group, each already in id order.
const userGroupColumns = `g.id, g.engine, g.status, g.status_since, g.generation, g.created_at,
	g.pending_add, g.pending_remove, g.min_engine_version,
	ARRAY(SELECT m.user_id FROM user_group_members m
	      WHERE m.account = g.account AND m.region = g.region AND m.group_id = g.id ORDER BY m.user_id),
	ARRAY(SELECT c.cache_id FROM cache_user_groups c
	      WHERE c.account = g.account AND c.region = g.region AND c.group_id = g.id
	      AND c.cache_type = 'replicationgroup' ORDER BY c.cache_id),
	ARRAY(SELECT c.cache_id FROM cache_user_groups c
	      WHERE c.account = g.account AND c.region = g.region AND c.group_id = g.id
	      AND c.cache_type = 'serverlesscache' ORDER BY c.cache_id)`

const (
	countUserGroupsSQL = `SELECT count(*) FROM user_groups WHERE account = $1 AND region = $2`

	// wantMembersSQL starts the statements that store a group with its
	// members ($12, sorted and without duplicates): "missing" is the first
	// member that does not exist in the scope, "existing" the group as it
	// was before the statement.
	wantMembersSQL = `WITH want AS (
		SELECT w.id, w.n FROM unnest($12::text[]) WITH ORDINALITY AS w(id, n)
	), missing AS (
		SELECT w.id FROM want w
		WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.account = $1 AND u.region = $2 AND u.id = w.id)
		ORDER BY w.n LIMIT 1
	), existing AS (
		SELECT 1 FROM user_groups WHERE account = $1 AND region = $2 AND id = $3
	)`

	// insertUserGroupSQL inserts the group and its members only if the id
	// is free and every member exists, and reports which was not the case.
	// The rows a statement's CTEs insert see each other by the time the
	// foreign keys are checked, at the end of the statement. (The casts
	// type the arguments, which INSERT ... SELECT would otherwise take for
	// text.)
	insertUserGroupSQL = wantMembersSQL + `, inserted AS (
		INSERT INTO user_groups (account, region, id, engine, status, status_since, generation,
			created_at, pending_add, pending_remove, min_engine_version)
		SELECT $1, $2, $3, $4::text, $5::text, $6::bigint, $7::bigint, $8::bigint, $9::text[], $10::text[], $11::text
		WHERE NOT EXISTS (SELECT 1 FROM existing) AND NOT EXISTS (SELECT 1 FROM missing)
		ON CONFLICT DO NOTHING
		RETURNING 1
	), members AS (
		INSERT INTO user_group_members (account, region, group_id, user_id)
		SELECT $1, $2, $3, w.id FROM want w WHERE EXISTS (SELECT 1 FROM inserted)
	)
	SELECT EXISTS (SELECT 1 FROM existing), (SELECT id FROM missing), EXISTS (SELECT 1 FROM inserted)`

	// updateUserGroupSQL updates the group and sets its membership to $12
	// only if the group exists and every member does: it deletes the
	// members not listed and inserts those listed, skipping the ones
	// already there. The two touch different rows, as CTEs of one
	// statement must.
	updateUserGroupSQL = wantMembersSQL + `, updated AS (
		UPDATE user_groups SET engine = $4, status = $5, status_since = $6, generation = $7,
			created_at = $8, pending_add = $9, pending_remove = $10, min_engine_version = $11
		WHERE account = $1 AND region = $2 AND id = $3 AND NOT EXISTS (SELECT 1 FROM missing)
		RETURNING 1
	), removed AS (
		DELETE FROM user_group_members m
		WHERE m.account = $1 AND m.region = $2 AND m.group_id = $3 AND m.user_id <> ALL ($12::text[])
		AND EXISTS (SELECT 1 FROM updated)
	), added AS (
		INSERT INTO user_group_members (account, region, group_id, user_id)
		SELECT $1, $2, $3, w.id FROM want w WHERE EXISTS (SELECT 1 FROM updated)
		ON CONFLICT DO NOTHING
	)
	SELECT EXISTS (SELECT 1 FROM existing), (SELECT id FROM missing), EXISTS (SELECT 1 FROM updated)`
)

// findUserGroupsSQL writes the query for f and its arguments.
func findUserGroupsSQL(s keyward.Scope, f keyward.UserGroupFilter) (string, args) {
	var a args
	q := `SELECT ` + userGroupColumns + ` FROM user_groups g WHERE g.account = ` + a.add(s.Account) + ` AND g.region = ` + a.add(s.Region)
	if f.ID != "" {
		q += ` AND g.id = ` + a.add(f.ID)
	}
	if f.AfterID != "" {
		q += ` AND g.id > ` + a.add(f.AfterID)
	}
	q += ` ORDER BY g.id`
	if f.Limit > 0 {
		q += ` LIMIT ` + a.add(f.Limit)
	}
	return q, a
}

func errUserGroupNotFound(id string) *keyward.Error {
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group %s not found.", id)
}

func errUserGroupExists(id string) *keyward.Error {
	return keyward.Errorf(keyward.EEXISTS, keyward.ResourceUserGroup, "User group %s already exists.", id)
}

// FindUserGroupByID returns the group, or ENOTFOUND.
func (t *tx) FindUserGroupByID(ctx context.Context, s keyward.Scope, id string) (_ *keyward.UserGroup, err error) {
	defer wrap(&err, "find user group %q", id)
	gs, err := t.findUserGroups(ctx, s, keyward.UserGroupFilter{ID: id})
	if err != nil {
		return nil, err
	} else if len(gs) == 0 {
		return nil, errUserGroupNotFound(id)
	}
	return gs[0], nil
}

// FindUserGroups returns the groups matching f, ordered by id.
func (t *tx) FindUserGroups(ctx context.Context, s keyward.Scope, f keyward.UserGroupFilter) (_ []*keyward.UserGroup, err error) {
	defer wrap(&err, "find user groups")
	return t.findUserGroups(ctx, s, f)
}

func (t *tx) findUserGroups(ctx context.Context, s keyward.Scope, f keyward.UserGroupFilter) ([]*keyward.UserGroup, error) {
	q, a := findUserGroupsSQL(s, f)
	rows, err := t.query(ctx, q, a...)
	return collect(t, rows, err, func(row pgx.CollectableRow) (*keyward.UserGroup, error) {
		g := &keyward.UserGroup{Scope: s}
		err := row.Scan(&g.ID, &g.Engine, &g.Status, (*nanoTime)(&g.StatusSince), &g.Generation,
			(*nanoTime)(&g.CreatedAt), &g.PendingAdd, &g.PendingRemove, &g.MinimumEngineVersion,
			&g.UserIDs, &g.ReplicationGroups, &g.ServerlessCaches)
		g.PendingAdd, g.PendingRemove = nilIfEmpty(g.PendingAdd), nilIfEmpty(g.PendingRemove)
		g.UserIDs = nilIfEmpty(g.UserIDs)
		g.ReplicationGroups, g.ServerlessCaches = nilIfEmpty(g.ReplicationGroups), nilIfEmpty(g.ServerlessCaches)
		return g, err
	})
}

// CountUserGroups returns how many groups the scope has.
func (t *tx) CountUserGroups(ctx context.Context, s keyward.Scope) (n int, err error) {
	defer wrap(&err, "count user groups")
	err = t.queryRow(ctx, false, countUserGroupsSQL, args{s.Account, s.Region}, &n)
	return n, err
}

// userGroupArgs returns the arguments of insertUserGroupSQL and
// updateUserGroupSQL.
func userGroupArgs(g *keyward.UserGroup) args {
	return args{g.Scope.Account, g.Scope.Region, g.ID, string(g.Engine), string(g.Status),
		nanoTime(g.StatusSince), g.Generation, nanoTime(g.CreatedAt), list(g.PendingAdd),
		list(g.PendingRemove), g.MinimumEngineVersion, ids(g.UserIDs)}
}

// missingMember returns the error of a membership that names a user the
// scope lacks, a foreign-key violation included.
func missingMember(id string) *keyward.Error { return errUserNotFound(id) }

// CreateUserGroup stores g and its membership in one statement; EEXISTS if
// the id is taken, else ENOTFOUND (ResourceUser) naming the first member,
// by id, that does not exist. On error nothing of g is stored.
func (t *tx) CreateUserGroup(ctx context.Context, g *keyward.UserGroup) (err error) {
	defer wrap(&err, "create user group %q", g.ID)
	var existed, inserted bool
	var missing *string
	if err := t.queryRow(ctx, true, insertUserGroupSQL, userGroupArgs(g), &existed, &missing, &inserted); err != nil {
		return violation(err, errUserGroupExists(g.ID), missingMember)
	}
	switch {
	case existed:
		return errUserGroupExists(g.ID)
	case missing != nil:
		return missingMember(*missing)
	case !inserted:
		return errUserGroupExists(g.ID)
	}
	return nil
}

// UpdateUserGroup stores every field of g and replaces its membership with
// g.UserIDs in one statement; ENOTFOUND if the group does not exist, else
// ENOTFOUND (ResourceUser) naming the first member that does not. On error
// the group is left as it was.
func (t *tx) UpdateUserGroup(ctx context.Context, g *keyward.UserGroup) (err error) {
	defer wrap(&err, "update user group %q", g.ID)
	var existed, updated bool
	var missing *string
	if err := t.queryRow(ctx, true, updateUserGroupSQL, userGroupArgs(g), &existed, &missing, &updated); err != nil {
		return violation(err, nil, missingMember)
	}
	switch {
	case !existed:
		return errUserGroupNotFound(g.ID)
	case missing != nil:
		return missingMember(*missing)
	case !updated:
		return errUserGroupNotFound(g.ID)
	}
	return nil
}

// DeleteUserGroup removes the group, its memberships and attachments (by
// cascade) and its tags; ENOTFOUND if absent.
func (t *tx) DeleteUserGroup(ctx context.Context, s keyward.Scope, id string) (err error) {
	defer wrap(&err, "delete user group %q", id)
	var n int
	if err := t.queryRow(ctx, true, deleteUserGroupSQL, args{s.Account, s.Region, id, string(keyward.ARNUserGroup)}, &n); err != nil {
		return err
	} else if n == 0 {
		return errUserGroupNotFound(id)
	}
	return nil
}
