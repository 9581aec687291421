package keyward

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ClusterStatus is the CacheClusterStatus of a standalone cache cluster.
type ClusterStatus string

// Cache cluster statuses, as DescribeCacheClusters reports them.
const (
	ClusterCreating     ClusterStatus = "creating"
	ClusterAvailable    ClusterStatus = "available"
	ClusterModifying    ClusterStatus = "modifying"
	ClusterRebooting    ClusterStatus = "rebooting cache cluster nodes"
	ClusterSnapshotting ClusterStatus = "snapshotting" // a Redis cluster's snapshot is being taken
	ClusterDeleting     ClusterStatus = "deleting"
	ClusterCreateFailed ClusterStatus = "create-failed"
)

// EngineMemcached is the engine of Memcached clusters. It is not an Engine
// of users and groups: memcached has no ACLs.
const EngineMemcached Engine = "memcached"

// MaxMemcachedNodes is ElastiCache's default node quota per Memcached
// cluster.
const MaxMemcachedNodes = 40

// CacheCluster is a standalone ElastiCache cache cluster made with
// CreateCacheCluster: a Memcached cluster of 1 to 40 memcached nodes, or a
// single-node Redis/Valkey cluster. (The member clusters of replication
// groups are not CacheCluster documents: they are the groups' Nodes.)
type CacheCluster struct {
	Scope         Scope         `json:"scope"`
	ID            string        `json:"id"` // lower-cased
	Engine        Engine        `json:"engine"`
	EngineVersion string        `json:"engine_version"`
	CacheNodeType string        `json:"cache_node_type"`
	Status        ClusterStatus `json:"status"`
	StatusSince   time.Time     `json:"status_since"`
	Generation    int64         `json:"generation"`
	CreatedAt     time.Time     `json:"created_at"`

	// AZMode is single-az or cross-az (Memcached); the nodes' zones follow it.
	AZMode string `json:"az_mode"`
	// Nodes are the cache nodes, 0001 first, including nodes being added
	// (Port 0) and removed (Removing).
	Nodes []ClusterNode `json:"nodes"`

	// TransitEncryption makes a Redis node serve TLS only.
	TransitEncryption bool `json:"transit_encryption,omitempty"`
	// AuthTokenHashes are SHA-256 hashes of a Redis cluster's AUTH token.
	AuthTokenHashes []string `json:"auth_token_hashes,omitempty"`

	// Pending holds a node count change accepted without ApplyImmediately,
	// reported in PendingModifiedValues.
	PendingNumNodes int      `json:"pending_num_nodes,omitempty"`
	PendingRemove   []string `json:"pending_remove,omitempty"`
	PendingAZs      []string `json:"pending_azs,omitempty"`

	Settings CacheSettings `json:"settings"`

	// RestoreSnapshot names the snapshot a new Redis cluster is created
	// from (held while creating), RestoreFile the RDB its node starts with
	// (a snapshot file or an S3Source).
	RestoreSnapshot string `json:"restore_snapshot,omitempty"`
	RestoreFile     string `json:"restore_file,omitempty"`

	// Port is the client port asked for at creation (0: the default).
	Port int `json:"port,omitempty"`

	// FailureMessage says why creation failed (status create-failed).
	FailureMessage string `json:"failure_message,omitempty"`
	// AppliedACL is the ACL fingerprint last applied to a Redis node.
	AppliedACL string `json:"applied_acl,omitempty"`
	// Updates are the service updates applied or being applied
	// (BatchApplyUpdateAction with CacheClusterIds).
	Updates []CacheUpdate `json:"updates,omitempty"`

	// ConfigVersion is a Memcached cluster's Auto Discovery configuration
	// version and ConfigNodes the node ids it lists (the running nodes not
	// being removed, in order): the version grows by one each time the
	// list changes, as ElastiCache's does.
	ConfigVersion int64    `json:"config_version,omitempty"`
	ConfigNodes   []string `json:"config_nodes,omitempty"`
	// ConfigAddress and ConfigPort are a Memcached cluster's configuration
	// endpoint: an address of its own, kept for the cluster's life.
	ConfigAddress string `json:"config_address,omitempty"`
	ConfigPort    int    `json:"config_port,omitempty"`
}

// ClusterNode is one cache node of a cluster.
type ClusterNode struct {
	ID        string    `json:"id"` // 0001, 0002, ...
	AZ        string    `json:"az"`
	CreatedAt time.Time `json:"created_at"`
	// Port is assigned when the node first ran; 0 while it is created.
	Port int `json:"port,omitempty"`
	// Address is the node's own loopback address, assigned with Port; ""
	// for 127.0.0.1 (memcached nodes, nodes of an earlier keyward).
	Address string `json:"address,omitempty"`
	// Removing marks a node that CacheNodeIdsToRemove is taking away.
	Removing bool `json:"removing,omitempty"`
	// Reboot marks a node that RebootCacheCluster asked to restart.
	Reboot bool `json:"reboot,omitempty"`
	// BootParams fingerprints the requires-reboot parameters a Redis
	// node's process last started with (see catalog.BootFingerprint):
	// when it differs from the parameter group's, it is pending-reboot.
	BootParams string `json:"boot_params,omitempty"`
	// Adding marks a node that a ModifyCacheCluster in progress adds: it
	// is not counted in NumCacheNodes until the change completes.
	Adding bool `json:"adding,omitempty"`
}

// Clusters is the declaration of the cache cluster kind.
var Clusters = &Kind[CacheCluster]{
	Name:    ResourceCacheCluster,
	Key:     func(c *CacheCluster) (Scope, string) { return c.Scope, c.ID },
	TagType: ARNCluster,
	Settled: func(c *CacheCluster) bool {
		return c.Status == ClusterAvailable || c.Status == ClusterCreateFailed
	},
	Clone: (*CacheCluster).Clone,
	// A cluster being restored holds its snapshot, and a cluster its
	// user's parameter and subnet groups (so they cannot be deleted while
	// in use), as a replication group does.
	Refs: func(c *CacheCluster) []Ref {
		refs := (&Cache{Settings: c.Settings}).groupRefs()
		if c.Status == ClusterCreating && c.RestoreSnapshot != "" {
			refs = append(refs, Ref{Relation: relRestoresFrom, Kind: string(ResourceSnapshot), ID: c.RestoreSnapshot, Restrict: true})
		}
		return refs
	},
}

// Clone returns a deep copy.
func (c *CacheCluster) Clone() *CacheCluster {
	d := *c
	d.Nodes = slices.Clone(c.Nodes)
	d.AuthTokenHashes = slices.Clone(c.AuthTokenHashes)
	d.PendingRemove = slices.Clone(c.PendingRemove)
	d.PendingAZs = slices.Clone(c.PendingAZs)
	d.ConfigNodes = slices.Clone(c.ConfigNodes)
	d.Settings = c.Settings.Clone()
	d.Updates = cloneUpdates(c.Updates)
	return &d
}

// ClientPort returns the port the nodes serve clients on: Port, or the
// engine's default (Memcached 11211, Redis 6379).
func (c *CacheCluster) ClientPort() int {
	switch {
	case c.Port != 0:
		return c.Port
	case c.IsMemcached():
		return 11211
	}
	return 6379
}

// IsMemcached reports whether the cluster runs memcached.
func (c *CacheCluster) IsMemcached() bool { return c.Engine == EngineMemcached }

// NodeID returns the engine-level identity of one of the cluster's nodes:
// unique across scopes and safe as a directory name.
func (c *CacheCluster) NodeID(nodeID string) string {
	if !c.IsMemcached() {
		// A Redis cluster has one node, named like a replication group's.
		return fmt.Sprintf("%s.%s.%s", c.Scope.Account, c.Scope.Region, c.ID)
	}
	return fmt.Sprintf("%s.%s.%s.%s", c.Scope.Account, c.Scope.Region, c.ID, nodeID)
}

// MemcachedClusterID is the engine-level identity of a Memcached cluster
// (its discovery data and configuration endpoint): unique across scopes and
// safe as a directory name.
func (c *CacheCluster) MemcachedClusterID() string {
	return fmt.Sprintf("%s.%s.%s", c.Scope.Account, c.Scope.Region, c.ID)
}

// LiveNodes returns the nodes that are not being removed.
func (c *CacheCluster) LiveNodes() []ClusterNode {
	return slices.DeleteFunc(slices.Clone(c.Nodes), func(n ClusterNode) bool { return n.Removing })
}

// NextNodeIDs returns n new node ids, after the highest one the cluster
// has ever had (removed ids are not reused while their node is going).
func (c *CacheCluster) NextNodeIDs(n int) []string {
	high := 0
	for _, nd := range c.Nodes {
		var v int
		fmt.Sscanf(nd.ID, "%d", &v)
		high = max(high, v)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%04d", high+i+1)
	}
	return ids
}

// NormalizeClusterID lower-cases id after checking ElastiCache's rules for
// cache cluster ids: 1 to 50 letters, digits or hyphens, a letter first, no
// two consecutive hyphens and no trailing hyphen.
func NormalizeClusterID(id string) (string, error) {
	if !isResourceID(id) || len(id) > 50 || strings.HasSuffix(id, "-") || strings.Contains(id, "--") {
		return "", Errorf(EINVALID, ResourceCacheCluster, "Invalid cache cluster id %s: it must be 1 to 50 letters, digits or hyphens, begin with a letter, and contain no two consecutive hyphens or a trailing hyphen.", Quote(id))
	}
	return strings.ToLower(id), nil
}

var nodeTypePattern = regexp.MustCompile(`^cache\.([a-z][a-z0-9]*)\.([0-9]*[a-z]+)$`)

// nodeMemoryGiB is the memory of the node sizes of the general-purpose
// and burstable families (ElastiCache's node type table); memory-optimized
// (r*) families have twice as much per size from large up.
var nodeMemoryGiB = map[string]float64{
	"micro": 0.5, "small": 1.37, "medium": 3.09, "large": 6.38, "xlarge": 12.93, "2xlarge": 26.04,
	"4xlarge": 52.26, "8xlarge": 103.68, "12xlarge": 157.12, "16xlarge": 209.55, "24xlarge": 314.32,
}

// MemcachedMemoryMB returns the item memory of a Memcached node of the
// type, in MB (memcached -m): the node type's memory. ENOTFOUND-free: an
// unknown type is EINVALID.
func MemcachedMemoryMB(nodeType string) (int, error) {
	m := nodeTypePattern.FindStringSubmatch(nodeType)
	if m == nil {
		return 0, Errorf(EINVALID, ResourceCacheCluster, "Invalid CacheNodeType %s.", Quote(nodeType))
	}
	gib, ok := nodeMemoryGiB[m[2]]
	if !ok {
		return 0, Errorf(EINVALID, ResourceCacheCluster, "Invalid CacheNodeType %s.", Quote(nodeType))
	}
	if strings.HasPrefix(m[1], "r") && gib >= 6 {
		gib *= 2.05
	}
	return int(math.Floor(gib * 1024)), nil
}
