package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"keyward"
)

// ACLUser is one ACL user a node must have: its name on the engine and the
// rules that follow "reset" in ACL SETUSER.
type ACLUser struct {
	Name  string
	Rules []string
}

// Desired is what every node of one cache must hold.
type Desired struct {
	Users []ACLUser
	// DefaultIdentity names who defines the engine's "default" user:
	// "user:<id>" for a group's default-named member, "token" in AUTH-token
	// mode, "open" when access control is off, "closed" for a valkey group
	// without one. A change of identity closes default's connections, as
	// ElastiCache does on a default-user swap.
	DefaultIdentity string
	// Fingerprint identifies Users; a cache has converged when the
	// fingerprint it last applied to every node equals this one.
	Fingerprint string
	// Refused names the members left out of Users because their access
	// string cannot be rendered (e.g. stored by an older keyward whose
	// grammar was wider), with the reason: they are denied on the nodes,
	// and the other members still converge.
	Refused map[string]string
}

// openDefault is the engine's default user with access control disabled.
var openDefault = []string{"on", "nopass", "allchannels", "~*", "+@all"}

// EffectiveMembers returns the membership a group is converging to: the
// current members with an accepted change applied. Caches apply this at
// once, while the API keeps showing the old list until the change is done.
func EffectiveMembers(g *keyward.UserGroup) []string {
	c := g.Clone()
	c.ApplyPending(func(string) bool { return true })
	return c.UserIDs
}

// Plan computes the ACL users of a cache from its attached group and that
// group's effective members (users being deleted are excluded by the
// caller). It is pure: the same inputs always give the same Desired.
func Plan(c *keyward.Cache, group *keyward.UserGroup, members []*keyward.User) (Desired, error) {
	return PlanIAM(c, group, members, nil)
}

// PlanIAM is Plan where IAM users can log in through the cache's fronts:
// iamHash(user) is the SHA-256 of the user's internal secret (see package
// front), put on the nodes as the user's only password. With iamHash nil,
// or returning "", IAM users get no password and cannot log in.
func PlanIAM(c *keyward.Cache, group *keyward.UserGroup, members []*keyward.User, iamHash func(user string) string) (Desired, error) {
	var d Desired
	switch {
	case group != nil:
		d.DefaultIdentity = "closed"
		for _, u := range members {
			rules, err := userRules(u, iamHash)
			if err != nil {
				if d.Refused == nil {
					d.Refused = map[string]string{}
				}
				d.Refused[u.ID] = err.Error()
				continue
			}
			d.Users = append(d.Users, ACLUser{Name: u.Name, Rules: rules})
			if u.Name == keyward.DefaultUserID {
				d.DefaultIdentity = "user:" + u.ID
			}
		}
	case c.AuthTokenEnabled():
		rules := []string{"on"}
		for _, h := range c.AuthTokenHashes {
			rules = append(rules, "#"+h)
		}
		if c.AuthTokenOptional {
			rules = append(rules, "nopass")
		}
		d.Users = []ACLUser{{Name: keyward.DefaultUserID, Rules: append(rules, "allchannels", "~*", "+@all")}}
		d.DefaultIdentity = "token"
	default:
		d.Users = []ACLUser{{Name: keyward.DefaultUserID, Rules: slices.Clone(openDefault)}}
		d.DefaultIdentity = "open"
	}
	slices.SortFunc(d.Users, func(a, b ACLUser) int { return strings.Compare(a.Name, b.Name) })
	d.Fingerprint = fingerprint(d)
	return d, nil
}

// userRules renders a user as ACL rules: its passwords as "#<sha256>" (the
// only form keyward has), "nopass" for no-password users, for IAM users the
// hash of their internal secret when iamHash gives one (the fronts verify
// the IAM token, then log in with the secret; without a front an IAM user
// has no password and cannot log in), then the access string's rules.
func userRules(u *keyward.User, iamHash func(string) string) ([]string, error) {
	as, err := keyward.ParseAccessString(u.AccessString)
	if err != nil {
		return nil, err
	}
	var rules []string
	switch u.Auth {
	case keyward.AuthPassword:
		for _, h := range u.PasswordHashes {
			rules = append(rules, "#"+h)
		}
	case keyward.AuthNoPassword:
		rules = append(rules, "nopass")
	case keyward.AuthIAM:
		if iamHash != nil {
			if h := iamHash(u.Name); h != "" {
				rules = append(rules, "#"+h)
			}
		}
	}
	return append(rules, as.Rules()...), nil
}

func fingerprint(d Desired) string {
	h := sha256.New()
	for _, u := range d.Users {
		h.Write([]byte(u.Name))
		for _, r := range u.Rules {
			h.Write([]byte{0})
			h.Write([]byte(r))
		}
		h.Write([]byte{1})
	}
	h.Write([]byte(d.DefaultIdentity))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Kill returns the ACL users whose connections must be closed when moving
// from the applied default identity to d's: the old default's connections,
// on a swap. Removed users need nothing here: deleting an ACL user closes
// its connections.
func Kill(appliedIdentity string, d Desired) []string {
	if appliedIdentity != "" && appliedIdentity != d.DefaultIdentity {
		return []string{keyward.DefaultUserID}
	}
	return nil
}
