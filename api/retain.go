package api

import (
	"context"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// retainPrimary serves DeleteReplicationGroup with RetainPrimaryCluster:
// the replicas are deleted with the group, and the primary stays, with its
// data and its node, as a standalone cache cluster of the same id. Both
// happen in one transaction: the primary leaves the group's nodes (so the
// group's deletion does not stop it) as the cluster that owns it now is
// stored.
func (s *Service) retainPrimary(ctx context.Context, in *ecapi.DeleteReplicationGroupMessage) (*ecapi.DeleteReplicationGroupResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if in.FinalSnapshotIdentifier != nil {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "keyward does not take a final snapshot of a group whose primary is retained: snapshot it first, then delete it with RetainPrimaryCluster.")
	}
	id := strings.ToLower(deref(in.ReplicationGroupId))
	var c *keyward.Cache
	var cl *keyward.CacheCluster
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return notFound(keyward.KindReplicationGroup, id)
		} else if err != nil {
			return err
		}
		switch {
		case cur.ClusterMode:
			return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "RetainPrimaryCluster is not supported for replication groups with cluster mode enabled.")
		case len(cur.UserGroupIDs) > 0:
			return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "RetainPrimaryCluster cannot be used with a user group attached: a standalone cache cluster has no user group (modify the group to remove it first).")
		case cur.Status != keyward.CacheAvailable:
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Cache %s is in %s state; it can be deleted only when available.", id, cur.Status)
		case len(cur.Nodes) == 0 || cur.Nodes[0].Port == 0:
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s has no running primary to retain.", id)
		}
		pi := 0
		for i, n := range cur.Nodes {
			if n.Role == "primary" {
				pi = i
				break
			}
		}
		now := s.now()
		p := cur.Nodes[pi]
		cl = &keyward.CacheCluster{
			Scope: sc, ID: p.ClusterID, Engine: cur.Engine, EngineVersion: cur.EngineVersion, CacheNodeType: cur.CacheNodeType,
			Status: keyward.ClusterAvailable, StatusSince: now, Generation: 1, CreatedAt: cur.CreatedAt, AZMode: "single-az",
			// The node keeps its address: reported at once, not after the
			// reconciler's next pass.
			Nodes:             []keyward.ClusterNode{{ID: "0001", AZ: nodeAZ(cur, pi), CreatedAt: cur.CreatedAt, Port: p.Port, Address: p.Address, BootParams: p.BootParams}},
			TransitEncryption: cur.TransitEncryption, AuthTokenHashes: cur.AuthTokenHashes, Settings: cur.Settings.Clone(),
		}
		cl.Settings.PreferredAZs = []string{nodeAZ(cur, pi)}
		c = cur.Clone()
		c.Nodes, c.NumNodes = slices.Delete(c.Nodes, pi, pi+1), c.NumNodes-1
		c.Status, c.StatusSince, c.Generation = keyward.CacheDeleting, now, c.Generation+1
		if err := tx.UpdateCache(ctx, c); err != nil {
			return err
		}
		return keyward.Clusters.Create(ctx, tx, cl)
	})
	if err != nil {
		return nil, err
	}
	s.notify(cacheKey(c), clusterKey(cl))
	return &ecapi.DeleteReplicationGroupResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
}
