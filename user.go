package keyward

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Engine is a cache engine: the users, groups and caches of one engine only
// mix according to ElastiCache's compatibility rules.
type Engine string

// Engines ElastiCache knows for RBAC.
const (
	EngineRedis  Engine = "redis"
	EngineValkey Engine = "valkey"
)

// ParseEngine lower-cases s ("Redis" is accepted, as on AWS) and checks it.
func ParseEngine(s string) (Engine, error) {
	switch e := Engine(strings.ToLower(s)); e {
	case EngineRedis, EngineValkey:
		return e, nil
	}
	return "", Errorf(EINVALID, ResourceNone, "Invalid engine %s. Valid engines are redis and valkey.", s)
}

// UserStatus is the API-visible state of a user.
type UserStatus string

// User statuses, as the model documents them ("active", "modifying" or "deleting").
const (
	UserActive    UserStatus = "active"
	UserModifying UserStatus = "modifying"
	UserDeleting  UserStatus = "deleting"
)

// AuthType is the output enum of Authentication.Type. Note it differs from
// the input enum: input "no-password-required" becomes output "no-password".
type AuthType string

// Authentication types.
const (
	AuthPassword   AuthType = "password"
	AuthNoPassword AuthType = "no-password"
	AuthIAM        AuthType = "iam"
)

// DefaultUserID is the id (and user name) of the built-in user every scope has.
const DefaultUserID = "default"

// User is an ElastiCache RBAC user. Passwords are kept only as hex SHA-256
// hashes; Redis ACL accepts them as "#<hash>" rules.
type User struct {
	Scope                Scope      `json:"scope"`
	ID                   string     `json:"id"`   // lower-cased
	Name                 string     `json:"name"` // the ACL user name on the engine; not unique
	Engine               Engine     `json:"engine"`
	AccessString         string     `json:"access_string"` // normalised, see ParseAccessString
	Auth                 AuthType   `json:"auth"`
	PasswordHashes       []string   `json:"password_hashes,omitempty"`
	MinimumEngineVersion string     `json:"min_engine_version"`
	Status               UserStatus `json:"status"`
	StatusSince          time.Time  `json:"status_since"`
	Generation           int64      `json:"generation"`
	CreatedAt            time.Time  `json:"created_at"`

	// GroupIDs lists the user groups the user belongs to, sorted. Stores
	// derive it from the one membership relation on every read and ignore
	// it on write, so it can never disagree with UserGroup.UserIDs.
	GroupIDs []string `json:"-"`

	// LeavingGroups lists the groups a deleting user was taken out of; the
	// deletion completes once each of them has converged on every node.
	LeavingGroups []string `json:"leaving_groups,omitempty"`
}

// IsBuiltinDefault reports whether u is the built-in "default" user, which
// can be neither modified nor deleted.
func (u *User) IsBuiltinDefault() bool { return u.ID == DefaultUserID }

// Clone returns a deep copy; values read from a store are never mutated in place.
func (u *User) Clone() *User {
	c := *u
	c.PasswordHashes = append([]string(nil), u.PasswordHashes...)
	c.GroupIDs = append([]string(nil), u.GroupIDs...)
	c.LeavingGroups = append([]string(nil), u.LeavingGroups...)
	return &c
}

// NewDefaultUser returns the built-in default user of a scope, as the CLI
// shows it: no password, "on ~* +@all", engine redis, minimum version 6.0.
func NewDefaultUser(s Scope, now time.Time) *User {
	return &User{
		Scope: s, ID: DefaultUserID, Name: DefaultUserID, Engine: EngineRedis,
		AccessString: "on ~* +@all", Auth: AuthNoPassword, MinimumEngineVersion: "6.0",
		Status: UserActive, StatusSince: now, Generation: 1, CreatedAt: now,
	}
}

// NormalizeUserID lower-cases id after checking the model's pattern; ids are
// stored lower-cased, so every lookup goes through here.
func NormalizeUserID(id string) (string, error) {
	if !isResourceID(id) || len(id) > 40 {
		return "", Errorf(EINVALID, ResourceUser, "Invalid user id %s. It must begin with a letter, contain only ASCII letters, digits and hyphens, and be at most 40 characters.", id)
	}
	return strings.ToLower(id), nil
}

// ValidateUserName checks that name is usable as an ACL user name.
func ValidateUserName(name string) error {
	if name == "" || len(name) > 120 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return Errorf(EINVALID, ResourceUser, "Invalid user name %s. It must be 1 to 120 characters without spaces or control characters.", name)
	}
	if strings.HasPrefix(strings.ToLower(name), ReservedUserNamePrefix) {
		return Errorf(EINVALID, ResourceUser, "Invalid user name %s: names beginning with %s are reserved for keyward's own ACL users on the nodes.", name, ReservedUserNamePrefix)
	}
	return nil
}

// ReservedUserNamePrefix starts the names of the ACL users keyward itself
// keeps on every node (its admin user); tenants cannot take them.
const ReservedUserNamePrefix = "keyward-"

// MaxPasswords is the number of passwords a user may hold at once.
const MaxPasswords = 2

// ValidatePasswords applies ElastiCache's password rules: one or two
// passwords of 16 to 128 printable characters without , " / or @.
func ValidatePasswords(pws []string) error {
	if len(pws) == 0 {
		return Errorf(ECOMBINATION, ResourceUser, "A user with Authentication Mode: password, must have at least one password")
	}
	if len(pws) > MaxPasswords {
		return Errorf(EINVALID, ResourceUser, "A user can have at most 2 passwords.")
	}
	for _, p := range pws {
		if n := len([]rune(p)); n < 16 || n > 128 {
			return Errorf(EINVALID, ResourceUser, "Passwords length must be between 16-128 characters.")
		}
		for _, r := range p {
			if r < 0x21 || r > 0x7e || strings.ContainsRune(`,"/@`, r) {
				return Errorf(EINVALID, ResourceUser, "Passwords must contain only printable ASCII characters other than , \" / and @, and no spaces.")
			}
		}
	}
	return nil
}

// HashPassword returns the hex SHA-256 of a password, the only form in
// which keyward keeps it (Redis ACL takes it as "#<hash>").
func HashPassword(p string) string {
	sum := sha256.Sum256([]byte(p))
	return hex.EncodeToString(sum[:])
}

// HashPasswords hashes each password.
func HashPasswords(pws []string) []string {
	out := make([]string, len(pws))
	for i, p := range pws {
		out[i] = HashPassword(p)
	}
	return out
}
