package keyward

import (
	"context"
	"slices"
)

// Tx is one transaction of a Store: typed access to the resources, built
// once on the backend's documents (DocTx) through the Kind declarations
// below. Values returned are copies the caller owns; values passed in are
// not retained. Lookups take already-normalised (lower-cased) ids.
type Tx struct{ docs DocTx }

// NewTx wraps a backend's transaction. Backends call it to hand a Tx to the
// function of View or Update.
func NewTx(d DocTx) Tx { return Tx{docs: d} }

// Docs returns the backend transaction, for code that works on documents
// of any kind (tests, migrations).
func (t Tx) Docs() DocTx { return t.docs }

// The kinds keyward stores. Their names are the Resource of their errors
// and, for caches, the ARN resource type.
var (
	Users = &Kind[User]{
		Name:    ResourceUser,
		Key:     func(u *User) (Scope, string) { return u.Scope, u.ID },
		TagType: ARNUser,
		Settled: func(u *User) bool { return u.Status == UserActive },
		Index: func(u *User) []Field {
			return []Field{{Name: "engine", Value: string(u.Engine)}, {Name: "name", Value: u.Name}}
		},
		Load:    func(u *User, d *Doc) { u.GroupIDs = RefIDs(d.Referrers, relMember, string(ResourceUserGroup)) },
		Changes: userChanges,
		Clone:   (*User).Clone,
	}
	UserGroups = &Kind[UserGroup]{
		Name:    ResourceUserGroup,
		Key:     func(g *UserGroup) (Scope, string) { return g.Scope, g.ID },
		TagType: ARNUserGroup,
		Settled: func(g *UserGroup) bool { return g.Status == UserGroupActive },
		// Deleting a user drops its memberships.
		Refs: func(g *UserGroup) []Ref { return refsTo(relMember, string(ResourceUser), false, g.UserIDs) },
		Load: func(g *UserGroup, d *Doc) {
			g.UserIDs = RefIDs(d.Refs, relMember, string(ResourceUser))
			g.ReplicationGroups = RefIDs(d.Referrers, relUserGroup, string(KindReplicationGroup))
			g.ServerlessCaches = RefIDs(d.Referrers, relUserGroup, string(KindServerless))
		},
		Changes: userGroupChanges,
		Clone:   (*UserGroup).Clone,
	}
	ReplicationGroups = cacheKind(KindReplicationGroup, ARNReplicationGroup)
	ServerlessCaches  = cacheKind(KindServerless, ARNServerlessCache)
	// Tags holds the tags of every taggable resource, one document per
	// resource, id "<ARN type>/<resource id>".
	Tags = &Kind[tagSet]{
		Name: "tags",
		Key:  func(t *tagSet) (Scope, string) { return t.Scope, tagsID(t.Ref) },
	}
)

// Relations between kinds.
const (
	relMember    = "member"    // user group → user
	relUserGroup = "usergroup" // cache → attached user group
	// cache being restored → snapshot, copy being made → its source
	relRestoresFrom = "restoresfrom"
)

// cacheKind declares one of the two cache kinds, which share a type.
func cacheKind(kind CacheKind, tagType ARNType) *Kind[Cache] {
	return &Kind[Cache]{
		Name:    Resource(kind),
		Key:     func(c *Cache) (Scope, string) { return c.Scope, c.ID },
		TagType: tagType,
		Settled: func(c *Cache) bool { return c.Status == CacheAvailable || c.Status == CacheCreateFailed },
		Clone:   (*Cache).Clone,
		// A group cannot be deleted while a cache uses it, nor a snapshot
		// while a cache is being restored from it.
		Refs: func(c *Cache) []Ref {
			refs := append(refsTo(relUserGroup, string(ResourceUserGroup), true, c.UserGroupIDs), c.groupRefs()...)
			if c.Status == CacheCreating && c.RestoreSnapshot != "" {
				refs = append(refs, Ref{Relation: relRestoresFrom, Kind: string(SnapshotKindOf(c.RestoreServerless).Name), ID: c.RestoreSnapshot, Restrict: true})
			}
			return refs
		},
		Load:    func(c *Cache, d *Doc) { c.UserGroupIDs = RefIDs(d.Refs, relUserGroup, string(ResourceUserGroup)) },
		Changes: cacheChanges,
	}
}

// CacheKindOf returns the declaration of a cache kind.
func CacheKindOf(kind CacheKind) *Kind[Cache] {
	if kind == KindServerless {
		return ServerlessCaches
	}
	return ReplicationGroups
}

// tagsID is the id of the tags document of a resource.
func tagsID(r ResourceRef) string { return string(r.Type) + "/" + r.ID }

// tagSet is the stored form of one resource's tags.
type tagSet struct {
	Scope Scope       `json:"scope"`
	Ref   ResourceRef `json:"ref"`
	Tags  []Tag       `json:"tags"`
}

// FindUserByID returns ENOTFOUND if the user does not exist.
func (t Tx) FindUserByID(ctx context.Context, s Scope, id string) (*User, error) {
	return Users.Get(ctx, t, s, id)
}

// FindUsers returns the users matching f, ordered by id.
func (t Tx) FindUsers(ctx context.Context, s Scope, f UserFilter) ([]*User, error) {
	q := DocQuery{Scope: s, ID: f.ID, AfterID: f.AfterID, Limit: f.Limit}
	if f.Engine != "" {
		q.Where = append(q.Where, Field{Name: "engine", Value: string(f.Engine)})
	}
	if f.Name != "" {
		q.Where = append(q.Where, Field{Name: "name", Value: f.Name})
	}
	return Users.Find(ctx, t, q)
}

// CountUsers returns how many users the scope has, in any status.
func (t Tx) CountUsers(ctx context.Context, s Scope) (int, error) { return Users.Count(ctx, t, s) }

// CreateUser returns EEXISTS if the id is taken. u.GroupIDs is ignored.
func (t Tx) CreateUser(ctx context.Context, u *User) error { return Users.Create(ctx, t, u) }

// UpdateUser stores every field of u but GroupIDs; ENOTFOUND if absent.
func (t Tx) UpdateUser(ctx context.Context, u *User) error { return Users.Update(ctx, t, u) }

// DeleteUser removes the user, its memberships and its tags; ENOTFOUND if absent.
func (t Tx) DeleteUser(ctx context.Context, s Scope, id string) error {
	return Users.Delete(ctx, t, s, id)
}

// FindUserGroupByID returns ENOTFOUND if the group does not exist.
func (t Tx) FindUserGroupByID(ctx context.Context, s Scope, id string) (*UserGroup, error) {
	return UserGroups.Get(ctx, t, s, id)
}

// FindUserGroups returns the groups matching f, ordered by id.
func (t Tx) FindUserGroups(ctx context.Context, s Scope, f UserGroupFilter) ([]*UserGroup, error) {
	return UserGroups.Find(ctx, t, DocQuery{Scope: s, ID: f.ID, AfterID: f.AfterID, Limit: f.Limit})
}

// CountUserGroups returns how many groups the scope has, in any status.
func (t Tx) CountUserGroups(ctx context.Context, s Scope) (int, error) {
	return UserGroups.Count(ctx, t, s)
}

// CreateUserGroup stores g and its membership (g.UserIDs); EEXISTS if the
// id is taken, ENOTFOUND (ResourceUser) if a member does not exist.
func (t Tx) CreateUserGroup(ctx context.Context, g *UserGroup) error {
	return UserGroups.Create(ctx, t, normalizedGroup(g))
}

// UpdateUserGroup stores every field of g and replaces its membership with
// g.UserIDs; ENOTFOUND if absent.
func (t Tx) UpdateUserGroup(ctx context.Context, g *UserGroup) error {
	return UserGroups.Update(ctx, t, normalizedGroup(g))
}

// normalizedGroup returns g with its members sorted and unique, the order
// reads return them in.
func normalizedGroup(g *UserGroup) *UserGroup {
	if slices.IsSorted(g.UserIDs) && len(slices.Compact(slices.Clone(g.UserIDs))) == len(g.UserIDs) {
		return g
	}
	c := g.Clone()
	slices.Sort(c.UserIDs)
	c.UserIDs = slices.Compact(c.UserIDs)
	return c
}

// DeleteUserGroup removes the group, its memberships and its tags;
// EREFERENCED while a cache is attached to it.
func (t Tx) DeleteUserGroup(ctx context.Context, s Scope, id string) error {
	return UserGroups.Delete(ctx, t, s, id)
}

// FindTags returns the tags of a resource in the order they were added.
func (t Tx) FindTags(ctx context.Context, s Scope, r ResourceRef) ([]Tag, error) {
	ts, err := Tags.Find(ctx, t, DocQuery{Scope: s, ID: tagsID(r)})
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	return ts[0].Tags, nil
}

// ReplaceTags sets the tags of a resource (an empty list removes them).
func (t Tx) ReplaceTags(ctx context.Context, s Scope, r ResourceRef, tags []Tag) error {
	set := &tagSet{Scope: s, Ref: r, Tags: tags}
	_, id := Tags.Key(set)
	existing, err := Tags.Find(ctx, t, DocQuery{Scope: s, ID: id})
	switch {
	case err != nil:
		return err
	case len(tags) == 0 && len(existing) == 0:
		return nil
	case len(tags) == 0:
		return Tags.Delete(ctx, t, s, id)
	case len(existing) == 0:
		return Tags.Create(ctx, t, set)
	}
	return Tags.Update(ctx, t, set)
}

// FindCacheByID returns ENOTFOUND (with kind.Resource()) if absent.
func (t Tx) FindCacheByID(ctx context.Context, s Scope, kind CacheKind, id string) (*Cache, error) {
	return CacheKindOf(kind).Get(ctx, t, s, id)
}

// FindCaches returns the caches of one kind matching f, ordered by id.
func (t Tx) FindCaches(ctx context.Context, s Scope, kind CacheKind, f CacheFilter) ([]*Cache, error) {
	return CacheKindOf(kind).Find(ctx, t, DocQuery{Scope: s, ID: f.ID, AfterID: f.AfterID, Limit: f.Limit})
}

// FindAllCaches returns every cache of every kind in every scope, for the
// reconciler's periodic data-plane resync (drift repair, orphans).
func (t Tx) FindAllCaches(ctx context.Context) ([]*Cache, error) {
	var all []*Cache
	for _, k := range []*Kind[Cache]{ReplicationGroups, ServerlessCaches} {
		cs, err := k.Find(ctx, t, DocQuery{AllScopes: true})
		if err != nil {
			return nil, err
		}
		all = append(all, cs...)
	}
	return all, nil
}

// CreateCache stores c and its attachments (c.UserGroupIDs); EEXISTS if the
// id is taken for that kind, ENOTFOUND (ResourceUserGroup) if an attached
// group does not exist.
func (t Tx) CreateCache(ctx context.Context, c *Cache) error {
	return CacheKindOf(c.Kind).Create(ctx, t, c)
}

// UpdateCache stores every field of c and replaces its attachments with
// c.UserGroupIDs; ENOTFOUND if absent.
func (t Tx) UpdateCache(ctx context.Context, c *Cache) error {
	return CacheKindOf(c.Kind).Update(ctx, t, c)
}

// DeleteCache removes the cache, its attachments and its tags, and those
// of its member clusters.
func (t Tx) DeleteCache(ctx context.Context, s Scope, kind CacheKind, id string) error {
	c, err := CacheKindOf(kind).Get(ctx, t, s, id)
	if err != nil {
		return err
	}
	if err := CacheKindOf(kind).Delete(ctx, t, s, id); err != nil {
		return err
	}
	if kind != KindReplicationGroup {
		return nil
	}
	for _, n := range c.Nodes {
		if err := t.ReplaceTags(ctx, s, ResourceRef{Type: ARNCluster, ID: n.ClusterID}, nil); err != nil {
			return err
		}
	}
	return nil
}

// FindUnsettled returns every resource, in every scope, whose status is not
// a resting one (active/available/create-failed), for the reconciler to
// resync.
func (t Tx) FindUnsettled(ctx context.Context) ([]Key, error) {
	keys, err := t.docs.FindUnsettled(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Key, len(keys))
	for i, k := range keys {
		out[i] = Key{Resource: Resource(k.Kind), Scope: k.Scope, ID: k.ID}
	}
	return out, nil
}
