package api

import (
	"context"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// Global datastores (keyward.GlobalGroup). The global group lives in the
// account's global scope; its members are replication groups of other
// scopes, and every handler changes both ends in one transaction. The
// reconciler (reconcile/global.go) points the secondaries' primary nodes
// at the primary region's primary node (cluster mode disabled), or runs a
// replication link per shard (cluster mode enabled,
// reconcile/globalcluster.go), and completes the transitions. The
// node-group operations of cluster-mode datastores are in globalcluster.go.

func globalKey(g *keyward.GlobalGroup) keyward.Key {
	return keyward.Key{Resource: keyward.ResourceGlobalReplicationGroup, Scope: g.Scope, ID: g.ID}
}

func memberScope(g *keyward.GlobalGroup, region string) keyward.Scope {
	return keyward.Scope{Account: g.Scope.Account, Region: region}
}

func globalNotFound(id string) error {
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceGlobalReplicationGroup, "GlobalReplicationGroup %s not found.", id)
}

// findGlobal loads a global datastore that the caller's region may see:
// one of its members' regions, in the caller's partition.
func findGlobal(ctx context.Context, tx keyward.Tx, sc keyward.Scope, rawID string) (*keyward.GlobalGroup, error) {
	id := strings.ToLower(rawID)
	g, err := keyward.GlobalGroups.Get(ctx, tx, keyward.GlobalScope(sc.Account), id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || err == nil && !visibleFrom(g, sc) {
		return nil, globalNotFound(id)
	}
	return g, err
}

func visibleFrom(g *keyward.GlobalGroup, sc keyward.Scope) bool {
	return g.Partition == sc.Partition() && g.HasRegion(sc.Region)
}

// memberCaches loads the member replication groups of g, by region.
func memberCaches(ctx context.Context, tx keyward.Tx, g *keyward.GlobalGroup) (map[string]*keyward.Cache, error) {
	out := make(map[string]*keyward.Cache, len(g.Members))
	for _, m := range g.Members {
		c, err := tx.FindCacheByID(ctx, memberScope(g, m.Region), keyward.KindReplicationGroup, m.ReplicationGroupID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		out[m.Region] = c
	}
	return out, nil
}

// globalToAPI reports g; the engine, node type and encryption are its
// primary's, which every member shares (checked when they join).
func globalToAPI(g *keyward.GlobalGroup, caches map[string]*keyward.Cache, members bool) *ecapi.GlobalReplicationGroup {
	out := &ecapi.GlobalReplicationGroup{
		GlobalReplicationGroupId: ptr(g.ID), GlobalReplicationGroupDescription: ptr(g.Description),
		Status: ptr(string(g.Status)), ClusterEnabled: ptr(false), ARN: ptr(g.ARN()),
	}
	if p, ok := g.Primary(); ok && caches[p.Region] != nil {
		c := caches[p.Region]
		if c.ClusterMode {
			out.ClusterEnabled, out.GlobalNodeGroups = ptr(true), globalNodeGroups(g, c)
		}
		out.CacheNodeType, out.Engine, out.EngineVersion = ptr(c.CacheNodeType), ptr(string(c.Engine)), ptr(reportedEngineVersion(c.Engine, c.EngineVersion))
		out.AuthTokenEnabled, out.TransitEncryptionEnabled = ptr(c.AuthTokenEnabled()), ptr(c.TransitEncryption)
		out.AtRestEncryptionEnabled = ptr(c.Settings.AtRestEncryption)
	}
	if members {
		out.Members = []ecapi.GlobalReplicationGroupMember{}
		for _, m := range g.Members {
			gm := ecapi.GlobalReplicationGroupMember{
				ReplicationGroupId: ptr(m.ReplicationGroupID), ReplicationGroupRegion: ptr(m.Region),
				Role: ptr(m.Role), Status: ptr(m.Status),
			}
			if c := caches[m.Region]; c != nil {
				gm.AutomaticFailover = ptr(enabledString(c.Settings.AutomaticFailover))
			}
			out.Members = append(out.Members, gm)
		}
	}
	return out
}

// globalInfo is what a member replication group reports of its datastore.
func globalInfo(c *keyward.Cache) *ecapi.GlobalReplicationGroupInfo {
	if c.Global == nil {
		return nil
	}
	return &ecapi.GlobalReplicationGroupInfo{GlobalReplicationGroupId: ptr(c.Global.ID), GlobalReplicationGroupMemberRole: ptr(c.Global.Role)}
}

// globalSettled reports whether no change of g is under way.
func globalSettled(g *keyward.GlobalGroup) bool {
	return g.Status == keyward.GlobalAvailable || g.Status == keyward.GlobalPrimaryOnly
}

func globalBusy(g *keyward.GlobalGroup) error {
	return keyward.Errorf(keyward.ESTATE, keyward.ResourceGlobalReplicationGroup,
		"Global replication group %s is in %s state; the operation needs it available or primary-only.", g.ID, g.Status)
}

// cacheModifying marks a member cache as changing, so that the reconciler
// applies its new role and the global group waits for it.
func (s *Service) cacheModifying(c *keyward.Cache) {
	c.Status, c.StatusSince, c.Generation = keyward.CacheModifying, s.now(), c.Generation+1
}

// CreateGlobalReplicationGroup makes an available replication group the
// primary of a new global datastore.
func (s *Service) CreateGlobalReplicationGroup(ctx context.Context, in *ecapi.CreateGlobalReplicationGroupMessage) (*ecapi.CreateGlobalReplicationGroupResult, error) {
	out, err := s.createGlobal(ctx, in)
	return out, apiError(err)
}

func (s *Service) createGlobal(ctx context.Context, in *ecapi.CreateGlobalReplicationGroupMessage) (*ecapi.CreateGlobalReplicationGroupResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	id, err := keyward.GlobalID(sc.Region, deref(in.GlobalReplicationGroupIdSuffix))
	if err != nil {
		return nil, err
	}
	rgID := strings.ToLower(deref(in.PrimaryReplicationGroupId))
	now := s.now()
	g := &keyward.GlobalGroup{
		Scope: keyward.GlobalScope(sc.Account), ID: id, Partition: sc.Partition(), Description: deref(in.GlobalReplicationGroupDescription),
		Status: keyward.GlobalCreating, StatusSince: now, Generation: 1, CreatedAt: now,
		Members: []keyward.GlobalMember{{Region: sc.Region, ReplicationGroupID: rgID, Role: keyward.GlobalRolePrimary, Status: keyward.MemberAssociating}},
	}
	var caches map[string]*keyward.Cache
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		c, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, rgID)
		if err != nil {
			return err
		}
		if err := globalCapable(c); err != nil {
			return err
		}
		if c.Status != keyward.CacheAvailable {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is not in available state (it is %s).", rgID, c.Status)
		}
		if _, err := keyward.GlobalGroups.Get(ctx, tx, g.Scope, id); err == nil {
			return keyward.Errorf(keyward.EEXISTS, keyward.ResourceGlobalReplicationGroup, "Global replication group %s already exists.", id)
		} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
			return err
		}
		c = c.Clone()
		c.Global = &keyward.CacheGlobal{ID: id, Role: keyward.GlobalRolePrimary}
		if err := tx.UpdateCache(ctx, c); err != nil {
			return err
		}
		caches = map[string]*keyward.Cache{sc.Region: c}
		if err := keyward.GlobalGroups.Create(ctx, tx, g); err != nil {
			return err
		}
		return tagNewResource(ctx, tx, g.Scope, keyward.ResourceRef{Type: keyward.ARNGlobalReplicationGroup, ID: id}, tags)
	})
	if err != nil {
		return nil, err
	}
	s.notify(globalKey(g))
	return &ecapi.CreateGlobalReplicationGroupResult{GlobalReplicationGroup: globalToAPI(g, caches, true)}, nil
}

// globalCapable checks what a replication group must be to join a global
// datastore, as primary or secondary.
func globalCapable(c *keyward.Cache) error {
	if c.Global != nil {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Replication group %s is already a member of global replication group %s.", c.ID, c.Global.ID)
	}
	if !keyward.SupportsGlobal(c.CacheNodeType) {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Global datastores are not supported on node type %s: use an M5, M6g, M7g, R5, R6g, R6gd, R7g or C7gn node type of size large or above.", c.CacheNodeType)
	}
	return nil
}

// joinGlobal completes the input of a CreateReplicationGroup that names a
// global datastore: the secondary takes its primary's engine, version,
// node type, encryption and failover settings (a value given must be the
// same), and must authenticate the same way. It returns the completed input.
func (s *Service) joinGlobal(ctx context.Context, sc keyward.Scope, in *ecapi.CreateReplicationGroupMessage) (*ecapi.CreateReplicationGroupMessage, error) {
	var g *keyward.GlobalGroup
	var p *keyward.Cache
	err := s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		g, p, err = joinable(ctx, tx, sc, *in.GlobalReplicationGroupId)
		return err
	})
	if err != nil {
		return nil, err
	}
	in2 := *in
	if err := joinClusterShards(p, &in2); err != nil {
		return nil, err
	}
	same := func(name string, given *string, want string, fold bool) error {
		if given != nil && !(*given == want || fold && strings.EqualFold(*given, want)) {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "%s %s differs from the global replication group's %s: a secondary takes the primary's.", name, keyward.Quote(*given), want)
		}
		return nil
	}
	for _, err := range []error{
		same("Engine", in.Engine, string(p.Engine), true),
		same("EngineVersion", in.EngineVersion, p.EngineVersion, false),
		same("CacheNodeType", in.CacheNodeType, p.CacheNodeType, false),
	} {
		if err != nil {
			return nil, err
		}
	}
	in2.Engine, in2.EngineVersion, in2.CacheNodeType = ptr(string(p.Engine)), ptr(p.EngineVersion), ptr(p.CacheNodeType)
	boolSame := func(name string, given *bool, want bool) error {
		if given != nil && *given != want {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "%s %v differs from the global replication group's %v: a secondary takes the primary's.", name, *given, want)
		}
		return nil
	}
	for _, err := range []error{
		boolSame("TransitEncryptionEnabled", in.TransitEncryptionEnabled, p.TransitEncryption),
		boolSame("AtRestEncryptionEnabled", in.AtRestEncryptionEnabled, p.Settings.AtRestEncryption),
	} {
		if err != nil {
			return nil, err
		}
	}
	in2.TransitEncryptionEnabled, in2.AtRestEncryptionEnabled = ptr(p.TransitEncryption), ptr(p.Settings.AtRestEncryption)
	if in.AutomaticFailoverEnabled == nil {
		in2.AutomaticFailoverEnabled = ptr(p.Settings.AutomaticFailover)
	}
	if in.MultiAZEnabled == nil {
		in2.MultiAZEnabled = ptr(p.Settings.MultiAZ)
	}
	switch {
	case p.AuthTokenEnabled() && in.AuthToken == nil:
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "The primary of global replication group %s requires an AUTH token: give the secondary an AuthToken.", g.ID)
	case !p.AuthTokenEnabled() && in.AuthToken != nil:
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "The primary of global replication group %s has no AUTH token: the secondary cannot have one.", g.ID)
	case len(p.UserGroupIDs) > 0 && len(in.UserGroupIds) == 0:
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "The primary of global replication group %s uses a user group: give the secondary a user group of its region.", g.ID)
	case len(p.UserGroupIDs) == 0 && len(in.UserGroupIds) > 0:
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "The primary of global replication group %s uses no user group: the secondary cannot have one.", g.ID)
	case in.SnapshotName != nil || len(in.SnapshotArns) > 0:
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "A secondary replication group takes its data from its global replication group: it cannot be restored from a snapshot.")
	}
	return &in2, nil
}

// joinable loads a global datastore that a new secondary in sc may join,
// and its primary replication group.
func joinable(ctx context.Context, tx keyward.Tx, sc keyward.Scope, rawID string) (*keyward.GlobalGroup, *keyward.Cache, error) {
	id := strings.ToLower(rawID)
	g, err := keyward.GlobalGroups.Get(ctx, tx, keyward.GlobalScope(sc.Account), id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || err == nil && g.Partition != sc.Partition() {
		return nil, nil, globalNotFound(id)
	} else if err != nil {
		return nil, nil, err
	}
	if !globalSettled(g) {
		return nil, nil, globalBusy(g)
	}
	pm, ok := g.Primary()
	if !ok {
		return nil, nil, globalBusy(g)
	}
	switch {
	case g.HasRegion(sc.Region):
		return nil, nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Global replication group %s already has a member in region %s: a secondary must be in another region.", id, sc.Region)
	case !keyward.GlobalRegionsPair(pm.Region, sc.Region):
		return nil, nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Region %s cannot be paired with region %s in a global replication group.", sc.Region, pm.Region)
	case g.Secondaries() >= keyward.MaxGlobalSecondaries:
		return nil, nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Global replication group %s already has %d secondary regions, the most it can have.", id, keyward.MaxGlobalSecondaries)
	}
	p, err := tx.FindCacheByID(ctx, memberScope(g, pm.Region), keyward.KindReplicationGroup, pm.ReplicationGroupID)
	if err != nil {
		return nil, nil, err
	}
	return g, p, nil
}

// addSecondary records a new secondary c in its datastore, in the
// transaction that creates c.
func (s *Service) addSecondary(ctx context.Context, tx keyward.Tx, c *keyward.Cache, rawID string) (keyward.Key, error) {
	g, _, err := joinable(ctx, tx, c.Scope, rawID)
	if err != nil {
		return keyward.Key{}, err
	}
	g = g.Clone()
	g.Members = append(g.Members, keyward.GlobalMember{Region: c.Scope.Region, ReplicationGroupID: c.ID, Role: keyward.GlobalRoleSecondary, Status: keyward.MemberAssociating})
	g.Status, g.StatusSince, g.Generation = keyward.GlobalModifying, s.now(), g.Generation+1
	c.Global = &keyward.CacheGlobal{ID: g.ID, Role: keyward.GlobalRoleSecondary}
	return globalKey(g), keyward.GlobalGroups.Update(ctx, tx, g)
}

// DescribeGlobalReplicationGroups lists the global datastores that have a
// member in the caller's region, members only with ShowMemberInfo.
func (s *Service) DescribeGlobalReplicationGroups(ctx context.Context, in *ecapi.DescribeGlobalReplicationGroupsMessage) (*ecapi.DescribeGlobalReplicationGroupsResult, error) {
	out, err := s.describeGlobals(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeGlobals(ctx context.Context, in *ecapi.DescribeGlobalReplicationGroupsMessage) (*ecapi.DescribeGlobalReplicationGroupsResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	page, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceGlobalReplicationGroup, "%s", keyward.ErrorMessage(err))
	}
	out := &ecapi.DescribeGlobalReplicationGroupsResult{GlobalReplicationGroups: []ecapi.GlobalReplicationGroup{}}
	err = s.Store.View(ctx, func(tx keyward.Tx) error {
		var gs []*keyward.GlobalGroup
		if in.GlobalReplicationGroupId != nil {
			g, err := findGlobal(ctx, tx, sc, *in.GlobalReplicationGroupId)
			if err != nil {
				return err
			}
			gs = []*keyward.GlobalGroup{g}
		} else {
			all, err := keyward.GlobalGroups.Find(ctx, tx, keyward.DocQuery{Scope: keyward.GlobalScope(sc.Account), AfterID: page.after})
			if err != nil {
				return err
			}
			gs = slices.DeleteFunc(all, func(g *keyward.GlobalGroup) bool { return !visibleFrom(g, sc) })
		}
		for _, g := range gs {
			if g.ID <= page.after {
				continue
			}
			if len(out.GlobalReplicationGroups) == page.max {
				out.Marker = ptr(encodeMarker(*out.GlobalReplicationGroups[page.max-1].GlobalReplicationGroupId))
				return nil
			}
			caches, err := memberCaches(ctx, tx, g)
			if err != nil {
				return err
			}
			out.GlobalReplicationGroups = append(out.GlobalReplicationGroups, *globalToAPI(g, caches, deref(in.ShowMemberInfo)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// globalChange runs change on a global datastore the caller sees, in one
// transaction, then stores it and every member cache change reports, and
// answers the datastore as it now is.
func (s *Service) globalChange(ctx context.Context, rawID string, change func(tx keyward.Tx, g *keyward.GlobalGroup, caches map[string]*keyward.Cache) ([]*keyward.Cache, error)) (*ecapi.GlobalReplicationGroup, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	var g *keyward.GlobalGroup
	var caches map[string]*keyward.Cache
	var keys []keyward.Key
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		keys = keys[:0]
		cur, err := findGlobal(ctx, tx, sc, rawID)
		if err != nil {
			return err
		}
		if caches, err = memberCaches(ctx, tx, cur); err != nil {
			return err
		}
		g = cur.Clone()
		changed, err := change(tx, g, caches)
		if err != nil {
			return err
		}
		for _, c := range changed {
			if err := tx.UpdateCache(ctx, c); err != nil {
				return err
			}
			caches[c.Scope.Region] = c
			keys = append(keys, cacheKey(c))
		}
		g.Generation++
		keys = append(keys, globalKey(g))
		return keyward.GlobalGroups.Update(ctx, tx, g)
	})
	if err != nil {
		return nil, err
	}
	s.notify(keys...)
	return globalToAPI(g, caches, true), nil
}

// memberCache returns the stored cache of a member, or an error if the
// group is not in a state to change it.
func memberCache(g *keyward.GlobalGroup, caches map[string]*keyward.Cache, m keyward.GlobalMember) (*keyward.Cache, error) {
	c := caches[m.Region]
	if c == nil || c.Status != keyward.CacheAvailable {
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceGlobalReplicationGroup, "Replication group %s of global replication group %s is not available.", m.ReplicationGroupID, g.ID)
	}
	return c.Clone(), nil
}

// ModifyGlobalReplicationGroup changes the description, and the node type
// and automatic failover of every member.
func (s *Service) ModifyGlobalReplicationGroup(ctx context.Context, in *ecapi.ModifyGlobalReplicationGroupMessage) (*ecapi.ModifyGlobalReplicationGroupResult, error) {
	if !deref(in.ApplyImmediately) {
		return nil, apiError(keyward.Errorf(keyward.EINVALID, keyward.ResourceGlobalReplicationGroup, "Modifications to global replication groups are applied immediately: ApplyImmediately must be true."))
	}
	if in.CacheParameterGroupName != nil {
		return nil, apiError(keyward.Errorf(keyward.EINVALID, keyward.ResourceGlobalReplicationGroup, "keyward does not change parameter groups through a global replication group (it serves one engine version); modify each member replication group."))
	}
	out, err := s.globalChange(ctx, deref(in.GlobalReplicationGroupId), func(tx keyward.Tx, g *keyward.GlobalGroup, caches map[string]*keyward.Cache) ([]*keyward.Cache, error) {
		if !globalSettled(g) {
			return nil, globalBusy(g)
		}
		changed := false
		if in.GlobalReplicationGroupDescription != nil && *in.GlobalReplicationGroupDescription != g.Description {
			g.Description, changed = *in.GlobalReplicationGroupDescription, true
		}
		if in.CacheNodeType != nil && !keyward.SupportsGlobal(*in.CacheNodeType) {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceGlobalReplicationGroup, "Global datastores are not supported on node type %s.", *in.CacheNodeType)
		}
		var out []*keyward.Cache
		for _, m := range g.Members {
			c, err := memberCache(g, caches, m)
			if err != nil {
				return nil, err
			}
			// The member's own checks: engine and version keyward runs,
			// node type known, failover needing a replica.
			ch, async, err := rgModifySettings(c, &ecapi.ModifyReplicationGroupMessage{
				ApplyImmediately: ptr(true), CacheNodeType: in.CacheNodeType, Engine: in.Engine, EngineVersion: in.EngineVersion,
				AutomaticFailoverEnabled: in.AutomaticFailoverEnabled,
			})
			if err != nil {
				return nil, err
			}
			if ch {
				if async {
					s.cacheModifying(c)
				} else {
					c.Generation++
				}
				out = append(out, c)
			}
		}
		if !changed && len(out) == 0 {
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceGlobalReplicationGroup, "No modifications were requested.")
		}
		if len(out) > 0 {
			g.Status, g.StatusSince = keyward.GlobalModifying, s.now()
		}
		return out, nil
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.ModifyGlobalReplicationGroupResult{GlobalReplicationGroup: out}, nil
}

// FailoverGlobalReplicationGroup makes a secondary the primary: its nodes
// stop replicating and take writes, and the old primary's follow them.
func (s *Service) FailoverGlobalReplicationGroup(ctx context.Context, in *ecapi.FailoverGlobalReplicationGroupMessage) (*ecapi.FailoverGlobalReplicationGroupResult, error) {
	region, rgID := deref(in.PrimaryRegion), strings.ToLower(deref(in.PrimaryReplicationGroupId))
	out, err := s.globalChange(ctx, deref(in.GlobalReplicationGroupId), func(tx keyward.Tx, g *keyward.GlobalGroup, caches map[string]*keyward.Cache) ([]*keyward.Cache, error) {
		if !globalSettled(g) {
			return nil, globalBusy(g)
		}
		i := g.Member(region, rgID)
		if i < 0 {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceGlobalReplicationGroup, "Replication group %s in region %s is not a member of global replication group %s.", rgID, region, g.ID)
		}
		if g.Members[i].Role == keyward.GlobalRolePrimary {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceGlobalReplicationGroup, "Replication group %s is already the primary of global replication group %s.", rgID, g.ID)
		}
		old, _ := g.Primary()
		var out []*keyward.Cache
		for j := range g.Members {
			c, err := memberCache(g, caches, g.Members[j])
			if err != nil {
				return nil, err
			}
			role := keyward.GlobalRoleSecondary
			if j == i {
				role = keyward.GlobalRolePrimary
			}
			if c.Global.Role != role || j == i {
				c.Global.Role = role
				s.cacheModifying(c)
				out = append(out, c)
			}
			g.Members[j].Role = role
		}
		// The new primary first, as ElastiCache lists it.
		m := g.Members[i]
		g.Members = append([]keyward.GlobalMember{m}, slices.Delete(g.Members, i, i+1)...)
		g.Promoting = old.Region
		g.Status, g.StatusSince = keyward.GlobalModifying, s.now()
		return out, nil
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.FailoverGlobalReplicationGroupResult{GlobalReplicationGroup: out}, nil
}

// DisassociateGlobalReplicationGroup detaches a secondary: its nodes stop
// replicating and it becomes a writable regional replication group.
func (s *Service) DisassociateGlobalReplicationGroup(ctx context.Context, in *ecapi.DisassociateGlobalReplicationGroupMessage) (*ecapi.DisassociateGlobalReplicationGroupResult, error) {
	region, rgID := deref(in.ReplicationGroupRegion), strings.ToLower(deref(in.ReplicationGroupId))
	out, err := s.globalChange(ctx, deref(in.GlobalReplicationGroupId), func(tx keyward.Tx, g *keyward.GlobalGroup, caches map[string]*keyward.Cache) ([]*keyward.Cache, error) {
		i := g.Member(region, rgID)
		if i < 0 || g.Members[i].Status == keyward.MemberDisassociating {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceGlobalReplicationGroup, "Replication group %s in region %s is not associated with Global Replication Group %s.", rgID, region, g.ID)
		}
		if !globalSettled(g) {
			return nil, globalBusy(g)
		}
		if g.Members[i].Role == keyward.GlobalRolePrimary {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceGlobalReplicationGroup, "Replication group %s is the primary of global replication group %s: only a secondary can be disassociated.", rgID, g.ID)
		}
		c, err := memberCache(g, caches, g.Members[i])
		if err != nil {
			return nil, err
		}
		c.Global = nil
		s.cacheModifying(c)
		g.Members[i].Status = keyward.MemberDisassociating
		g.Status, g.StatusSince = keyward.GlobalModifying, s.now()
		return []*keyward.Cache{c}, nil
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.DisassociateGlobalReplicationGroupResult{GlobalReplicationGroup: out}, nil
}

// DeleteGlobalReplicationGroup deletes a datastore that has no secondary
// left; its primary is kept (RetainPrimaryReplicationGroup) or deleted.
func (s *Service) DeleteGlobalReplicationGroup(ctx context.Context, in *ecapi.DeleteGlobalReplicationGroupMessage) (*ecapi.DeleteGlobalReplicationGroupResult, error) {
	retain := deref(in.RetainPrimaryReplicationGroup)
	out, err := s.globalChange(ctx, deref(in.GlobalReplicationGroupId), func(tx keyward.Tx, g *keyward.GlobalGroup, caches map[string]*keyward.Cache) ([]*keyward.Cache, error) {
		if !globalSettled(g) {
			return nil, globalBusy(g)
		}
		if g.Secondaries() > 0 {
			return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceGlobalReplicationGroup, "Global replication group %s still has secondary replication groups: disassociate them first.", g.ID)
		}
		var out []*keyward.Cache
		if pm, ok := g.Primary(); ok && caches[pm.Region] != nil {
			c := caches[pm.Region].Clone()
			if !retain && c.Status != keyward.CacheAvailable {
				return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is in %s state; it can be deleted only when available.", c.ID, c.Status)
			}
			c.Global = nil
			if retain {
				c.Generation++
			} else {
				c.Status, c.StatusSince, c.Generation = keyward.CacheDeleting, s.now(), c.Generation+1
			}
			out = append(out, c)
		}
		g.Status, g.StatusSince = keyward.GlobalDeleting, s.now()
		return out, nil
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.DeleteGlobalReplicationGroupResult{GlobalReplicationGroup: out}, nil
}

// notInGlobal refuses to delete a member of a global datastore: a
// secondary must be disassociated first, a primary's datastore deleted.
func notInGlobal(c *keyward.Cache) error {
	if c.Global == nil {
		return nil
	}
	return keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is a member of global replication group %s: remove it from the global replication group first.", c.ID, c.Global.ID)
}

// globalMemberModify refuses what only the global datastore may change on
// a member: its node type and engine, which every member shares.
func globalMemberModify(c *keyward.Cache, in *ecapi.ModifyReplicationGroupMessage) error {
	if c.Global == nil {
		return nil
	}
	if v := deref(in.CacheNodeType); v != "" && v != c.CacheNodeType || in.EngineVersion != nil && *in.EngineVersion != c.EngineVersion ||
		in.Engine != nil && !strings.EqualFold(*in.Engine, string(c.Engine)) {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"Replication group %s is a member of global replication group %s: change its node type or engine with ModifyGlobalReplicationGroup.", c.ID, c.Global.ID)
	}
	return nil
}
