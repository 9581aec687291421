package api

import (
	"context"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// joinReplicationGroup serves CreateCacheCluster with ReplicationGroupId:
// the new cluster is one more replica of the (cluster-mode-disabled)
// group, replicating from its primary, with the group's settings.
func (s *Service) joinReplicationGroup(ctx context.Context, sc keyward.Scope, id string, in *ecapi.CreateCacheClusterMessage) (*ecapi.CreateCacheClusterResult, error) {
	rgID, err := keyward.NormalizeReplicationGroupID(deref(in.ReplicationGroupId))
	if err != nil {
		return nil, err
	}
	// The replica takes the group's configuration: anything else given
	// would be silently different, so it is refused.
	var bad []string
	for name, set := range map[string]bool{
		"AZMode": in.AZMode != nil, "PreferredAvailabilityZones": len(in.PreferredAvailabilityZones) > 0,
		"CacheParameterGroupName": in.CacheParameterGroupName != nil, "CacheSubnetGroupName": in.CacheSubnetGroupName != nil,
		"CacheSecurityGroupNames": len(in.CacheSecurityGroupNames) > 0, "SecurityGroupIds": len(in.SecurityGroupIds) > 0,
		"SnapshotArns": len(in.SnapshotArns) > 0, "SnapshotName": in.SnapshotName != nil,
		"PreferredMaintenanceWindow": in.PreferredMaintenanceWindow != nil, "Port": in.Port != nil,
		"NotificationTopicArn": in.NotificationTopicArn != nil, "SnapshotRetentionLimit": in.SnapshotRetentionLimit != nil,
		"SnapshotWindow": in.SnapshotWindow != nil, "AuthToken": in.AuthToken != nil,
		"OutpostMode": in.OutpostMode != nil, "PreferredOutpostArn": in.PreferredOutpostArn != nil || len(in.PreferredOutpostArns) > 0,
		"LogDeliveryConfigurations": len(in.LogDeliveryConfigurations) > 0, "TransitEncryptionEnabled": in.TransitEncryptionEnabled != nil,
		"NetworkType": in.NetworkType != nil, "IpDiscovery": in.IpDiscovery != nil, "AutoMinorVersionUpgrade": in.AutoMinorVersionUpgrade != nil,
	} {
		if set {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return nil, combination("A cache cluster that joins replication group %s takes the group's settings: %v cannot be given.", rgID, bad)
	}
	if in.NumCacheNodes != nil && *in.NumCacheNodes != 1 {
		return nil, invalidCluster("A cache cluster in a replication group has exactly 1 node.")
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	var c *keyward.Cache
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		if taken, err := clusterIDTaken(ctx, tx, sc, id); err != nil {
			return err
		} else if taken {
			return keyward.Errorf(keyward.EEXISTS, keyward.ResourceCacheCluster, "Cache cluster %s already exists.", id)
		}
		cur, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, rgID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return notFound(keyward.KindReplicationGroup, rgID)
		} else if err != nil {
			return err
		}
		if cur.Status != keyward.CacheAvailable {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is not in available state.", rgID)
		}
		if in.Engine != nil && !strings.EqualFold(*in.Engine, string(cur.Engine)) {
			return combination("The engine %s differs from replication group %s's engine %s.", keyward.Quote(*in.Engine), rgID, cur.Engine)
		}
		if in.EngineVersion != nil && *in.EngineVersion != cur.EngineVersion {
			return combination("The engine version %s differs from replication group %s's %s.", keyward.Quote(*in.EngineVersion), rgID, cur.EngineVersion)
		}
		if in.CacheNodeType != nil && *in.CacheNodeType != cur.CacheNodeType {
			return combination("The node type %s differs from replication group %s's %s.", keyward.Quote(*in.CacheNodeType), rgID, cur.CacheNodeType)
		}
		if cur.ClusterMode {
			return combination("Replication group %s has cluster mode enabled: its shards' replicas cannot be added with CreateCacheCluster.", rgID)
		}
		if len(cur.Nodes) >= 6 {
			return keyward.Errorf(keyward.EQUOTA, keyward.ResourceCacheCluster, "Replication group %s already has the maximum of 6 cache clusters (5 replicas).", rgID)
		}
		c = cur.Clone()
		az := ""
		if in.PreferredAvailabilityZone != nil {
			if err := keyward.ValidateAZ(sc.Region, *in.PreferredAvailabilityZone); err != nil {
				return err
			}
			az = *in.PreferredAvailabilityZone
		}
		if az != "" || len(c.Settings.PreferredAZs) > 0 {
			if len(c.Settings.PreferredAZs) != len(c.Nodes) {
				c.Settings.PreferredAZs = nil
				for i := range c.Nodes {
					c.Settings.PreferredAZs = append(c.Settings.PreferredAZs, nodeAZ(cur, i))
				}
			}
			if az == "" {
				az = nodeAZ(&keyward.Cache{Scope: sc}, len(c.Nodes))
			}
			c.Settings.PreferredAZs = append(c.Settings.PreferredAZs, az)
		}
		c.Nodes = append(c.Nodes, keyward.CacheNode{ClusterID: id, Role: "replica"})
		c.NumNodes = len(c.Nodes)
		c.Status, c.StatusSince, c.Generation = keyward.CacheModifying, s.now(), c.Generation+1
		if err := tx.UpdateCache(ctx, c); err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNCluster, ID: id}, tags)
	})
	if err != nil {
		return nil, err
	}
	s.notify(cacheKey(c))
	i := len(c.Nodes) - 1
	cc := memberCluster(c, i, c.Nodes[i])
	cc.CacheClusterStatus = ptr("creating")
	return &ecapi.CreateCacheClusterResult{CacheCluster: &cc}, nil
}

// leaveReplicationGroup serves DeleteCacheCluster on a member cluster: a
// replica leaves its group (its node is stopped by the reconciler's
// resync); the primary, or the only member, cannot be deleted this way.
func (s *Service) leaveReplicationGroup(ctx context.Context, tx keyward.Tx, rg *keyward.Cache, id string, in *ecapi.DeleteCacheClusterMessage) (*ecapi.CacheCluster, error) {
	if in.FinalSnapshotIdentifier != nil {
		return nil, invalidCluster("keyward does not support final snapshots yet.")
	}
	i := slices.IndexFunc(rg.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == id })
	switch {
	case rg.ClusterMode:
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cannot delete cache cluster %s: it is a node of cluster-mode replication group %s.", id, rg.ID)
	case rg.Status != keyward.CacheAvailable:
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cache cluster %s cannot be deleted while replication group %s is %s.", id, rg.ID, rg.Status)
	case len(rg.Nodes) == 1:
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cannot delete cache cluster %s: it is the only member of a replication group. Delete replication group %s instead.", id, rg.ID)
	case i == rg.PrimaryIndex():
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cannot delete cache cluster %s: it is serving as primary for replication group %s.", id, rg.ID)
	case rg.Settings.AutomaticFailover && len(rg.Nodes) <= 2:
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cannot delete cache cluster %s: replication group %s has automatic failover enabled and needs at least one replica.", id, rg.ID)
	}
	out := memberCluster(rg, i, rg.Nodes[i])
	out.CacheClusterStatus = ptr("deleting")
	c := rg.Clone()
	c.Nodes = slices.Delete(c.Nodes, i, i+1)
	if len(c.Settings.PreferredAZs) > i {
		c.Settings.PreferredAZs = slices.Delete(c.Settings.PreferredAZs, i, i+1)
	}
	c.NumNodes = len(c.Nodes)
	c.Status, c.StatusSince, c.Generation = keyward.CacheModifying, s.now(), c.Generation+1
	if err := tx.UpdateCache(ctx, c); err != nil {
		return nil, err
	}
	if err := tx.ReplaceTags(ctx, rg.Scope, keyward.ResourceRef{Type: keyward.ARNCluster, ID: id}, nil); err != nil {
		return nil, err
	}
	return &out, nil
}
