package reconcile

import (
	"keyward"
	"keyward/catalog"
)

// defaultMaxMemoryPolicy is maxmemory-policy in ElastiCache's default
// parameter groups.
const defaultMaxMemoryPolicy = "volatile-lru"

// nodeMemory returns the memory limit of every node of c: the maxmemory
// ElastiCache sets for the cache's node type and engine, with the default
// eviction policy, so that a tenant fills its cache and not the host. A
// cache without a known node type (serverless, or stored before types were
// checked) gets no limit.
func nodeMemory(c *keyward.Cache) (int64, string) {
	if n, ok := catalog.MaxMemory(string(c.Engine), c.CacheNodeType); ok {
		return n, defaultMaxMemoryPolicy
	}
	return 0, ""
}
