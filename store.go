package keyward

import "context"

// Store is keyward's durable state. Implementations: package sqlite (the
// embedded default) and package postgres (several replicas, one truth).
// The storetest package holds the behaviour every implementation must show.
//
// Both methods are safe for concurrent use. fn may run more than once when a
// backend retries a transaction that lost a conflict, so it must do no I/O
// except through Tx and must not keep state across runs.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it durably if
	// fn returns nil: once Update returns nil the change survives a crash.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the store's resources.
	Close() error
}

// Tx is one transaction. Values returned are copies the caller owns; values
// passed in are not retained. Lookups take already-normalised (lower-cased) ids.
type Tx interface {
	// FindUserByID returns ENOTFOUND if the user does not exist.
	FindUserByID(ctx context.Context, s Scope, id string) (*User, error)
	// FindUsers returns the users matching f, ordered by id.
	FindUsers(ctx context.Context, s Scope, f UserFilter) ([]*User, error)
	// CountUsers returns how many users the scope has, in any status.
	CountUsers(ctx context.Context, s Scope) (int, error)
	// CreateUser returns EEXISTS if the id is taken. u.GroupIDs is ignored.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser stores every field of u but GroupIDs; ENOTFOUND if absent.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the user, its memberships and its tags; ENOTFOUND if absent.
	DeleteUser(ctx context.Context, s Scope, id string) error

	// FindUserGroupByID returns ENOTFOUND if the group does not exist.
	FindUserGroupByID(ctx context.Context, s Scope, id string) (*UserGroup, error)
	// FindUserGroups returns the groups matching f, ordered by id.
	FindUserGroups(ctx context.Context, s Scope, f UserGroupFilter) ([]*UserGroup, error)
	// CountUserGroups returns how many groups the scope has, in any status.
	CountUserGroups(ctx context.Context, s Scope) (int, error)
	// CreateUserGroup stores g and its membership (g.UserIDs); EEXISTS if
	// the id is taken, ENOTFOUND (ResourceUser) if a member does not exist.
	CreateUserGroup(ctx context.Context, g *UserGroup) error
	// UpdateUserGroup stores every field of g and replaces its membership
	// with g.UserIDs; ENOTFOUND if absent.
	UpdateUserGroup(ctx context.Context, g *UserGroup) error
	// DeleteUserGroup removes the group, its memberships and its tags.
	DeleteUserGroup(ctx context.Context, s Scope, id string) error

	// FindTags returns the tags of a resource in the order they were added.
	FindTags(ctx context.Context, s Scope, r ResourceRef) ([]Tag, error)
	// ReplaceTags sets the tags of a resource (an empty list removes them).
	ReplaceTags(ctx context.Context, s Scope, r ResourceRef, tags []Tag) error

	// FindCacheByID returns ENOTFOUND (with kind.Resource()) if absent.
	FindCacheByID(ctx context.Context, s Scope, kind CacheKind, id string) (*Cache, error)
	// FindCaches returns the caches of one kind matching f, ordered by id.
	FindCaches(ctx context.Context, s Scope, kind CacheKind, f CacheFilter) ([]*Cache, error)
	// FindAllCaches returns every cache of every kind in every scope, for
	// the reconciler's periodic data-plane resync (drift repair, orphans).
	FindAllCaches(ctx context.Context) ([]*Cache, error)
	// CreateCache stores c and its attachments (c.UserGroupIDs); EEXISTS if
	// the id is taken for that kind, ENOTFOUND (ResourceUserGroup) if an
	// attached group does not exist.
	CreateCache(ctx context.Context, c *Cache) error
	// UpdateCache stores every field of c and replaces its attachments with
	// c.UserGroupIDs; ENOTFOUND if absent.
	UpdateCache(ctx context.Context, c *Cache) error
	// DeleteCache removes the cache, its attachments and its tags.
	DeleteCache(ctx context.Context, s Scope, kind CacheKind, id string) error

	// FindUnsettled returns every resource, in every scope, whose status is
	// not a resting one (active/available/create-failed), for the
	// reconciler to resync.
	FindUnsettled(ctx context.Context) ([]Key, error)
}

// CacheFilter selects caches. Zero fields match everything.
type CacheFilter struct {
	ID      string
	AfterID string
	Limit   int
}

// UserFilter selects users. Zero fields match everything.
type UserFilter struct {
	ID      string // exact id
	Engine  Engine
	Name    string // exact user name
	AfterID string // only ids greater than this (pagination)
	Limit   int    // at most this many; 0 means no limit
}

// UserGroupFilter selects user groups. Zero fields match everything.
type UserGroupFilter struct {
	ID      string
	AfterID string
	Limit   int
}

// Key names one resource for the reconciler's queue.
type Key struct {
	Resource Resource
	Scope    Scope
	ID       string
}

// String returns a readable key such as "user/000000000000/us-east-1/alice".
func (k Key) String() string {
	return string(k.Resource) + "/" + k.Scope.Account + "/" + k.Scope.Region + "/" + k.ID
}
