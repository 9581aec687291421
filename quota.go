package keyward

// Quotas are the limits per account and region (per scope), unless a
// field says otherwise. Defaults are ElastiCache's documented default
// quotas: the RBAC page for users and groups, the service-quotas table
// ("Amazon ElastiCache endpoints and quotas") for nodes and serverless
// caches.
type Quotas struct {
	Users         int
	UserGroups    int
	UsersPerGroup int
	// ReservedCacheNodes limits the reserved nodes of a scope (0: the api
	// package's default).
	ReservedCacheNodes int

	// Nodes is "Nodes per Region": the nodes of every replication group of
	// the scope (NodeQuotaForCustomerExceeded).
	Nodes int
	// ReplicationGroups bounds the replication groups of the scope
	// (ClusterQuotaForCustomerExceeded). ElastiCache documents no separate
	// figure: every group has a node, so its default is the node quota.
	ReplicationGroups int
	// NodeGroupsPerReplicationGroup is "Nodes per cluster (cluster mode
	// enabled)", the shard limit (NodeGroupsPerReplicationGroupQuotaExceeded).
	NodeGroupsPerReplicationGroup int
	// ServerlessCaches is "Serverless caches per Region"
	// (ServerlessCacheQuotaForCustomerExceededFault).
	ServerlessCaches int
	// AccountNodes bounds the node processes of one account across every
	// region (replication group nodes and the node of each serverless
	// cache), answered NodeQuotaForCustomerExceeded. AWS has no such quota:
	// its per-region quotas multiply with its regions, but keyward runs
	// every region on one host, so 0 (no limit) is not its default.
	AccountNodes int
}

// DefaultQuotas returns ElastiCache's documented default quotas, and for
// AccountNodes the per-region node quota.
func DefaultQuotas() Quotas {
	return Quotas{
		Users: 1000, UserGroups: 100, UsersPerGroup: 100,
		Nodes: 300, ReplicationGroups: 300, NodeGroupsPerReplicationGroup: 90, ServerlessCaches: 40,
		AccountNodes: 300,
	}
}

// Error kinds of the cache quotas besides EQUOTA, which with
// ResourceReplicationGroup means ClusterQuotaForCustomerExceeded and with
// ResourceServerlessCache ServerlessCacheQuotaForCustomerExceeded.
const (
	ENODEQUOTA      = "node_quota"       // NodeQuotaForCustomerExceeded
	ENODEGROUPQUOTA = "node_group_quota" // NodeGroupsPerReplicationGroupQuotaExceeded
)

// Within reports whether n resources stay within quota q; a negative q
// means no limit.
func Within(n, q int) bool { return q < 0 || n <= q }
