package keyward

import (
	"context"
	"regexp"
	"slices"
	"strings"
)

// Resources and ARN types of cache parameter groups and subnet groups.
const (
	ResourceCacheParameterGroup Resource = "cacheparametergroup"
	ResourceCacheSubnetGroup    Resource = "cachesubnetgroup"
	// ResourceSubnet is an EC2 subnet named in a subnet group; only errors
	// are about it (InvalidSubnet, CacheSubnetQuotaExceededFault, SubnetInUse).
	ResourceSubnet Resource = "subnet"

	ARNParameterGroup ARNType = "parametergroup"
	ARNSubnetGroup    ARNType = "subnetgroup"
)

// CacheParameterGroup is a user's cache parameter group: a family and the
// parameters the user set. The others have the family's defaults, which
// package catalog holds; the built-in default.* groups are not stored.
type CacheParameterGroup struct {
	Scope       Scope  `json:"scope"`
	ID          string `json:"id"` // the lower-cased name
	Family      string `json:"family"`
	Description string `json:"description"`
	// Values maps a parameter name to the value the user set.
	Values map[string]string `json:"values,omitempty"`
}

// CacheSubnetGroup is a user's cache subnet group. There is no EC2 behind
// keyward: subnets are well-formed ids, and the API derives a stable
// availability zone per subnet and a VPC per account and region.
type CacheSubnetGroup struct {
	Scope       Scope    `json:"scope"`
	ID          string   `json:"id"` // the lower-cased name
	Description string   `json:"description"`
	SubnetIDs   []string `json:"subnetIds"` // sorted, unique
}

// The stored kinds of the two group types.
var (
	CacheParameterGroups = &Kind[CacheParameterGroup]{
		Name:    ResourceCacheParameterGroup,
		Key:     func(g *CacheParameterGroup) (Scope, string) { return g.Scope, g.ID },
		TagType: ARNParameterGroup,
		Index:   func(g *CacheParameterGroup) []Field { return []Field{{Name: "family", Value: g.Family}} },
	}
	CacheSubnetGroups = &Kind[CacheSubnetGroup]{
		Name:    ResourceCacheSubnetGroup,
		Key:     func(g *CacheSubnetGroup) (Scope, string) { return g.Scope, g.ID },
		TagType: ARNSubnetGroup,
		Index: func(g *CacheSubnetGroup) []Field {
			f := make([]Field, len(g.SubnetIDs))
			for i, id := range g.SubnetIDs {
				f[i] = Field{Name: "subnet", Value: id}
			}
			return f
		},
	}
)

// Relations from a cache to the groups it uses.
const (
	relParameterGroup = "parametergroup"
	relSubnetGroup    = "subnetgroup"
)

// IsBuiltInParameterGroup reports whether name is one of ElastiCache's
// default.<family> groups, which are not stored.
func IsBuiltInParameterGroup(name string) bool { return strings.HasPrefix(name, "default.") }

// DefaultSubnetGroup is the built-in subnet group's name.
const DefaultSubnetGroup = "default"

// groupRefs returns the references of c to the user's groups its settings
// name, so that a group in use cannot be deleted; the built-in groups are
// not stored, so nothing refers to them.
func (c *Cache) groupRefs() []Ref {
	var refs []Ref
	if n := c.Settings.CacheParameterGroupName; n != "" && !IsBuiltInParameterGroup(n) {
		refs = append(refs, Ref{Relation: relParameterGroup, Kind: string(ResourceCacheParameterGroup), ID: n, Restrict: true})
	}
	if n := c.Settings.CacheSubnetGroupName; n != "" && n != DefaultSubnetGroup {
		refs = append(refs, Ref{Relation: relSubnetGroup, Kind: string(ResourceCacheSubnetGroup), ID: n, Restrict: true})
	}
	return refs
}

// CachesUsing returns the keys of the caches (and standalone clusters)
// that use a stored parameter group, from the group document's referrers.
func CachesUsing(ctx context.Context, tx Tx, s Scope, parameterGroup string) ([]Key, error) {
	d, err := tx.docs.GetDoc(ctx, string(ResourceCacheParameterGroup), s, parameterGroup)
	if err != nil {
		return nil, err
	}
	var keys []Key
	for _, r := range d.Referrers {
		switch {
		case r.Relation != relParameterGroup:
		case r.Kind == string(ResourceCacheCluster): // a standalone cluster
			keys = append(keys, Key{Resource: ResourceCacheCluster, Scope: s, ID: r.ID})
		default:
			keys = append(keys, Key{Resource: CacheKind(r.Kind).Resource(), Scope: s, ID: r.ID})
		}
	}
	return keys, nil
}

var groupNamePattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*$`)

// NormalizeGroupName lower-cases the name of a parameter or subnet group
// after checking ElastiCache's rules: 1 to 255 letters, digits or hyphens,
// a letter first, no two consecutive hyphens and no trailing hyphen.
func NormalizeGroupName(res Resource, name string) (string, error) {
	if !groupNamePattern.MatchString(name) || len(name) > 255 || strings.HasSuffix(name, "-") || strings.Contains(name, "--") {
		return "", Errorf(EINVALID, res, "Invalid %s name %s: it must be 1 to 255 letters, digits or hyphens, begin with a letter, and contain no two consecutive hyphens or a trailing hyphen.", strings.ToLower(res.Noun()), name)
	}
	return strings.ToLower(name), nil
}

// NormalizeSubnetIDs checks EC2's subnet id form (subnet- and 8 or 17 hex
// digits) and returns the ids sorted and unique.
func NormalizeSubnetIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !subnetIDPattern.MatchString(id) {
			return nil, Errorf(EINVALID, ResourceSubnet, "The subnet ID %s is not valid.", id)
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
