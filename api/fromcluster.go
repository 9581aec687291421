package api

import (
	"context"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// A replication group created with PrimaryClusterId takes an available
// single-node Redis cluster as its primary, in place: the cluster's node,
// with its data, address and port, becomes the group's only member under
// the same id, and replicas are added afterwards (CreateCacheCluster with
// ReplicationGroupId, IncreaseReplicaCount), as ElastiCache's "Creating a
// replication group using an existing cluster" does. It is the converse of
// DeleteReplicationGroup with RetainPrimaryCluster (retain.go): the node's
// engine identity is the same for a standalone cluster and a group member
// (CacheCluster.NodeID, Cache.NodeID), so the node keeps running.

// fromCluster checks a CreateReplicationGroup naming PrimaryClusterId and
// returns the cluster and the input completed with its settings: what the
// request leaves out is the cluster's, and what must be the cluster's
// (engine, version, node type, port, encryption in transit) may not differ.
func (s *Service) fromCluster(ctx context.Context, sc keyward.Scope, in *ecapi.CreateReplicationGroupMessage) (*keyward.CacheCluster, *ecapi.CreateReplicationGroupMessage, error) {
	switch {
	case in.NumCacheClusters != nil && *in.NumCacheClusters != 1, in.ReplicasPerNodeGroup != nil && *in.ReplicasPerNodeGroup != 0:
		return nil, nil, combination("PrimaryClusterId creates a replication group of its one primary: add replicas afterwards (CreateCacheCluster with ReplicationGroupId, or IncreaseReplicaCount).")
	case deref(in.NumNodeGroups) > 1 || len(in.NodeGroupConfiguration) > 0 || strings.EqualFold(deref(in.ClusterMode), "enabled") ||
		strings.HasSuffix(deref(in.CacheParameterGroupName), ".cluster.on"):
		return nil, nil, combination("A replication group with cluster mode enabled cannot be created from an existing cluster.")
	case in.SnapshotName != nil || len(in.SnapshotArns) > 0:
		return nil, nil, combination("PrimaryClusterId cannot be given with SnapshotName or SnapshotArns: the primary keeps its own data.")
	case in.GlobalReplicationGroupId != nil:
		return nil, nil, combination("PrimaryClusterId cannot be given with GlobalReplicationGroupId.")
	case in.AuthToken != nil:
		return nil, nil, combination("PrimaryClusterId cannot be given with AuthToken: the group keeps the cluster's.")
	}
	id := strings.ToLower(*in.PrimaryClusterId)
	var cl *keyward.CacheCluster
	err := s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		cl, err = usablePrimary(ctx, tx, sc, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	differs := func(name, given, want string, fold bool) error {
		if given != want && !(fold && strings.EqualFold(given, want)) {
			return combination("%s %s differs from cache cluster %s's %s: a group created from a cluster takes the cluster's.", name, keyward.Quote(given), id, want)
		}
		return nil
	}
	in2 := *in
	for _, err := range []error{
		differs("Engine", orDefault(deref(in.Engine), string(cl.Engine)), string(cl.Engine), true),
		differs("EngineVersion", orDefault(deref(in.EngineVersion), cl.EngineVersion), cl.EngineVersion, false),
		differs("CacheNodeType", orDefault(deref(in.CacheNodeType), cl.CacheNodeType), cl.CacheNodeType, false),
	} {
		if err != nil {
			return nil, nil, err
		}
	}
	if in.Port != nil && int(*in.Port) != cl.ClientPort() {
		return nil, nil, combination("Port %d differs from cache cluster %s's %d: a group created from a cluster takes the cluster's.", *in.Port, id, cl.ClientPort())
	}
	if in.TransitEncryptionEnabled != nil && *in.TransitEncryptionEnabled != cl.TransitEncryption {
		return nil, nil, combination("TransitEncryptionEnabled %v differs from cache cluster %s's %v: a group created from a cluster takes the cluster's.", *in.TransitEncryptionEnabled, id, cl.TransitEncryption)
	}
	st := cl.Settings.Effective(cl.ID)
	in2.Engine, in2.EngineVersion, in2.CacheNodeType = ptr(string(cl.Engine)), ptr(cl.EngineVersion), ptr(cl.CacheNodeType)
	in2.Port, in2.TransitEncryptionEnabled, in2.NumCacheClusters, in2.ReplicasPerNodeGroup = ptr(int32(cl.ClientPort())), ptr(cl.TransitEncryption), ptr(int32(1)), nil
	orCluster := func(dst **string, v string) {
		if *dst == nil && v != "" {
			*dst = ptr(v)
		}
	}
	orCluster(&in2.CacheParameterGroupName, st.CacheParameterGroupName)
	orCluster(&in2.CacheSubnetGroupName, st.CacheSubnetGroupName)
	orCluster(&in2.PreferredMaintenanceWindow, st.PreferredMaintenanceWindow)
	orCluster(&in2.SnapshotWindow, st.SnapshotWindow)
	orCluster(&in2.NotificationTopicArn, st.NotificationTopicARN)
	if in2.SecurityGroupIds == nil && len(st.SecurityGroupIDs) > 0 {
		in2.SecurityGroupIds = append([]string(nil), st.SecurityGroupIDs...)
	}
	if in2.SnapshotRetentionLimit == nil && st.SnapshotRetentionLimit > 0 {
		in2.SnapshotRetentionLimit = ptr(int32(st.SnapshotRetentionLimit))
	}
	if in2.AtRestEncryptionEnabled == nil {
		in2.AtRestEncryptionEnabled = ptr(st.AtRestEncryption)
	}
	if in2.AutoMinorVersionUpgrade == nil {
		in2.AutoMinorVersionUpgrade = ptr(!st.NoAutoMinorVersionUpgrade)
	}
	if len(in2.PreferredCacheClusterAZs) == 0 && len(cl.Nodes) == 1 && cl.Nodes[0].AZ != "" {
		in2.PreferredCacheClusterAZs = []string{cl.Nodes[0].AZ}
	}
	return cl, &in2, nil
}

// usablePrimary loads the cluster id for PrimaryClusterId: a standalone
// Redis cluster, available, whose one node runs.
func usablePrimary(ctx context.Context, tx keyward.Tx, sc keyward.Scope, id string) (*keyward.CacheCluster, error) {
	cl, err := getCluster(ctx, tx, sc, id)
	if err != nil {
		return nil, err
	}
	switch {
	case cl.IsMemcached():
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Cache cluster %s runs memcached: only a Redis OSS or Valkey cluster can be the primary of a replication group.", id)
	case cl.Status != keyward.ClusterAvailable:
		return nil, notAvailable(cl)
	case len(cl.Nodes) != 1 || cl.Nodes[0].Port == 0:
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cache cluster %s has no running node to be the primary.", id)
	}
	return cl, nil
}

// adoptPrimary makes the cluster named by fromCluster the group's primary,
// in the transaction that creates the group: its node is c's first, and
// the standalone cluster is gone. The cluster is read again, so that a
// change since fromCluster read it (a modify, a reboot) refuses the create.
func adoptPrimary(ctx context.Context, tx keyward.Tx, c *keyward.Cache, read *keyward.CacheCluster) error {
	cl, err := usablePrimary(ctx, tx, c.Scope, read.ID)
	if err != nil {
		return err
	}
	if cl.Generation != read.Generation {
		return keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cache cluster %s changed while the replication group was created: try again.", cl.ID)
	}
	n := cl.Nodes[0]
	c.Nodes[0] = keyward.CacheNode{ClusterID: cl.ID, Role: "primary", Port: n.Port, Address: n.Address, BootParams: n.BootParams}
	if len(cl.AuthTokenHashes) > 0 {
		c.AuthTokenHashes, c.AuthTokenLastModified = append([]string(nil), cl.AuthTokenHashes...), cl.CreatedAt
	}
	return keyward.Clusters.Delete(ctx, tx, cl.Scope, cl.ID)
}
