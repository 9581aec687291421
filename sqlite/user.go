package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"keyward"
)

// userColumns are read by scanUser, in order. group_ids is the user's side of
// the one membership relation, in the same query (no N+1).
const userColumns = `u.id, u.name, u.engine, u.access_string, u.auth, u.password_hashes,
	u.min_engine_version, u.status, u.status_since, u.generation, u.created_at, u.leaving_groups,
	(SELECT group_concat(m.group_id, ',') FROM user_group_members m
	 WHERE m.account = u.account AND m.region = u.region AND m.user_id = u.id)`

const (
	countUsersSQL = `SELECT COUNT(*) FROM users WHERE account = ? AND region = ?`

	insertUserSQL = `INSERT INTO users (account, region, id, name, engine, access_string, auth,
	password_hashes, min_engine_version, status, status_since, generation, created_at, leaving_groups)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	updateUserSQL = `UPDATE users SET name = ?, engine = ?, access_string = ?, auth = ?,
	password_hashes = ?, min_engine_version = ?, status = ?, status_since = ?, generation = ?, created_at = ?,
	leaving_groups = ?
	WHERE account = ? AND region = ? AND id = ?`

	deleteUserSQL = `DELETE FROM users WHERE account = ? AND region = ? AND id = ?`
)

// userFilterShape numbers the filters f uses: one query shape each.
func userFilterShape(f keyward.UserFilter) int {
	shape := 0
	for i, used := range []bool{f.ID != "", f.Engine != "", f.Name != "", f.AfterID != ""} {
		if used {
			shape |= 1 << i
		}
	}
	return shape
}

// userFilterShapes returns one filter of each shape, in shape order.
func userFilterShapes() []keyward.UserFilter {
	fs := make([]keyward.UserFilter, 16)
	for i := range fs {
		if i&1 != 0 {
			fs[i].ID = "x"
		}
		if i&2 != 0 {
			fs[i].Engine = "x"
		}
		if i&4 != 0 {
			fs[i].Name = "x"
		}
		if i&8 != 0 {
			fs[i].AfterID = "x"
		}
	}
	return fs
}

// findUsersQueries holds the query of each filter shape, built once.
var findUsersQueries = func() []string {
	var qs []string
	for _, f := range userFilterShapes() {
		qs = append(qs, buildFindUsersSQL(f))
	}
	return qs
}()

// findUsersSQL returns the query for f, whose arguments userFilterArgs gives.
func findUsersSQL(f keyward.UserFilter) string { return findUsersQueries[userFilterShape(f)] }

// buildFindUsersSQL writes the query for f. Only the filters f uses appear,
// so SQLite can seek the primary key.
func buildFindUsersSQL(f keyward.UserFilter) string {
	var b strings.Builder
	b.WriteString(`SELECT ` + userColumns + ` FROM users u WHERE u.account = ? AND u.region = ?`)
	if f.ID != "" {
		b.WriteString(` AND u.id = ?`)
	}
	if f.Engine != "" {
		b.WriteString(` AND u.engine = ?`)
	}
	if f.Name != "" {
		b.WriteString(` AND u.name = ?`)
	}
	if f.AfterID != "" {
		b.WriteString(` AND u.id > ?`)
	}
	b.WriteString(` ORDER BY u.id LIMIT ?`)
	return b.String()
}

func userFilterArgs(s keyward.Scope, f keyward.UserFilter) []any {
	args := []any{s.Account, s.Region}
	if f.ID != "" {
		args = append(args, f.ID)
	}
	if f.Engine != "" {
		args = append(args, string(f.Engine))
	}
	if f.Name != "" {
		args = append(args, f.Name)
	}
	if f.AfterID != "" {
		args = append(args, f.AfterID)
	}
	return append(args, limit(f.Limit))
}

// limit turns "0 means no limit" into SQLite's "negative means no limit".
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// FindUserByID returns the user, or ENOTFOUND.
func (t *tx) FindUserByID(ctx context.Context, s keyward.Scope, id string) (_ *keyward.User, err error) {
	defer wrap(&err, "find user %q", id)
	us, err := t.findUsers(ctx, s, keyward.UserFilter{ID: id})
	if err != nil {
		return nil, err
	} else if len(us) == 0 {
		return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUser, "User %s not found.", id)
	}
	return us[0], nil
}

// FindUsers returns the users matching f, ordered by id.
func (t *tx) FindUsers(ctx context.Context, s keyward.Scope, f keyward.UserFilter) (_ []*keyward.User, err error) {
	defer wrap(&err, "find users")
	return t.findUsers(ctx, s, f)
}

func (t *tx) findUsers(ctx context.Context, s keyward.Scope, f keyward.UserFilter) ([]*keyward.User, error) {
	rows, err := t.query(ctx, findUsersSQL(f), userFilterArgs(s, f)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var us []*keyward.User
	for rows.Next() {
		u := &keyward.User{Scope: s}
		var hashes, statusSince, createdAt, leaving string
		var groups sql.NullString
		if err := rows.Scan(&u.ID, &u.Name, &u.Engine, &u.AccessString, &u.Auth, &hashes,
			&u.MinimumEngineVersion, &u.Status, &statusSince, &u.Generation, &createdAt, &leaving, &groups); err != nil {
			return nil, err
		}
		if u.PasswordHashes, err = decodeList(hashes); err != nil {
			return nil, err
		}
		if u.LeavingGroups, err = decodeList(leaving); err != nil {
			return nil, err
		}
		if u.StatusSince, err = parseTime(statusSince); err != nil {
			return nil, err
		}
		if u.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		}
		u.GroupIDs = splitIDs(groups)
		us = append(us, u)
	}
	return us, rows.Err()
}

// CountUsers returns how many users the scope has.
func (t *tx) CountUsers(ctx context.Context, s keyward.Scope) (n int, err error) {
	defer wrap(&err, "count users")
	err = t.queryRow(ctx, countUsersSQL, s.Account, s.Region).Scan(&n)
	return n, err
}

// CreateUser stores u, ignoring u.GroupIDs; EEXISTS if the id is taken.
func (t *tx) CreateUser(ctx context.Context, u *keyward.User) (err error) {
	defer wrap(&err, "create user %q", u.ID)
	_, err = t.exec(ctx, insertUserSQL, u.Scope.Account, u.Scope.Region, u.ID, u.Name, string(u.Engine),
		u.AccessString, string(u.Auth), encodeList(u.PasswordHashes), u.MinimumEngineVersion,
		string(u.Status), formatTime(u.StatusSince), u.Generation, formatTime(u.CreatedAt),
		encodeList(u.LeavingGroups))
	if isUniqueViolation(err) {
		return keyward.Errorf(keyward.EEXISTS, keyward.ResourceUser, "User %s already exists.", u.ID)
	}
	return err
}

// UpdateUser stores every field of u but GroupIDs; ENOTFOUND if absent.
func (t *tx) UpdateUser(ctx context.Context, u *keyward.User) (err error) {
	defer wrap(&err, "update user %q", u.ID)
	res, err := t.exec(ctx, updateUserSQL, u.Name, string(u.Engine), u.AccessString, string(u.Auth),
		encodeList(u.PasswordHashes), u.MinimumEngineVersion, string(u.Status), formatTime(u.StatusSince),
		u.Generation, formatTime(u.CreatedAt), encodeList(u.LeavingGroups), u.Scope.Account, u.Scope.Region, u.ID)
	if err != nil {
		return err
	}
	return mustAffect(res, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUser, "User %s not found.", u.ID))
}

// DeleteUser removes the user, its memberships (by cascade) and its tags;
// ENOTFOUND if absent.
func (t *tx) DeleteUser(ctx context.Context, s keyward.Scope, id string) (err error) {
	defer wrap(&err, "delete user %q", id)
	res, err := t.exec(ctx, deleteUserSQL, s.Account, s.Region, id)
	if err != nil {
		return err
	}
	if err := mustAffect(res, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUser, "User %s not found.", id)); err != nil {
		return err
	}
	_, err = t.exec(ctx, deleteTagsSQL, s.Account, s.Region, string(keyward.ARNUser), id)
	return err
}

// mustAffect returns notFound if res changed no row.
func mustAffect(res sql.Result, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	} else if n == 0 {
		return notFound
	}
	return nil
}
