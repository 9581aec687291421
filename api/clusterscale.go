package api

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"keyward"
	"keyward/ecapi"
)

// Scaling and failover of replication groups: ModifyReplicationGroupShard-
// Configuration (shards added or removed, slots migrated for real),
// Increase/DecreaseReplicaCount (both cluster modes) and TestFailover. The
// handlers record the change; the reconciler does it
// (reconcile/clusterscale.go).

// maxReplicas is ElastiCache's limit of replicas per node group.
const maxReplicas = 5

// maxTestFailovers is how many node groups an account may test failover
// on in a rolling 24 hours (ElastiCache's TestFailover documentation: "up
// to 15 shards ... in any rolling 24-hour period"), counted per region as
// every ElastiCache quota is; the call beyond answers
// APICallRateForCustomerExceeded.
const maxTestFailovers = 15

func rgInvalid(format string, args ...any) error {
	return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, format, args...)
}

// scaleGroup runs change on the available replication group id in one
// transaction, then stores it as modifying and enqueues it.
func (s *Service) scaleGroup(ctx context.Context, rawID string, change func(tx keyward.Tx, c *keyward.Cache) error) (*keyward.Cache, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id := strings.ToLower(rawID)
	var c *keyward.Cache
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return notFound(keyward.KindReplicationGroup, id)
		} else if err != nil {
			return err
		}
		if cur.Status != keyward.CacheAvailable {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is not in available state.", id)
		}
		c = cur.Clone()
		if err := change(tx, c); err != nil {
			return err
		}
		c.NumNodes = len(c.Nodes)
		c.Status, c.StatusSince, c.Generation = keyward.CacheModifying, s.now(), c.Generation+1
		return tx.UpdateCache(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	s.notify(cacheKey(c))
	return c, nil
}

// checkNodeGrowth refuses added nodes beyond the node quotas of the scope
// and the account.
func (s *Service) checkNodeGrowth(ctx context.Context, tx keyward.Tx, c *keyward.Cache, added int) error {
	all, err := tx.FindAllCaches(ctx)
	if err != nil {
		return err
	}
	scope, account := added, added
	for _, o := range all {
		if o.Kind != keyward.KindReplicationGroup || o.Scope.Account != c.Scope.Account {
			continue
		}
		account += o.NumNodes
		if o.Scope == c.Scope {
			scope += o.NumNodes
		}
	}
	if !keyward.Within(scope, s.Quotas.Nodes) || s.Quotas.AccountNodes >= 0 && !keyward.Within(account, s.Quotas.AccountNodes) {
		return keyward.Errorf(keyward.ENODEQUOTA, keyward.ResourceReplicationGroup, msgNodeQuota)
	}
	return nil
}

// alignAZs makes c's PreferredAZs name one zone per node, so that zones
// can be given to new nodes (and follow nodes that move).
func alignAZs(c *keyward.Cache) {
	if len(c.Settings.PreferredAZs) == len(c.Nodes) {
		return
	}
	azs := make([]string, len(c.Nodes))
	for i := range c.Nodes {
		azs[i] = nodeAZ(c, i)
	}
	c.Settings.PreferredAZs = azs
}

// shardNumber is the number in a cluster-mode member cluster id
// (<group>-NNNN-MMM), or in a shard id.
func shardNumber(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// usedClusterIDs are the member cluster ids of c, also those leaving.
func usedClusterIDs(c *keyward.Cache) map[string]bool {
	used := map[string]bool{}
	for _, n := range c.Nodes {
		used[n.ClusterID] = true
	}
	for _, id := range c.Leaving {
		used[id] = true
	}
	return used
}

// nextMemberID returns an unused member cluster id of shard sh (cluster
// mode) or of the group (shard ""), and marks it used.
func nextMemberID(c *keyward.Cache, used map[string]bool, sh string) string {
	for i := 1; ; i++ {
		id := fmt.Sprintf("%s-%03d", c.ID, i)
		if sh != "" {
			id = fmt.Sprintf("%s-%04d-%03d", c.ID, shardNumber(sh), i)
		}
		if !used[id] {
			used[id] = true
			return id
		}
	}
}

// insertNode adds n (with zone az) after the last node of its shard.
func insertNode(c *keyward.Cache, n keyward.CacheNode, az string) {
	at := len(c.Nodes)
	if c.ClusterMode {
		for i, m := range c.Nodes {
			if m.Shard <= n.Shard {
				at = i + 1
			}
		}
	}
	c.Nodes = slices.Insert(c.Nodes, at, n)
	c.Settings.PreferredAZs = slices.Insert(c.Settings.PreferredAZs, at, az)
}

// removeNode takes node i out of c; it leaves (its node is stopped).
func removeNode(c *keyward.Cache, i int) {
	c.Leaving = append(c.Leaving, c.Nodes[i].ClusterID)
	c.Nodes = slices.Delete(c.Nodes, i, i+1)
	if i < len(c.Settings.PreferredAZs) {
		c.Settings.PreferredAZs = slices.Delete(c.Settings.PreferredAZs, i, i+1)
	}
}

// ModifyReplicationGroupShardConfiguration adds or removes node groups of
// a cluster-mode group; the reconciler migrates the slots (keys and all)
// and reports its progress in PendingModifiedValues.Resharding.
func (s *Service) ModifyReplicationGroupShardConfiguration(ctx context.Context, in *ecapi.ModifyReplicationGroupShardConfigurationMessage) (*ecapi.ModifyReplicationGroupShardConfigurationResult, error) {
	c, err := s.modifyShards(ctx, in)
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.ModifyReplicationGroupShardConfigurationResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

func (s *Service) modifyShards(ctx context.Context, in *ecapi.ModifyReplicationGroupShardConfigurationMessage) (*keyward.Cache, error) {
	if !deref(in.ApplyImmediately) {
		return nil, rgInvalid("The ApplyImmediately parameter must be true: node groups are reconfigured immediately.")
	}
	want := int(deref(in.NodeGroupCount))
	if want < 1 {
		return nil, rgInvalid("NodeGroupCount must be at least 1.")
	}
	if want > maxShards {
		return nil, keyward.Errorf(keyward.ENODEGROUPQUOTA, keyward.ResourceReplicationGroup, msgNodeGroupQuota)
	}
	if len(in.NodeGroupsToRemove) > 0 && len(in.NodeGroupsToRetain) > 0 {
		return nil, combination("NodeGroupsToRemove and NodeGroupsToRetain cannot be used together.")
	}
	return s.scaleGroup(ctx, deref(in.ReplicationGroupId), func(tx keyward.Tx, c *keyward.Cache) error {
		if !c.ClusterMode {
			return rgInvalid("Replication group %s has cluster mode disabled: its node groups cannot be reconfigured.", c.ID)
		}
		have := len(c.Shards)
		current := make([]string, have)
		for i, sh := range c.Shards {
			current[i] = sh.Slots
		}
		keep := make([]bool, have)
		switch {
		case want == have:
			return rgInvalid("The replication group %s already has %d node groups.", c.ID, want)
		case want > have:
			if len(in.NodeGroupsToRemove) > 0 || len(in.NodeGroupsToRetain) > 0 {
				return combination("NodeGroupsToRemove and NodeGroupsToRetain apply only when NodeGroupCount is less than the current number of node groups (%d).", have)
			}
			if err := s.addShards(ctx, tx, c, want-have, in.ReshardingConfiguration); err != nil {
				return err
			}
			for range want - have {
				current = append(current, "")
			}
			keep = make([]bool, want)
			for i := range keep {
				keep[i] = true
			}
		default:
			if len(in.ReshardingConfiguration) > 0 {
				return combination("ReshardingConfiguration applies only when NodeGroupCount is greater than the current number of node groups (%d).", have)
			}
			if len(in.NodeGroupsToRemove) == 0 && len(in.NodeGroupsToRetain) == 0 {
				return combination("Either NodeGroupsToRemove or NodeGroupsToRetain is required when NodeGroupCount (%d) is less than the current number of node groups (%d).", want, have)
			}
			index := func(id string) (int, error) {
				i := slices.IndexFunc(c.Shards, func(s keyward.Shard) bool { return s.ID == id })
				if i < 0 {
					return 0, rgInvalid("Node group %s is not a node group of replication group %s.", id, c.ID)
				}
				return i, nil
			}
			if len(in.NodeGroupsToRetain) > 0 {
				if len(in.NodeGroupsToRetain) != want {
					return rgInvalid("NodeGroupsToRetain must name %d node groups (NodeGroupCount).", want)
				}
				for _, id := range in.NodeGroupsToRetain {
					i, err := index(id)
					if err != nil {
						return err
					}
					keep[i] = true
				}
			} else {
				if len(in.NodeGroupsToRemove) != have-want {
					return rgInvalid("NodeGroupsToRemove must name %d node groups: the current %d less NodeGroupCount %d.", have-want, have, want)
				}
				for i := range keep {
					keep[i] = true
				}
				for _, id := range in.NodeGroupsToRemove {
					i, err := index(id)
					if err != nil {
						return err
					}
					keep[i] = false
				}
			}
			kept := 0
			for i, k := range keep {
				c.Shards[i].Removing = !k
				if k {
					kept++
				}
			}
			if kept != want {
				return rgInvalid("The node groups named leave %d node groups, not NodeGroupCount %d.", kept, want)
			}
		}
		target, err := keyward.ReshardSlots(current, keep)
		if err != nil {
			return err
		}
		startReshard(c, current, target)
		return nil
	})
}

// addShards appends n new shards to c, zones from cfg (one entry per node
// group: all of them or only the new ones). Each new shard has as many
// nodes as the smallest existing shard, as ElastiCache's online
// resharding does ("the number of nodes in each new shard is the same as
// the number of nodes in the smallest of the existing shards"), so a zone
// list names that many zones.
func (s *Service) addShards(ctx context.Context, tx keyward.Tx, c *keyward.Cache, n int, cfg []ecapi.ReshardingConfiguration) error {
	if len(cfg) > 0 && len(cfg) != n && len(cfg) != len(c.Shards)+n {
		return combination("ReshardingConfiguration must have one entry per node group (%d) or per new node group (%d).", len(c.Shards)+n, n)
	}
	if len(cfg) == len(c.Shards)+n {
		cfg = cfg[len(c.Shards):]
	}
	replicas := smallestShard(c) - 1
	if err := s.checkNodeGrowth(ctx, tx, c, n*(1+replicas)); err != nil {
		return err
	}
	alignAZs(c)
	high := 0
	for _, sh := range c.Shards {
		high = max(high, shardNumber(sh.ID))
	}
	for _, id := range c.Leaving {
		if parts := strings.Split(strings.TrimPrefix(id, c.ID+"-"), "-"); len(parts) == 2 {
			high = max(high, shardNumber(parts[0]))
		}
	}
	used := usedClusterIDs(c)
	for k := range n {
		var rc ecapi.ReshardingConfiguration
		if k < len(cfg) {
			rc = cfg[k]
		}
		high++
		id := fmt.Sprintf("%04d", high)
		if rc.NodeGroupId != nil {
			id = *rc.NodeGroupId
			if slices.ContainsFunc(c.Shards, func(s keyward.Shard) bool { return s.ID == id }) {
				return rgInvalid("Node group %s already exists in replication group %s.", id, c.ID)
			}
			high = max(high, shardNumber(id))
		}
		if len(rc.PreferredAvailabilityZones) > 0 && len(rc.PreferredAvailabilityZones) != 1+replicas {
			return combination("ReshardingConfiguration for node group %s must name %d availability zones: one per node (the primary and %d replicas).", id, 1+replicas, replicas)
		}
		sh := len(c.Shards)
		c.Shards = append(c.Shards, keyward.Shard{ID: id})
		for j := range 1 + replicas {
			az := ""
			if j < len(rc.PreferredAvailabilityZones) {
				az = rc.PreferredAvailabilityZones[j]
				if err := keyward.ValidateAZ(c.Scope.Region, az); err != nil {
					return err
				}
			} else {
				az = nodeAZ(&keyward.Cache{Scope: c.Scope}, len(c.Nodes))
			}
			role := "replica"
			if j == 0 {
				role = "primary"
			}
			insertNode(c, keyward.CacheNode{ClusterID: nextMemberID(c, used, id), Role: role, Shard: sh}, az)
		}
	}
	return nil
}

// smallestShard is the number of nodes of c's smallest shard (at least 1).
func smallestShard(c *keyward.Cache) int {
	nodes := make([]int, len(c.Shards))
	for _, m := range c.Nodes {
		if m.Shard < len(nodes) {
			nodes[m.Shard]++
		}
	}
	if len(nodes) == 0 {
		return 1
	}
	return max(slices.Min(nodes), 1)
}

// shardGroups are c's node groups as the replica operations see them:
// the shards, or the one node group "0001" of a cluster-mode-disabled
// group.
func shardGroups(c *keyward.Cache) []string {
	if !c.ClusterMode {
		return []string{"0001"}
	}
	ids := make([]string, len(c.Shards))
	for i, sh := range c.Shards {
		ids[i] = sh.ID
	}
	return ids
}

// replicasOf returns the indexes of the replicas of node group g.
func replicasOf(c *keyward.Cache, g int) []int {
	var out []int
	for i, n := range c.Nodes {
		if n.Role == "replica" && (!c.ClusterMode || n.Shard == g) {
			out = append(out, i)
		}
	}
	return out
}

// replicaTargets turns NewReplicaCount or ReplicaConfiguration into the
// wanted replica count (and zones) of each node group.
func replicaTargets(c *keyward.Cache, count *int32, cfg []ecapi.ConfigureShard) (map[int]int, map[int][]string, error) {
	groups := shardGroups(c)
	want, azs := map[int]int{}, map[int][]string{}
	switch {
	case count == nil && len(cfg) == 0:
		return nil, nil, combination("Either NewReplicaCount or ReplicaConfiguration must be specified.")
	case count != nil && len(cfg) > 0:
		return nil, nil, combination("NewReplicaCount and ReplicaConfiguration cannot be used together.")
	case count != nil:
		for g := range groups {
			want[g] = int(*count)
		}
	}
	for _, cs := range cfg {
		g := slices.Index(groups, deref(cs.NodeGroupId))
		if g < 0 {
			return nil, nil, rgInvalid("Node group %s is not a node group of replication group %s.", deref(cs.NodeGroupId), c.ID)
		}
		if _, dup := want[g]; dup {
			return nil, nil, rgInvalid("Node group %s is configured more than once.", groups[g])
		}
		if len(cs.PreferredOutpostArns) > 0 {
			return nil, nil, rgInvalid("keyward does not support Outposts: PreferredOutpostArns cannot be given.")
		}
		want[g] = int(deref(cs.NewReplicaCount))
		if len(cs.PreferredAvailabilityZones) > 0 {
			if len(cs.PreferredAvailabilityZones) != want[g]+1 {
				return nil, nil, combination("Node group %s: PreferredAvailabilityZones must name NewReplicaCount plus 1 (%d) availability zones, the primary's first.", groups[g], want[g]+1)
			}
			for _, az := range cs.PreferredAvailabilityZones {
				if err := keyward.ValidateAZ(c.Scope.Region, az); err != nil {
					return nil, nil, err
				}
			}
			azs[g] = cs.PreferredAvailabilityZones
		}
	}
	for g, n := range want {
		if n < 0 || n > maxReplicas {
			return nil, nil, rgInvalid("The number of replicas per node group must be between 0 and %d; %d was requested for node group %s.", maxReplicas, n, groups[g])
		}
	}
	return want, azs, nil
}

// IncreaseReplicaCount adds replicas to every (or the named) node groups;
// the group is available again once the new replicas hold the data.
func (s *Service) IncreaseReplicaCount(ctx context.Context, in *ecapi.IncreaseReplicaCountMessage) (*ecapi.IncreaseReplicaCountResult, error) {
	if !deref(in.ApplyImmediately) {
		return nil, apiError(rgInvalid("ApplyImmediately=False is not currently supported."))
	}
	c, err := s.scaleGroup(ctx, deref(in.ReplicationGroupId), func(tx keyward.Tx, c *keyward.Cache) error {
		want, azs, err := replicaTargets(c, in.NewReplicaCount, in.ReplicaConfiguration)
		if err != nil {
			return err
		}
		groups := shardGroups(c)
		added := 0
		for g, n := range want {
			have := len(replicasOf(c, g))
			if n < have {
				return rgInvalid("Node group %s has %d replicas: NewReplicaCount %d would decrease it; use DecreaseReplicaCount.", groups[g], have, n)
			}
			added += n - have
		}
		if added == 0 {
			return &ecapi.NoOperationFault{Message: "The requested number of replicas is the current number of replicas: no operation."}
		}
		if err := s.checkNodeGrowth(ctx, tx, c, added); err != nil {
			return err
		}
		alignAZs(c)
		used := usedClusterIDs(c)
		for g := range groups {
			n, ok := want[g]
			if !ok {
				continue
			}
			if z := azs[g]; z != nil {
				// The zones name the primary first, then every replica.
				k := 1
				for i, m := range c.Nodes {
					if !c.ClusterMode || m.Shard == g {
						if m.Role == "primary" {
							c.Settings.PreferredAZs[i] = z[0]
						} else if k < len(z) {
							c.Settings.PreferredAZs[i] = z[k]
							k++
						}
					}
				}
			}
			for k := len(replicasOf(c, g)); k < n; k++ {
				sh := ""
				if c.ClusterMode {
					sh = groups[g]
				}
				az := nodeAZ(&keyward.Cache{Scope: c.Scope}, len(c.Nodes))
				if z := azs[g]; z != nil {
					az = z[k+1]
				}
				insertNode(c, keyward.CacheNode{ClusterID: nextMemberID(c, used, sh), Role: "replica", Shard: g}, az)
			}
		}
		return nil
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.IncreaseReplicaCountResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

// DecreaseReplicaCount removes replicas: the named ones (ReplicasToRemove)
// or the newest ones down to the count asked. A group with automatic
// failover or Multi-AZ keeps at least one replica (cluster mode disabled).
func (s *Service) DecreaseReplicaCount(ctx context.Context, in *ecapi.DecreaseReplicaCountMessage) (*ecapi.DecreaseReplicaCountResult, error) {
	if !deref(in.ApplyImmediately) {
		return nil, apiError(rgInvalid("ApplyImmediately=False is not currently supported."))
	}
	c, err := s.scaleGroup(ctx, deref(in.ReplicationGroupId), func(tx keyward.Tx, c *keyward.Cache) error {
		groups := shardGroups(c)
		remove := map[string]bool{}
		if len(in.ReplicasToRemove) > 0 {
			if in.NewReplicaCount != nil || len(in.ReplicaConfiguration) > 0 {
				return combination("ReplicasToRemove cannot be used with NewReplicaCount or ReplicaConfiguration.")
			}
			for _, id := range in.ReplicasToRemove {
				id = strings.ToLower(id)
				i := slices.IndexFunc(c.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == id })
				switch {
				case i < 0:
					return rgInvalid("Cache cluster %s is not a member of replication group %s.", id, c.ID)
				case c.Nodes[i].Role == "primary":
					return rgInvalid("Cache cluster %s is the primary of its node group and cannot be removed.", id)
				}
				remove[id] = true
			}
		} else {
			want, _, err := replicaTargets(c, in.NewReplicaCount, in.ReplicaConfiguration)
			if err != nil {
				return err
			}
			for g, n := range want {
				reps := replicasOf(c, g)
				if n > len(reps) {
					return rgInvalid("Node group %s has %d replicas: NewReplicaCount %d would increase it; use IncreaseReplicaCount.", groups[g], len(reps), n)
				}
				for _, i := range reps[n:] { // the newest go
					remove[c.Nodes[i].ClusterID] = true
				}
			}
		}
		if len(remove) == 0 {
			return &ecapi.NoOperationFault{Message: "The requested number of replicas is the current number of replicas: no operation."}
		}
		least := 0
		if !c.ClusterMode && (c.Settings.AutomaticFailover || c.Settings.MultiAZ) {
			least = 1
		}
		for g := range groups {
			left := 0
			for _, i := range replicasOf(c, g) {
				if !remove[c.Nodes[i].ClusterID] {
					left++
				}
			}
			if left < least {
				return rgInvalid("Replication group %s has automatic failover (Multi-AZ) enabled: it needs at least %d replica.", c.ID, least)
			}
		}
		alignAZs(c)
		for i := len(c.Nodes) - 1; i >= 0; i-- {
			if remove[c.Nodes[i].ClusterID] {
				removeNode(c, i)
			}
		}
		return nil
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.DecreaseReplicaCountResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

// TestFailover promotes a replica of the node group for real (the
// reconciler runs CLUSTER FAILOVER, or hands a cluster-mode-disabled
// group's primary over with REPLICAOF) and records ElastiCache's events.
func (s *Service) TestFailover(ctx context.Context, in *ecapi.TestFailoverMessage) (*ecapi.TestFailoverResult, error) {
	ng := deref(in.NodeGroupId)
	c, err := s.scaleGroup(ctx, deref(in.ReplicationGroupId), func(tx keyward.Tx, c *keyward.Cache) error {
		g := slices.Index(shardGroups(c), ng)
		if g < 0 {
			return &ecapi.NodeGroupNotFoundFault{Message: fmt.Sprintf("The node group %s was not found in replication group %s.", ng, c.ID)}
		}
		if !c.Settings.AutomaticFailover && !c.ClusterMode {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s must have automatic failover enabled to test failover.", c.ID)
		}
		if len(replicasOf(c, g)) == 0 {
			return &ecapi.TestFailoverNotAvailableFault{Message: fmt.Sprintf("Node group %s of replication group %s has no replica to fail over to.", ng, c.ID)}
		}
		// ElastiCache's limit: 15 node groups per account (and region) in
		// a rolling 24 hours.
		cutoff := s.now().Add(-24 * time.Hour)
		all, err := tx.FindAllCaches(ctx)
		if err != nil {
			return err
		}
		calls := 0
		for _, o := range all {
			if o.Scope == c.Scope {
				for _, t := range o.Failovers {
					if t.After(cutoff) {
						calls++
					}
				}
			}
		}
		if calls >= maxTestFailovers {
			return &ecapi.APICallRateForCustomerExceededFault{Message: "The customer has exceeded the allowed rate of API calls."}
		}
		c.Failovers = slices.DeleteFunc(c.Failovers, func(t time.Time) bool { return !t.After(cutoff) })
		c.Failovers = append(c.Failovers, s.now())
		c.TestFailover = ng
		for i, n := range c.Nodes {
			if n.Role == "primary" && (!c.ClusterMode || n.Shard == g) {
				c.TestFailoverFrom = c.Nodes[i].ClusterID
				break
			}
		}
		return tx.RecordEvent(ctx, &keyward.Event{Scope: c.Scope, SourceType: keyward.SourceReplicationGroup, SourceID: c.ID,
			Date: s.now(), Message: "Test Failover API called for node group " + ng})
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.TestFailoverResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

// startReshard gives c's shards their target slots and starts the
// resharding that moves them, counting the slots a shard gains.
func startReshard(c *keyward.Cache, current, target []string) {
	moves := 0
	for i := range c.Shards {
		was, _ := keyward.SlotList(current[i])
		now, _ := keyward.SlotList(target[i])
		for _, slot := range now {
			if _, found := slices.BinarySearch(was, slot); !found {
				moves++
			}
		}
		c.Shards[i].Slots = target[i]
	}
	c.Resharding = &keyward.Resharding{Total: moves}
}
