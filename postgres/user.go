package postgres

import (
	"context"
	"fmt"

	"keyward"

	"github.com/jackc/pgx/v5"
)

// userColumns are read by scanUser, in order. The last is the user's side
// of the one membership relation, in the same query (no N+1), read off the
// index user_group_members_user in group id order.
const userColumns = `u.id, u.name, u.engine, u.access_string, u.auth, u.password_hashes,
	u.min_engine_version, u.status, u.status_since, u.generation, u.created_at, u.leaving_groups,
	ARRAY(SELECT m.group_id FROM user_group_members m
	      WHERE m.account = u.account AND m.region = u.region AND m.user_id = u.id ORDER BY m.group_id)`

const (
	countUsersSQL = `SELECT count(*) FROM users WHERE account = $1 AND region = $2`

	// insertUserSQL inserts nothing if the id is taken; a conflicting row
	// that a concurrent transaction inserted makes it fail with a
	// serialization failure instead (SERIALIZABLE), which Update retries.
	insertUserSQL = `INSERT INTO users (account, region, id, name, engine, access_string, auth,
	password_hashes, min_engine_version, status, status_since, generation, created_at, leaving_groups)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	ON CONFLICT DO NOTHING`

	updateUserSQL = `UPDATE users SET name = $4, engine = $5, access_string = $6, auth = $7,
	password_hashes = $8, min_engine_version = $9, status = $10, status_since = $11, generation = $12,
	created_at = $13, leaving_groups = $14
	WHERE account = $1 AND region = $2 AND id = $3`

	// deleteResourceSQL deletes a user or a group (%s is the table) and, if
	// it existed, its tags ($4 is their resource type), and counts the
	// rows deleted from the table. Memberships and attachments go by
	// cascade.
	deleteResourceSQL = `WITH deleted AS (
		DELETE FROM %s WHERE account = $1 AND region = $2 AND id = $3 RETURNING id
	), untagged AS (
		DELETE FROM tags WHERE account = $1 AND region = $2 AND resource_type = $4
		AND resource_id IN (SELECT id FROM deleted)
	)
	SELECT count(*) FROM deleted`
)

var (
	deleteUserSQL      = fmt.Sprintf(deleteResourceSQL, "users")
	deleteUserGroupSQL = fmt.Sprintf(deleteResourceSQL, "user_groups")
)

// findUsersSQL writes the query for f and its arguments. Only the filters f
// uses appear, so the planner can seek the primary key; pgx prepares each
// of the 16 shapes once per connection.
func findUsersSQL(s keyward.Scope, f keyward.UserFilter) (string, args) {
	var a args
	q := `SELECT ` + userColumns + ` FROM users u WHERE u.account = ` + a.add(s.Account) + ` AND u.region = ` + a.add(s.Region)
	if f.ID != "" {
		q += ` AND u.id = ` + a.add(f.ID)
	}
	if f.Engine != "" {
		q += ` AND u.engine = ` + a.add(string(f.Engine))
	}
	if f.Name != "" {
		q += ` AND u.name = ` + a.add(f.Name)
	}
	if f.AfterID != "" {
		q += ` AND u.id > ` + a.add(f.AfterID)
	}
	q += ` ORDER BY u.id`
	if f.Limit > 0 {
		q += ` LIMIT ` + a.add(f.Limit)
	}
	return q, a
}

func errUserNotFound(id string) *keyward.Error {
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUser, "User %s not found.", id)
}

// FindUserByID returns the user, or ENOTFOUND.
func (t *tx) FindUserByID(ctx context.Context, s keyward.Scope, id string) (_ *keyward.User, err error) {
	defer wrap(&err, "find user %q", id)
	us, err := t.findUsers(ctx, s, keyward.UserFilter{ID: id})
	if err != nil {
		return nil, err
	} else if len(us) == 0 {
		return nil, errUserNotFound(id)
	}
	return us[0], nil
}

// FindUsers returns the users matching f, ordered by id.
func (t *tx) FindUsers(ctx context.Context, s keyward.Scope, f keyward.UserFilter) (_ []*keyward.User, err error) {
	defer wrap(&err, "find users")
	return t.findUsers(ctx, s, f)
}

func (t *tx) findUsers(ctx context.Context, s keyward.Scope, f keyward.UserFilter) ([]*keyward.User, error) {
	q, a := findUsersSQL(s, f)
	rows, err := t.query(ctx, q, a...)
	return collect(t, rows, err, func(row pgx.CollectableRow) (*keyward.User, error) {
		u := &keyward.User{Scope: s}
		err := row.Scan(&u.ID, &u.Name, &u.Engine, &u.AccessString, &u.Auth, &u.PasswordHashes,
			&u.MinimumEngineVersion, &u.Status, (*nanoTime)(&u.StatusSince), &u.Generation,
			(*nanoTime)(&u.CreatedAt), &u.LeavingGroups, &u.GroupIDs)
		u.PasswordHashes, u.LeavingGroups, u.GroupIDs = nilIfEmpty(u.PasswordHashes), nilIfEmpty(u.LeavingGroups), nilIfEmpty(u.GroupIDs)
		return u, err
	})
}

// CountUsers returns how many users the scope has.
func (t *tx) CountUsers(ctx context.Context, s keyward.Scope) (n int, err error) {
	defer wrap(&err, "count users")
	err = t.queryRow(ctx, false, countUsersSQL, args{s.Account, s.Region}, &n)
	return n, err
}

// userArgs returns the arguments of insertUserSQL and updateUserSQL.
func userArgs(u *keyward.User) []any {
	return []any{u.Scope.Account, u.Scope.Region, u.ID, u.Name, string(u.Engine), u.AccessString,
		string(u.Auth), list(u.PasswordHashes), u.MinimumEngineVersion, string(u.Status),
		nanoTime(u.StatusSince), u.Generation, nanoTime(u.CreatedAt), list(u.LeavingGroups)}
}

// CreateUser stores u, ignoring u.GroupIDs; EEXISTS if the id is taken.
func (t *tx) CreateUser(ctx context.Context, u *keyward.User) (err error) {
	defer wrap(&err, "create user %q", u.ID)
	exists := keyward.Errorf(keyward.EEXISTS, keyward.ResourceUser, "User %s already exists.", u.ID)
	tag, err := t.exec(ctx, insertUserSQL, userArgs(u)...)
	if err != nil {
		return violation(err, exists, nil)
	} else if tag.RowsAffected() == 0 {
		return exists
	}
	return nil
}

// UpdateUser stores every field of u but GroupIDs; ENOTFOUND if absent.
func (t *tx) UpdateUser(ctx context.Context, u *keyward.User) (err error) {
	defer wrap(&err, "update user %q", u.ID)
	tag, err := t.exec(ctx, updateUserSQL, userArgs(u)...)
	if err != nil {
		return err
	} else if tag.RowsAffected() == 0 {
		return errUserNotFound(u.ID)
	}
	return nil
}

// DeleteUser removes the user, its memberships (by cascade) and its tags;
// ENOTFOUND if absent.
func (t *tx) DeleteUser(ctx context.Context, s keyward.Scope, id string) (err error) {
	defer wrap(&err, "delete user %q", id)
	var n int
	if err := t.queryRow(ctx, true, deleteUserSQL, args{s.Account, s.Region, id, string(keyward.ARNUser)}, &n); err != nil {
		return err
	} else if n == 0 {
		return errUserNotFound(id)
	}
	return nil
}
