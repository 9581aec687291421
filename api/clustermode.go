package api

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// Cluster mode enabled replication groups: NumNodeGroups shards of
// 1 + ReplicasPerNodeGroup nodes, one Redis Cluster (reconcile/clustermode.go).

var nodeGroupIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,4}$`)

// maxShards is ElastiCache's default node group quota per group.
const maxShards = 500

// rgParameterGroup is the default parameter group of a group:
// default.redis7, or default.redis7.cluster.on in cluster mode.
func rgParameterGroup(c *keyward.Cache) string {
	if c.ClusterMode {
		return defaultParameterGroup(c.Engine, c.EngineVersion) + ".cluster.on"
	}
	return defaultParameterGroup(c.Engine, c.EngineVersion)
}

func (s *Service) createClusterModeGroup(ctx context.Context, sc keyward.Scope, id string, engine keyward.Engine, in *ecapi.CreateReplicationGroupMessage) (*ecapi.CreateReplicationGroupResult, error) {
	rg := func(code, format string, args ...any) error {
		return keyward.Errorf(code, keyward.ResourceReplicationGroup, format, args...)
	}
	if in.NumCacheClusters != nil {
		return nil, rg(keyward.ECOMBINATION, "NumCacheClusters cannot be used with cluster mode enabled: use NumNodeGroups and ReplicasPerNodeGroup.")
	}
	if in.PrimaryClusterId != nil {
		return nil, rg(keyward.EINVALID, "keyward does not support creating a replication group from existing clusters.")
	}
	rs, err := s.restoreFrom(ctx, sc, keyward.ResourceReplicationGroup, in.SnapshotName, in.SnapshotArns, in.ServerlessCacheSnapshotName)
	if err != nil {
		return nil, err
	}
	in = restoreDefaults(in, rs) // the snapshot's shards, unless others are asked for
	if err := checkDurability(in.Durability); err != nil {
		return nil, err
	}
	if in.AutomaticFailoverEnabled != nil && !*in.AutomaticFailoverEnabled {
		return nil, rg(keyward.ECOMBINATION, "Automatic failover must be enabled for replication groups with cluster mode enabled.")
	}
	shards := len(in.NodeGroupConfiguration)
	if in.NumNodeGroups != nil {
		if shards > 0 && int(*in.NumNodeGroups) != shards {
			return nil, rg(keyward.ECOMBINATION, "NumNodeGroups (%d) differs from the number of NodeGroupConfiguration entries (%d).", *in.NumNodeGroups, shards)
		}
		shards = int(*in.NumNodeGroups)
	}
	if shards == 0 {
		shards = 1
	}
	if shards < 1 || shards > maxShards {
		return nil, rg(keyward.EINVALID, "NumNodeGroups must be between 1 and %d.", maxShards)
	}
	replicas := 0
	if in.ReplicasPerNodeGroup != nil {
		replicas = int(*in.ReplicasPerNodeGroup)
	}
	slots := keyward.DefaultSlots(shards)
	perShard := make([]int, shards)
	for i := range perShard {
		perShard[i] = replicas
		if i < len(in.NodeGroupConfiguration) {
			ng := in.NodeGroupConfiguration[i]
			if ng.ReplicaCount != nil {
				perShard[i] = int(*ng.ReplicaCount)
			}
			if ng.Slots != nil {
				slots[i] = *ng.Slots
			}
		}
		if perShard[i] < 0 || perShard[i] > 5 {
			return nil, rg(keyward.EINVALID, "A node group has 0 to 5 replicas.")
		}
	}
	if err := keyward.CheckSlots(slots); err != nil {
		return nil, err
	}
	tls := deref(in.TransitEncryptionEnabled)
	switch {
	case len(in.UserGroupIds) > 1:
		return nil, rg(keyward.EINVALID, "A replication group supports only one user group.")
	case len(in.UserGroupIds) > 0 && in.AuthToken != nil:
		return nil, rg(keyward.ECOMBINATION, "AuthToken and UserGroupIds cannot be used together.")
	case len(in.UserGroupIds) > 0 && !tls:
		return nil, rg(keyward.ECOMBINATION, errNeedsTLS)
	}
	now := s.now()
	c := &keyward.Cache{
		Kind: keyward.KindReplicationGroup, Scope: sc, ID: id, Description: deref(in.ReplicationGroupDescription),
		Engine: engine, EngineVersion: deref(in.EngineVersion), CacheNodeType: deref(in.CacheNodeType),
		Status: keyward.CacheCreating, StatusSince: now, Generation: 1, CreatedAt: now,
		TransitEncryption: tls, ClusterMode: true,
	}
	if err := applyRestore(c, rs, in.Engine != nil); err != nil {
		return nil, err
	}
	if c.EngineVersion == "" {
		c.EngineVersion = defaultEngineVersion(engine)
	}
	if c.CacheNodeType == "" {
		c.CacheNodeType = "cache.t4g.micro"
	}
	if err := checkNodeType(engine, c.CacheNodeType); err != nil {
		return nil, err
	}
	if err := checkEngineVersion(engine, c.EngineVersion); err != nil {
		return nil, err
	}
	if in.AuthToken != nil {
		if !tls {
			return nil, rg(keyward.ECOMBINATION, "AuthToken requires TransitEncryptionEnabled.")
		}
		if err := keyward.ValidateAuthToken(*in.AuthToken); err != nil {
			return nil, err
		}
		c.AuthTokenHashes, c.AuthTokenLastModified = []string{keyward.HashPassword(*in.AuthToken)}, now
	}
	var azs []string // one per node, from NodeGroupConfiguration
	anyAZ := false
	for sh := range shards {
		shardID := fmt.Sprintf("%04d", sh+1)
		var ng ecapi.NodeGroupConfiguration
		if sh < len(in.NodeGroupConfiguration) {
			ng = in.NodeGroupConfiguration[sh]
		}
		if ng.NodeGroupId != nil {
			if !nodeGroupIDPattern.MatchString(*ng.NodeGroupId) || slices.ContainsFunc(c.Shards, func(s keyward.Shard) bool { return s.ID == *ng.NodeGroupId }) {
				return nil, rg(keyward.EINVALID, "Invalid or repeated NodeGroupId %s: 1 to 4 letters or digits, unique in the group.", keyward.Quote(*ng.NodeGroupId))
			}
			shardID = *ng.NodeGroupId
		}
		if len(ng.ReplicaAvailabilityZones) > 0 && len(ng.ReplicaAvailabilityZones) != perShard[sh] {
			return nil, rg(keyward.ECOMBINATION, "Node group %s: ReplicaAvailabilityZones must name one zone per replica (%d).", shardID, perShard[sh])
		}
		for j := range perShard[sh] + 1 {
			az := ""
			switch {
			case j == 0 && ng.PrimaryAvailabilityZone != nil:
				az = *ng.PrimaryAvailabilityZone
			case j > 0 && len(ng.ReplicaAvailabilityZones) > 0:
				az = ng.ReplicaAvailabilityZones[j-1]
			}
			if az != "" {
				if err := keyward.ValidateAZ(sc.Region, az); err != nil {
					return nil, err
				}
				anyAZ = true
			} else {
				az = sc.Region + string(rune('a'+len(azs)%3))
			}
			azs = append(azs, az)
		}
		c.Shards = append(c.Shards, keyward.Shard{ID: shardID, Slots: slots[sh]})
		for j := range perShard[sh] + 1 {
			role := "replica"
			if j == 0 {
				role = "primary"
			}
			c.Nodes = append(c.Nodes, keyward.CacheNode{ClusterID: fmt.Sprintf("%s-%04d-%03d", id, sh+1, j+1), Role: role, Shard: sh})
		}
	}
	c.NumNodes = len(c.Nodes)
	// The node groups' zones become the nodes' PreferredCacheClusterAZs.
	single := *in
	single.NodeGroupConfiguration = nil
	if anyAZ {
		if len(in.PreferredCacheClusterAZs) > 0 {
			return nil, rg(keyward.ECOMBINATION, "PreferredCacheClusterAZs and the node groups' availability zones cannot be used together.")
		}
		single.PreferredCacheClusterAZs = azs
	}
	if c.Settings, err = rgCreateSettings(sc, id, c, &single); err != nil {
		return nil, err
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	var globalKey keyward.Key
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		globalKey = keyward.Key{}
		if _, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, id); err == nil {
			return rg(keyward.EEXISTS, "Replication group %s already exists.", id)
		} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
			return err
		}
		c.UserGroupIDs = nil
		for _, gid := range in.UserGroupIds {
			g, err := attachableGroup(ctx, tx, sc, gid, engine)
			if err != nil {
				return err
			}
			c.UserGroupIDs = append(c.UserGroupIDs, g.ID)
		}
		if err := checkCacheGroups(ctx, tx, sc, c); err != nil {
			return err
		}
		if err := stillRestorable(ctx, tx, c); err != nil {
			return err
		}
		if in.GlobalReplicationGroupId != nil {
			// A cluster-mode secondary (joinGlobal gave it the primary's
			// node groups).
			if globalKey, err = s.addSecondary(ctx, tx, c, *in.GlobalReplicationGroupId); err != nil {
				return err
			}
		}
		if err := tx.CreateCache(ctx, c); err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNReplicationGroup, ID: id}, tags)
	})
	if err != nil {
		return nil, err
	}
	s.notify(cacheKey(c))
	if globalKey.ID != "" {
		s.notify(globalKey)
	}
	return &ecapi.CreateReplicationGroupResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

// clusterModeNodeGroups are a cluster-mode group's NodeGroups as
// ElastiCache reports them: slots, and members without roles or read
// endpoints (clients find them through the configuration endpoint).
func clusterModeNodeGroups(c *keyward.Cache) []ecapi.NodeGroup {
	var out []ecapi.NodeGroup
	for sh, shard := range c.Shards {
		g := ecapi.NodeGroup{NodeGroupId: ptr(shard.ID), Status: ptr(nodeStatus(c)), Slots: ptr(shard.Slots), NodeGroupMembers: []ecapi.NodeGroupMember{}}
		for i, n := range c.Nodes {
			if n.Shard != sh {
				continue
			}
			g.NodeGroupMembers = append(g.NodeGroupMembers, ecapi.NodeGroupMember{
				CacheClusterId: ptr(n.ClusterID), CacheNodeId: ptr("0001"), PreferredAvailabilityZone: ptr(nodeAZ(c, i)),
			})
		}
		out = append(out, g)
	}
	return out
}

// clusterModeMove answers a ModifyReplicationGroup that moves a
// cluster-mode-disabled group c towards cluster mode (ClusterMode v).
// ElastiCache's rules come first, so a request ElastiCache would refuse
// is refused for the same reason: the move goes through compatible
// (disabled -> compatible -> enabled, never straight to enabled), and
// needs automatic failover with at least one replica. A request that
// passes them is refused too: keyward does not make the move real (it
// would restart every node cluster-enabled with its data, one shard
// owning all slots, and serve both kinds of clients while compatible;
// docs/settings.md).
func clusterModeMove(c *keyward.Cache, v string) error {
	switch strings.ToLower(v) {
	case ecapi.ClusterModeEnabled:
		return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"Cluster mode of replication group %s can change from disabled to enabled only through compatible: set ClusterMode to compatible first.", c.ID)
	case ecapi.ClusterModeCompatible:
	default:
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"Invalid value for ClusterMode: %s. Valid values are enabled, disabled and compatible.", v)
	}
	replicas := len(c.Nodes) - 1
	if !c.Settings.AutomaticFailover || replicas < 1 {
		return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"Replication group %s must have automatic failover enabled and at least one replica to change its cluster mode.", c.ID)
	}
	return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
		"keyward does not support the online move to cluster mode (ClusterMode %s): create a cluster-mode-enabled replication group and move the data there.", strings.ToLower(v))
}
