package keyward

import (
	"slices"
	"strings"
	"time"
)

// UserGroupStatus is the API-visible state of a user group.
type UserGroupStatus string

// User group statuses, as the model documents them.
const (
	UserGroupCreating  UserGroupStatus = "creating"
	UserGroupActive    UserGroupStatus = "active"
	UserGroupModifying UserGroupStatus = "modifying"
	UserGroupDeleting  UserGroupStatus = "deleting"
)

// UserGroup is an ElastiCache user group: the set of users a cache admits.
type UserGroup struct {
	Scope       Scope           `json:"scope"`
	ID          string          `json:"id"` // lower-cased
	Engine      Engine          `json:"engine"`
	Status      UserGroupStatus `json:"status"`
	StatusSince time.Time       `json:"status_since"`
	Generation  int64           `json:"generation"`
	CreatedAt   time.Time       `json:"created_at"`

	// UserIDs is the current membership, sorted. It is the one truth of
	// membership: stores write it to their membership relation and derive
	// User.GroupIDs from the same relation.
	UserIDs []string `json:"-"`

	// PendingAdd and PendingRemove hold an accepted ModifyUserGroup that
	// the reconciler has not applied yet; during that time UserIDs still
	// shows the old membership, as ElastiCache does.
	PendingAdd    []string `json:"pending_add,omitempty"`
	PendingRemove []string `json:"pending_remove,omitempty"`

	// MinimumEngineVersion is the highest MinimumEngineVersion of the members.
	MinimumEngineVersion string `json:"min_engine_version"`

	// ReplicationGroups and ServerlessCaches list the caches the group is
	// attached to, sorted; stores derive them from the attachments.
	ReplicationGroups []string `json:"-"`
	ServerlessCaches  []string `json:"-"`
}

// Clone returns a deep copy.
func (g *UserGroup) Clone() *UserGroup {
	c := *g
	c.UserIDs = slices.Clone(g.UserIDs)
	c.PendingAdd = slices.Clone(g.PendingAdd)
	c.PendingRemove = slices.Clone(g.PendingRemove)
	c.ReplicationGroups = slices.Clone(g.ReplicationGroups)
	c.ServerlessCaches = slices.Clone(g.ServerlessCaches)
	return &c
}

// HasPendingChanges reports whether a membership change awaits the reconciler.
func (g *UserGroup) HasPendingChanges() bool {
	return len(g.PendingAdd) > 0 || len(g.PendingRemove) > 0
}

// Attached reports whether a cache uses the group.
func (g *UserGroup) Attached() bool {
	return len(g.ReplicationGroups) > 0 || len(g.ServerlessCaches) > 0
}

// ApplyPending moves the pending changes into UserIDs and clears them.
// exists reports whether a user still exists and is not being deleted; a
// user deleted after the change was accepted is not added.
func (g *UserGroup) ApplyPending(exists func(id string) bool) {
	ids := slices.DeleteFunc(slices.Clone(g.UserIDs), func(id string) bool { return slices.Contains(g.PendingRemove, id) })
	for _, id := range g.PendingAdd {
		if !slices.Contains(ids, id) && exists(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	g.UserIDs, g.PendingAdd, g.PendingRemove = ids, nil, nil
}

// NormalizeUserGroupID lower-cases id after checking it. The model leaves the
// id unconstrained; CloudFormation documents [a-z][a-z0-9-]*.
func NormalizeUserGroupID(id string) (string, error) {
	if !isResourceID(id) || len(id) > 40 {
		return "", Errorf(EINVALID, ResourceUserGroup, "Invalid user group id %s. It must begin with a letter, contain only ASCII letters, digits and hyphens, and be at most 40 characters.", id)
	}
	return strings.ToLower(id), nil
}

// CheckMembership validates a group's would-be member set against
// ElastiCache's rules, in the order the API reports them: size, duplicate
// user names, engine compatibility, then the default-user requirement.
func CheckMembership(engine Engine, members []*User, maxUsers int, sizeCode string) error {
	if len(members) > maxUsers {
		return Errorf(sizeCode, ResourceUserGroup, "The number of users exceeds the user group limit of %d.", maxUsers)
	}
	names := map[string]string{}
	hasDefault := false
	for _, u := range members {
		if other, ok := names[u.Name]; ok {
			return Errorf(EDUPLICATEUSERNAME, ResourceUser, "Users %s and %s have the same user name %s; a user group can contain only one user with a given user name.", other, u.ID, u.Name)
		}
		names[u.Name] = u.ID
		if u.Name == DefaultUserID {
			hasDefault = true
		}
		if err := CheckEngineCompatible(engine, u); err != nil {
			return err
		}
	}
	if engine == EngineRedis && !hasDefault {
		return Errorf(EDEFAULTUSERREQUIRED, ResourceUserGroup, "User group needs to contain a user with the user name default.")
	}
	return nil
}

// CheckEngineCompatible applies the RBAC compatibility matrix: a redis group
// holds only redis users; a valkey group holds valkey users and redis users
// that authenticate by password or IAM.
func CheckEngineCompatible(groupEngine Engine, u *User) error {
	switch {
	case groupEngine == EngineRedis && u.Engine == EngineValkey:
		return Errorf(EINVALID, ResourceUser, "User %s has engine valkey; valkey users can only be associated to valkey user groups.", u.ID)
	case groupEngine == EngineValkey && u.Auth == AuthNoPassword:
		return Errorf(EINVALID, ResourceUser, "User %s has no password; valkey user groups can only contain users that authenticate with a password or IAM.", u.ID)
	}
	return nil
}

// MaxEngineVersion returns the highest of dotted versions ("6.0" < "7.0").
func MaxEngineVersion(versions ...string) string {
	best := ""
	for _, v := range versions {
		if compareVersions(v, best) > 0 {
			best = v
		}
	}
	return best
}

func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y string
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		if len(x) != len(y) {
			if len(x) < len(y) {
				return -1
			}
			return 1
		}
		if c := strings.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// BaseEngineVersion is the lowest engine version with RBAC: Redis OSS 6.0,
// Valkey 7.2 (spec Q4).
func BaseEngineVersion(e Engine) string {
	if e == EngineValkey {
		return "7.2"
	}
	return "6.0"
}

// GroupMinimumEngineVersion is the highest MinimumEngineVersion among the
// members, and at least the engine's base version.
func GroupMinimumEngineVersion(e Engine, members []*User) string {
	v := BaseEngineVersion(e)
	for _, u := range members {
		v = MaxEngineVersion(v, u.MinimumEngineVersion)
	}
	return v
}
