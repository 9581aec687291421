package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// Cache subnet groups. There is no EC2 behind keyward: any well-formed
// subnet id is accepted, each subnet lies in an availability zone derived
// from its id (stable, one of the region's zones a to c), and every subnet
// of a scope lies in one VPC derived from the account and region. The
// built-in "default" group stands for the default VPC's subnets, one per
// zone, as in an account with a default VPC.

const (
	defaultSubnetGroup = "default"
	// ElastiCache's default quotas: subnet groups per region, subnets per group.
	maxSubnetGroups   = 150
	maxSubnetsInGroup = 20
)

func digest(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(h[:])
}

// vpcID is the scope's VPC.
func vpcID(sc keyward.Scope) string { return "vpc-" + digest("vpc", sc.Account, sc.Region)[:17] }

// subnetAZ is the availability zone of a subnet.
func subnetAZ(sc keyward.Scope, subnetID string) string {
	return sc.Region + string(rune('a'+int(digest("az", subnetID)[0])%3))
}

// defaultSubnets are the default VPC's subnets, one per zone a to c.
func defaultSubnets(sc keyward.Scope) []string {
	var ids []string
	for _, z := range []string{"a", "b", "c"} {
		ids = append(ids, "subnet-"+digest("default-subnet", sc.Account, sc.Region, z)[:17])
	}
	return ids
}

func subnetGroupNotFound(name string) error {
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceCacheSubnetGroup, "Cache subnet group %s not found.", name)
}

func defaultSubnetGroupOf(sc keyward.Scope) *keyward.CacheSubnetGroup {
	return &keyward.CacheSubnetGroup{Scope: sc, ID: defaultSubnetGroup, Description: "default", SubnetIDs: defaultSubnets(sc)}
}

func subnetGroupToAPI(g *keyward.CacheSubnetGroup) *ecapi.CacheSubnetGroup {
	out := &ecapi.CacheSubnetGroup{
		CacheSubnetGroupName: ptr(g.ID), CacheSubnetGroupDescription: ptr(g.Description), VpcId: ptr(vpcID(g.Scope)),
		ARN: ptr(g.Scope.ARN(keyward.ARNSubnetGroup, g.ID)), SupportedNetworkTypes: []string{"ipv4"}, Subnets: []ecapi.Subnet{},
	}
	for _, id := range g.SubnetIDs {
		out.Subnets = append(out.Subnets, ecapi.Subnet{
			SubnetIdentifier: ptr(id), SubnetAvailabilityZone: &ecapi.AvailabilityZone{Name: ptr(subnetAZ(g.Scope, id))},
			SupportedNetworkTypes: []string{"ipv4"},
		})
	}
	return out
}

// subnetIDs checks a request's subnet list.
func subnetIDs(ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceSubnet, "At least one subnet must be specified.")
	}
	out, err := keyward.NormalizeSubnetIDs(ids)
	if err != nil {
		return nil, err
	}
	if len(out) > maxSubnetsInGroup {
		return nil, keyward.Errorf(keyward.EQUOTA, keyward.ResourceSubnet, "A cache subnet group can have at most %d subnets.", maxSubnetsInGroup)
	}
	return out, nil
}

// CreateCacheSubnetGroup creates a subnet group.
func (s *Service) CreateCacheSubnetGroup(ctx context.Context, in *ecapi.CreateCacheSubnetGroupMessage) (*ecapi.CreateCacheSubnetGroupResult, error) {
	out, err := s.createCacheSubnetGroup(ctx, in)
	return out, apiError(err)
}

func (s *Service) createCacheSubnetGroup(ctx context.Context, in *ecapi.CreateCacheSubnetGroupMessage) (*ecapi.CreateCacheSubnetGroupResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	name, err := keyward.NormalizeGroupName(keyward.ResourceCacheSubnetGroup, deref(in.CacheSubnetGroupName))
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(deref(in.CacheSubnetGroupDescription)) == "" {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "The parameter CacheSubnetGroupDescription must be provided and must not be blank.")
	}
	ids, err := subnetIDs(in.SubnetIds)
	if err != nil {
		return nil, err
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	exists := keyward.Errorf(keyward.EEXISTS, keyward.ResourceCacheSubnetGroup, "Cache subnet group %s already exists.", name)
	if name == defaultSubnetGroup {
		return nil, exists
	}
	g := &keyward.CacheSubnetGroup{Scope: sc, ID: name, Description: deref(in.CacheSubnetGroupDescription), SubnetIDs: ids}
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		n, err := keyward.CacheSubnetGroups.Count(ctx, tx, sc)
		if err != nil {
			return err
		}
		if n+1 >= maxSubnetGroups { // the built-in default counts
			return keyward.Errorf(keyward.EQUOTA, keyward.ResourceCacheSubnetGroup, "You have reached the maximum of %d cache subnet groups.", maxSubnetGroups)
		}
		if err := keyward.CacheSubnetGroups.Create(ctx, tx, g); keyward.ErrorCode(err) == keyward.EEXISTS {
			return exists
		} else if err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNSubnetGroup, ID: name}, tags)
	})
	if err != nil {
		return nil, err
	}
	return &ecapi.CreateCacheSubnetGroupResult{CacheSubnetGroup: subnetGroupToAPI(g)}, nil
}

// findSubnetGroup returns the built-in or a stored group.
func findSubnetGroup(ctx context.Context, tx keyward.Tx, sc keyward.Scope, name string) (*keyward.CacheSubnetGroup, error) {
	name = strings.ToLower(name)
	if name == defaultSubnetGroup {
		return defaultSubnetGroupOf(sc), nil
	}
	g, err := keyward.CacheSubnetGroups.Get(ctx, tx, sc, name)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, subnetGroupNotFound(name)
	}
	return g, err
}

// DescribeCacheSubnetGroups lists the subnet groups by name, or the one named.
func (s *Service) DescribeCacheSubnetGroups(ctx context.Context, in *ecapi.DescribeCacheSubnetGroupsMessage) (*ecapi.CacheSubnetGroupMessage, error) {
	out, err := s.describeCacheSubnetGroups(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeCacheSubnetGroups(ctx context.Context, in *ecapi.DescribeCacheSubnetGroupsMessage) (*ecapi.CacheSubnetGroupMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	p, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "%s", keyward.ErrorMessage(err))
	}
	var groups []*keyward.CacheSubnetGroup
	err = s.Store.View(ctx, func(tx keyward.Tx) error {
		if in.CacheSubnetGroupName != nil {
			g, err := findSubnetGroup(ctx, tx, sc, *in.CacheSubnetGroupName)
			groups = []*keyward.CacheSubnetGroup{g}
			return err
		}
		stored, err := keyward.CacheSubnetGroups.Find(ctx, tx, keyward.DocQuery{Scope: sc})
		groups = append([]*keyward.CacheSubnetGroup{defaultSubnetGroupOf(sc)}, stored...)
		slices.SortFunc(groups, func(a, b *keyward.CacheSubnetGroup) int { return strings.Compare(a.ID, b.ID) })
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &ecapi.CacheSubnetGroupMessage{CacheSubnetGroups: []ecapi.CacheSubnetGroup{}}
	for _, g := range groups {
		if g.ID <= p.after {
			continue
		}
		if len(out.CacheSubnetGroups) == p.max {
			out.Marker = ptr(encodeMarker(*out.CacheSubnetGroups[p.max-1].CacheSubnetGroupName))
			break
		}
		out.CacheSubnetGroups = append(out.CacheSubnetGroups, *subnetGroupToAPI(g))
	}
	return out, nil
}

// ModifyCacheSubnetGroup changes a group's description and subnets.
func (s *Service) ModifyCacheSubnetGroup(ctx context.Context, in *ecapi.ModifyCacheSubnetGroupMessage) (*ecapi.ModifyCacheSubnetGroupResult, error) {
	out, err := s.modifyCacheSubnetGroup(ctx, in)
	return out, apiError(err)
}

func (s *Service) modifyCacheSubnetGroup(ctx context.Context, in *ecapi.ModifyCacheSubnetGroupMessage) (*ecapi.ModifyCacheSubnetGroupResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	if in.SubnetIds != nil {
		if ids, err = subnetIDs(in.SubnetIds); err != nil {
			return nil, err
		}
	}
	var g *keyward.CacheSubnetGroup
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		if g, err = findSubnetGroup(ctx, tx, sc, deref(in.CacheSubnetGroupName)); err != nil {
			return err
		}
		if g.ID == defaultSubnetGroup {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "The default cache subnet group cannot be modified.")
		}
		if in.CacheSubnetGroupDescription != nil {
			g.Description = *in.CacheSubnetGroupDescription
		}
		if ids != nil {
			if err := checkSubnetsInUse(ctx, tx, g, ids); err != nil {
				return err
			}
			g.SubnetIDs = ids
		}
		return keyward.CacheSubnetGroups.Update(ctx, tx, g)
	})
	if err != nil {
		return nil, err
	}
	return &ecapi.ModifyCacheSubnetGroupResult{CacheSubnetGroup: subnetGroupToAPI(g)}, nil
}

// checkSubnetsInUse refuses (SubnetInUse) a new subnet list for g that
// takes away a subnet a node of a cache using g lies in. keyward records a
// node's zone, not its subnet, so a node lies in any subnet of its zone:
// a subnet is in use while a node is in its zone and the new list keeps no
// other subnet there (replacing a zone's subnet by another one of the same
// zone is allowed, as it would be for a subnet that held no node).
func checkSubnetsInUse(ctx context.Context, tx keyward.Tx, g *keyward.CacheSubnetGroup, ids []string) error {
	kept := map[string]bool{}
	for _, id := range ids {
		kept[subnetAZ(g.Scope, id)] = true
	}
	lost := map[string]string{} // zone → a removed subnet in it
	for _, id := range g.SubnetIDs {
		if z := subnetAZ(g.Scope, id); !kept[z] && lost[z] == "" {
			lost[z] = id
		}
	}
	if len(lost) == 0 {
		return nil
	}
	d, err := tx.Docs().GetDoc(ctx, string(keyward.ResourceCacheSubnetGroup), g.Scope, g.ID)
	if err != nil {
		return err
	}
	for _, r := range d.Referrers {
		if r.Kind != string(keyward.KindReplicationGroup) {
			continue // only replication groups use subnet groups
		}
		c, err := tx.FindCacheByID(ctx, g.Scope, keyward.KindReplicationGroup, r.ID)
		if err != nil {
			return err
		}
		for i := range c.Nodes {
			if id := lost[nodeAZ(c, i)]; id != "" {
				return keyward.Errorf(keyward.ESTATE, keyward.ResourceSubnet, "The subnet %s is in use by replication group %s.", id, c.ID)
			}
		}
	}
	return nil
}

// DeleteCacheSubnetGroup deletes a group and its tags.
func (s *Service) DeleteCacheSubnetGroup(ctx context.Context, in *ecapi.DeleteCacheSubnetGroupMessage) error {
	sc, err := s.scope(ctx)
	if err != nil {
		return apiError(err)
	}
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		g, err := findSubnetGroup(ctx, tx, sc, deref(in.CacheSubnetGroupName))
		if err != nil {
			return err
		}
		if g.ID == defaultSubnetGroup {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheSubnetGroup, "Cache subnet group default is the default group and cannot be deleted.")
		}
		return keyward.CacheSubnetGroups.Delete(ctx, tx, sc, g.ID)
	})
	return apiError(err)
}
