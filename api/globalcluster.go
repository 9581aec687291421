package api

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// Cluster-mode global datastores: a secondary takes the primary's node
// groups (ids and slots), and the node-group operations change every
// member alike, so that each secondary shard keeps the slots of the
// primary shard it replicates (reconcile/globalcluster.go). Each member
// then moves its own slots for real (MoveSlots), as
// ModifyReplicationGroupShardConfiguration does.

func globalInvalid(format string, args ...any) error {
	return keyward.Errorf(keyward.EINVALID, keyward.ResourceGlobalReplicationGroup, format, args...)
}

func globalCombination(format string, args ...any) error {
	return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceGlobalReplicationGroup, format, args...)
}

// globalNodeGroups reports a cluster-mode datastore's node groups: the
// primary's shards, named <global id>-<node group id>.
func globalNodeGroups(g *keyward.GlobalGroup, p *keyward.Cache) []ecapi.GlobalNodeGroup {
	out := []ecapi.GlobalNodeGroup{}
	for _, sh := range p.Shards {
		if sh.Removing {
			continue
		}
		out = append(out, ecapi.GlobalNodeGroup{GlobalNodeGroupId: ptr(g.ID + "-" + sh.ID), Slots: ptr(sh.Slots)})
	}
	return out
}

// joinClusterShards completes a secondary's input from a cluster-mode
// primary p: cluster mode, and p's node groups with their ids and slots
// (a NodeGroupConfiguration entry may set a node group's replicas and
// zones; its id and slots, if given, must be p's). A cluster-mode-disabled
// primary takes a cluster-mode-disabled secondary.
func joinClusterShards(p *keyward.Cache, in *ecapi.CreateReplicationGroupMessage) error {
	if !p.ClusterMode {
		if deref(in.NumNodeGroups) > 1 || len(in.NodeGroupConfiguration) > 1 || strings.EqualFold(deref(in.ClusterMode), "enabled") {
			return rgInvalid("The primary of global replication group %s has cluster mode disabled: the secondary must have cluster mode disabled too.", deref(in.GlobalReplicationGroupId))
		}
		return nil
	}
	n := len(p.Shards)
	switch {
	case in.NumCacheClusters != nil:
		return combination("NumCacheClusters cannot be used with a cluster-mode global replication group: use ReplicasPerNodeGroup.")
	case in.NumNodeGroups != nil && int(*in.NumNodeGroups) != n:
		return rgInvalid("NumNodeGroups %d differs from the %d node groups of the global replication group's primary: a secondary takes the primary's.", *in.NumNodeGroups, n)
	case len(in.NodeGroupConfiguration) > n:
		return rgInvalid("NodeGroupConfiguration has %d entries; the global replication group's primary has %d node groups.", len(in.NodeGroupConfiguration), n)
	case in.ClusterMode != nil && !strings.EqualFold(*in.ClusterMode, "enabled"):
		return rgInvalid("The primary of global replication group %s has cluster mode enabled: the secondary must have it enabled too.", deref(in.GlobalReplicationGroupId))
	}
	cfg := make([]ecapi.NodeGroupConfiguration, n)
	for i, sh := range p.Shards {
		if i < len(in.NodeGroupConfiguration) {
			cfg[i] = in.NodeGroupConfiguration[i]
		}
		if v := cfg[i].NodeGroupId; v != nil && *v != sh.ID || cfg[i].Slots != nil && *cfg[i].Slots != sh.Slots {
			return rgInvalid("Node group %d of a secondary is the primary's node group %s with slots %s.", i+1, sh.ID, sh.Slots)
		}
		cfg[i].NodeGroupId, cfg[i].Slots = ptr(sh.ID), ptr(sh.Slots)
		if cfg[i].ReplicaCount == nil && in.ReplicasPerNodeGroup != nil {
			cfg[i].ReplicaCount = in.ReplicasPerNodeGroup
		}
	}
	in.NodeGroupConfiguration, in.NumNodeGroups, in.ClusterMode = cfg, ptr(int32(n)), ptr("enabled")
	return nil
}

// clusterPrimary returns the available cluster-mode primary of g, or the
// fault ElastiCache answers a node-group operation with.
func clusterPrimary(g *keyward.GlobalGroup, caches map[string]*keyward.Cache) (*keyward.Cache, error) {
	if !globalSettled(g) {
		return nil, globalBusy(g)
	}
	pm, ok := g.Primary()
	if !ok || caches[pm.Region] == nil {
		return nil, globalBusy(g)
	}
	if p := caches[pm.Region]; !p.ClusterMode {
		return nil, globalInvalid("Global replication group %s is not cluster mode enabled: node groups can only be changed in a cluster-mode-enabled global replication group.", g.ID)
	}
	return memberCache(g, caches, pm)
}

// reshardMembers changes every member of g alike: keep tells which of the
// primary's node groups stay (by id), added how many new ones each gets
// (with the ids newIDs, and each region's zones from cfg), then every
// member's slots are planned as ModifyReplicationGroupShardConfiguration
// plans them. It returns the members to store (modifying).
func (s *Service) reshardMembers(ctx context.Context, tx keyward.Tx, g *keyward.GlobalGroup, caches map[string]*keyward.Cache, keep map[string]bool, newIDs []string, cfg map[string][]ecapi.ReshardingConfiguration) ([]*keyward.Cache, error) {
	var out []*keyward.Cache
	for _, m := range g.Members {
		c, err := memberCache(g, caches, m)
		if err != nil {
			return nil, err
		}
		if !c.ClusterMode {
			return nil, globalInvalid("Replication group %s of global replication group %s has cluster mode disabled.", c.ID, g.ID)
		}
		current := make([]string, 0, len(c.Shards)+len(newIDs))
		stays := make([]bool, 0, len(c.Shards)+len(newIDs))
		for i, sh := range c.Shards {
			current = append(current, sh.Slots)
			stays = append(stays, keep[sh.ID])
			c.Shards[i].Removing = !keep[sh.ID]
		}
		if len(newIDs) > 0 {
			rc := cfg[m.Region]
			if len(rc) > 0 && len(rc) != len(newIDs) {
				return nil, globalCombination("ReshardingConfiguration of region %s must have one entry per new node group (%d).", m.Region, len(newIDs))
			}
			add := make([]ecapi.ReshardingConfiguration, len(newIDs))
			for k, id := range newIDs {
				if k < len(rc) {
					add[k] = rc[k]
				}
				if add[k].NodeGroupId != nil && *add[k].NodeGroupId != id {
					return nil, globalCombination("ReshardingConfiguration of region %s names node group %s where the primary's new node group is %s: every region gets the same node groups.", m.Region, *add[k].NodeGroupId, id)
				}
				add[k].NodeGroupId = ptr(id)
			}
			if err := s.addShards(ctx, tx, c, len(newIDs), add); err != nil {
				return nil, err
			}
			for range newIDs {
				current, stays = append(current, ""), append(stays, true)
			}
		}
		target, err := keyward.ReshardSlots(current, stays)
		if err != nil {
			return nil, err
		}
		startReshard(c, current, target)
		c.NumNodes = len(c.Nodes)
		s.cacheModifying(c)
		out = append(out, c)
	}
	g.Status, g.StatusSince = keyward.GlobalModifying, s.now()
	return out, nil
}

// IncreaseNodeGroupsInGlobalReplicationGroup adds node groups to every
// member of a cluster-mode datastore and rebalances the slots onto them.
func (s *Service) IncreaseNodeGroupsInGlobalReplicationGroup(ctx context.Context, in *ecapi.IncreaseNodeGroupsInGlobalReplicationGroupMessage) (*ecapi.IncreaseNodeGroupsInGlobalReplicationGroupResult, error) {
	if !deref(in.ApplyImmediately) {
		return nil, apiError(globalInvalid("The ApplyImmediately parameter must be true: node groups are reconfigured immediately."))
	}
	want := int(deref(in.NodeGroupCount))
	out, err := s.globalChange(ctx, deref(in.GlobalReplicationGroupId), func(tx keyward.Tx, g *keyward.GlobalGroup, caches map[string]*keyward.Cache) ([]*keyward.Cache, error) {
		p, err := clusterPrimary(g, caches)
		if err != nil {
			return nil, err
		}
		have := len(p.Shards)
		switch {
		case want <= have:
			return nil, globalInvalid("NodeGroupCount %d must be greater than the current number of node groups (%d).", want, have)
		case want > maxShards:
			return nil, keyward.Errorf(keyward.ENODEGROUPQUOTA, keyward.ResourceReplicationGroup, msgNodeGroupQuota)
		}
		cfg := map[string][]ecapi.ReshardingConfiguration{}
		for _, rc := range in.RegionalConfigurations {
			region, id := deref(rc.ReplicationGroupRegion), strings.ToLower(deref(rc.ReplicationGroupId))
			if g.Member(region, id) < 0 {
				return nil, globalInvalid("Replication group %s in region %s is not a member of global replication group %s.", id, region, g.ID)
			}
			if _, dup := cfg[region]; dup {
				return nil, globalInvalid("Region %s is configured more than once.", region)
			}
			cfg[region] = rc.ReshardingConfiguration
		}
		// The new node groups' ids: the primary region's configuration
		// names them, or they are numbered after the highest in use.
		high := 0
		for _, sh := range p.Shards {
			high = max(high, shardNumber(sh.ID))
		}
		for _, id := range p.Leaving {
			if parts := strings.Split(strings.TrimPrefix(id, p.ID+"-"), "-"); len(parts) == 2 {
				high = max(high, shardNumber(parts[0]))
			}
		}
		newIDs := make([]string, want-have)
		pcfg := cfg[p.Scope.Region]
		for k := range newIDs {
			high++
			newIDs[k] = fmt.Sprintf("%04d", high)
			if k < len(pcfg) && pcfg[k].NodeGroupId != nil {
				id := *pcfg[k].NodeGroupId
				if !nodeGroupIDPattern.MatchString(id) || slices.ContainsFunc(p.Shards, func(s keyward.Shard) bool { return s.ID == id }) || slices.Contains(newIDs[:k], id) {
					return nil, globalInvalid("Invalid or repeated NodeGroupId %s: 1 to 4 letters or digits, unique in the global replication group.", keyward.Quote(id))
				}
				newIDs[k] = id
				high = max(high, shardNumber(id))
			}
		}
		keep := map[string]bool{}
		for _, sh := range p.Shards {
			keep[sh.ID] = true
		}
		return s.reshardMembers(ctx, tx, g, caches, keep, newIDs, cfg)
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.IncreaseNodeGroupsInGlobalReplicationGroupResult{GlobalReplicationGroup: out}, nil
}

// DecreaseNodeGroupsInGlobalReplicationGroup removes node groups
// (GlobalNodeGroupsToRemove, or all but GlobalNodeGroupsToRetain) from
// every member, their slots moved to the node groups that stay.
func (s *Service) DecreaseNodeGroupsInGlobalReplicationGroup(ctx context.Context, in *ecapi.DecreaseNodeGroupsInGlobalReplicationGroupMessage) (*ecapi.DecreaseNodeGroupsInGlobalReplicationGroupResult, error) {
	if !deref(in.ApplyImmediately) {
		return nil, apiError(globalInvalid("The ApplyImmediately parameter must be true: node groups are reconfigured immediately."))
	}
	want := int(deref(in.NodeGroupCount))
	out, err := s.globalChange(ctx, deref(in.GlobalReplicationGroupId), func(tx keyward.Tx, g *keyward.GlobalGroup, caches map[string]*keyward.Cache) ([]*keyward.Cache, error) {
		p, err := clusterPrimary(g, caches)
		if err != nil {
			return nil, err
		}
		have := len(p.Shards)
		switch {
		case want >= have:
			return nil, globalInvalid("NodeGroupCount %d must be less than the current number of node groups (%d).", want, have)
		case want < 1:
			return nil, globalInvalid("NodeGroupCount must be at least 1.")
		case len(in.GlobalNodeGroupsToRemove) > 0 && len(in.GlobalNodeGroupsToRetain) > 0:
			return nil, globalCombination("GlobalNodeGroupsToRemove and GlobalNodeGroupsToRetain cannot be used together.")
		case len(in.GlobalNodeGroupsToRemove) == 0 && len(in.GlobalNodeGroupsToRetain) == 0:
			return nil, globalCombination("Either GlobalNodeGroupsToRemove or GlobalNodeGroupsToRetain is required when NodeGroupCount (%d) is less than the current number of node groups (%d).", want, have)
		}
		// A global node group is named <global id>-<node group id>.
		shardID := func(gid string) (string, error) {
			id, ok := strings.CutPrefix(gid, g.ID+"-")
			if !ok || !slices.ContainsFunc(p.Shards, func(s keyward.Shard) bool { return s.ID == id }) {
				return "", globalInvalid("Global node group %s is not a node group of global replication group %s.", gid, g.ID)
			}
			return id, nil
		}
		keep := map[string]bool{}
		if len(in.GlobalNodeGroupsToRetain) > 0 {
			if len(in.GlobalNodeGroupsToRetain) != want {
				return nil, globalInvalid("GlobalNodeGroupsToRetain must name %d node groups (NodeGroupCount).", want)
			}
			for _, gid := range in.GlobalNodeGroupsToRetain {
				id, err := shardID(gid)
				if err != nil {
					return nil, err
				}
				keep[id] = true
			}
		} else {
			if len(in.GlobalNodeGroupsToRemove) != have-want {
				return nil, globalInvalid("GlobalNodeGroupsToRemove must name %d node groups: the current %d less NodeGroupCount %d.", have-want, have, want)
			}
			for _, sh := range p.Shards {
				keep[sh.ID] = true
			}
			for _, gid := range in.GlobalNodeGroupsToRemove {
				id, err := shardID(gid)
				if err != nil {
					return nil, err
				}
				keep[id] = false
			}
		}
		kept := 0
		for _, k := range keep {
			if k {
				kept++
			}
		}
		if kept != want {
			return nil, globalInvalid("The node groups named leave %d node groups, not NodeGroupCount %d.", kept, want)
		}
		return s.reshardMembers(ctx, tx, g, caches, keep, nil, nil)
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.DecreaseNodeGroupsInGlobalReplicationGroupResult{GlobalReplicationGroup: out}, nil
}

// RebalanceSlotsInGlobalReplicationGroup evens out the slots of every
// member's node groups (the same plan on each, so the layouts agree).
func (s *Service) RebalanceSlotsInGlobalReplicationGroup(ctx context.Context, in *ecapi.RebalanceSlotsInGlobalReplicationGroupMessage) (*ecapi.RebalanceSlotsInGlobalReplicationGroupResult, error) {
	if !deref(in.ApplyImmediately) {
		return nil, apiError(globalInvalid("The ApplyImmediately parameter must be true: slots are rebalanced immediately."))
	}
	out, err := s.globalChange(ctx, deref(in.GlobalReplicationGroupId), func(tx keyward.Tx, g *keyward.GlobalGroup, caches map[string]*keyward.Cache) ([]*keyward.Cache, error) {
		p, err := clusterPrimary(g, caches)
		if err != nil {
			return nil, err
		}
		keep := map[string]bool{}
		for _, sh := range p.Shards {
			keep[sh.ID] = true
		}
		return s.reshardMembers(ctx, tx, g, caches, keep, nil, nil)
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.RebalanceSlotsInGlobalReplicationGroupResult{GlobalReplicationGroup: out}, nil
}
