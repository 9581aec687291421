package api

import (
	"context"

	"keyward"
)

// The messages ElastiCache documents for its quota faults (API reference,
// Errors of CreateReplicationGroup and CreateServerlessCache).
const (
	msgNodeQuota       = "The request cannot be processed because it would exceed the allowed number of cache nodes per customer."
	msgClusterQuota    = "The request cannot be processed because it would exceed the allowed number of clusters per customer."
	msgNodeGroupQuota  = "The request cannot be processed because it would exceed the maximum allowed number of node groups (shards) in a single replication group. The default maximum is 90"
	msgServerlessQuota = "The number of serverless caches exceeds the customer quota."
)

// checkCacheQuotas refuses a new cache c when it would take its scope over
// the cache or node quotas, or its account over the node quota across
// regions. It runs inside the creating transaction, so that concurrent
// creations cannot pass it together.
func (s *Service) checkCacheQuotas(ctx context.Context, tx keyward.Tx, c *keyward.Cache) error {
	q := s.Quotas
	same, err := tx.FindCaches(ctx, c.Scope, c.Kind, keyward.CacheFilter{})
	if err != nil {
		return err
	}
	switch c.Kind {
	case keyward.KindServerless:
		if !keyward.Within(len(same)+1, q.ServerlessCaches) {
			return keyward.Errorf(keyward.EQUOTA, keyward.ResourceServerlessCache, msgServerlessQuota)
		}
	default:
		if !keyward.Within(len(same)+1, q.ReplicationGroups) {
			return keyward.Errorf(keyward.EQUOTA, keyward.ResourceReplicationGroup, msgClusterQuota)
		}
		nodes := c.NumNodes
		for _, o := range same {
			nodes += o.NumNodes
		}
		if !keyward.Within(nodes, q.Nodes) {
			return keyward.Errorf(keyward.ENODEQUOTA, keyward.ResourceReplicationGroup, msgNodeQuota)
		}
	}
	if q.AccountNodes < 0 {
		return nil
	}
	all, err := tx.FindAllCaches(ctx)
	if err != nil {
		return err
	}
	nodes := c.NumNodes
	for _, o := range all {
		if o.Scope.Account == c.Scope.Account {
			nodes += o.NumNodes
		}
	}
	if !keyward.Within(nodes, q.AccountNodes) {
		return keyward.Errorf(keyward.ENODEQUOTA, c.Kind.Resource(), msgNodeQuota)
	}
	return nil
}

// checkNodeGroups answers a request for more shards than a replication
// group may have with ElastiCache's quota fault, before keyward's own
// refusal of cluster mode.
func (s *Service) checkNodeGroups(numNodeGroups, configured int) error {
	n := max(numNodeGroups, configured)
	if !keyward.Within(n, s.Quotas.NodeGroupsPerReplicationGroup) {
		return keyward.Errorf(keyward.ENODEGROUPQUOTA, keyward.ResourceReplicationGroup, msgNodeGroupQuota)
	}
	return nil
}
