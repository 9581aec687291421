package reconcile

import (
	"keyward"
	"keyward/catalog"
)

// defaultMaxMemoryPolicy is maxmemory-policy in ElastiCache's default
// parameter groups.
const defaultMaxMemoryPolicy = "volatile-lru"

// nodeMemory returns the memory limit of every node of c: the maxmemory
// ElastiCache sets for the cache's node type and engine, or a serverless
// cache's DataStorage maximum, with the default eviction policy, so that a
// tenant fills its cache and not the host. A cache without either (a
// serverless cache without limits, or one stored before node types were
// checked) gets no limit.
func nodeMemory(c *keyward.Cache) (int64, string) {
	if u := c.Settings.UsageLimits; c.Kind == keyward.KindServerless && u != nil && u.DataStorageMax > 0 {
		return int64(u.DataStorageMax) << 30, defaultMaxMemoryPolicy // GB as GiB
	}
	if n, ok := catalog.MaxMemory(string(c.Engine), c.CacheNodeType); ok {
		return n, defaultMaxMemoryPolicy
	}
	return 0, ""
}
