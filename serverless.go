package keyward

// Serverless caches as cluster-aware clients see them (docs/serverless.md):
// ElastiCache Serverless answers CLUSTER SLOTS and CLUSTER SHARDS with one
// virtual shard holding every slot, at the cache's endpoint. keyward runs
// the cache's node as a Redis Cluster node of that one shard (ClusterMode
// with ServerlessShard).

// ServerlessShard is a serverless cache's one shard: every slot.
func ServerlessShard() Shard { return Shard{ID: "0001", Slots: "0-16383"} }
