package keyward

// Serverless caches as cluster-aware clients see them (docs/serverless.md):
// ElastiCache Serverless answers CLUSTER SLOTS and CLUSTER SHARDS with one
// virtual shard holding every slot, at the cache's endpoint. keyward runs
// the cache's node as a Redis Cluster node of that one shard (ClusterMode
// with ServerlessShard).

// ServerlessShard is a serverless cache's one shard: every slot.
func ServerlessShard() Shard { return Shard{ID: "0001", Slots: "0-16383"} }

// ServerlessReaderPortServed reports whether c, a serverless cache, has a
// reader endpoint of its own on the port after its endpoint's (ElastiCache's
// 6380 beside 6379): only a cluster-mode one (an earlier release's node is
// converted first) whose node has an address of its own, where that port is
// the cache's to take.
func ServerlessReaderPortServed(c *Cache) bool {
	if c.Kind != KindServerless || !c.ClusterMode || len(c.Nodes) == 0 {
		return false
	}
	a := c.Nodes[0].Address
	return a != "" && a != "127.0.0.1"
}
