package keyward

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CacheStatus is the API-visible state of a replication group or a
// serverless cache.
type CacheStatus string

// Cache statuses, as DescribeReplicationGroups and DescribeServerlessCaches
// report them.
const (
	CacheCreating     CacheStatus = "creating"
	CacheAvailable    CacheStatus = "available"
	CacheModifying    CacheStatus = "modifying"
	CacheDeleting     CacheStatus = "deleting"
	CacheCreateFailed CacheStatus = "create-failed"
)

// CacheKind tells the two kinds of cache a user group can be attached to.
// Both are realised the same way, as engine processes with ACLs, so one
// type serves both; the values are the ARN resource types.
type CacheKind string

// Cache kinds.
const (
	KindReplicationGroup CacheKind = "replicationgroup"
	KindServerless       CacheKind = "serverlesscache"
)

// Resource returns the error resource of the kind.
func (k CacheKind) Resource() Resource {
	if k == KindServerless {
		return ResourceServerlessCache
	}
	return ResourceReplicationGroup
}

// Cache is a cluster-mode-disabled ElastiCache replication group (one
// primary and zero or more replicas) or a serverless cache (one node), each
// node a real engine process.
type Cache struct {
	Kind          CacheKind   `json:"kind"`
	Scope         Scope       `json:"scope"`
	ID            string      `json:"id"` // lower-cased
	Description   string      `json:"description"`
	Engine        Engine      `json:"engine"`
	EngineVersion string      `json:"engine_version"`
	CacheNodeType string      `json:"cache_node_type"`
	Status        CacheStatus `json:"status"`
	StatusSince   time.Time   `json:"status_since"`
	Generation    int64       `json:"generation"`
	CreatedAt     time.Time   `json:"created_at"`

	// NumNodes is the number of nodes: one primary plus replicas.
	NumNodes int `json:"num_nodes"`
	// TransitEncryption makes the nodes serve TLS only.
	TransitEncryption bool `json:"transit_encryption"`

	// AuthTokenHashes are SHA-256 hashes of the AUTH tokens accepted for the
	// default user (two during a ROTATE); empty means no token.
	AuthTokenHashes []string `json:"auth_token_hashes,omitempty"`
	// AuthTokenOptional keeps unauthenticated access open during a ROTATE
	// that introduces the first token, until a SET makes it required.
	AuthTokenOptional     bool      `json:"auth_token_optional"`
	AuthTokenLastModified time.Time `json:"auth_token_last_modified"`

	// UserGroupIDs lists the attached user group (at most one). Stores
	// keep it in the attachment relation from which UserGroup.ReplicationGroups
	// and UserGroup.ServerlessCaches are derived.
	UserGroupIDs []string `json:"-"`
	// PendingUserGroupsAdd/Remove hold an accepted change of the attached
	// group that the reconciler has not applied yet.
	PendingUserGroupsAdd    []string `json:"pending_user_groups_add,omitempty"`
	PendingUserGroupsRemove []string `json:"pending_user_groups_remove,omitempty"`

	// RestoreSnapshot names the snapshot a new group is created from, and
	// RestoreFile its RDB; the group holds the snapshot while creating.
	RestoreSnapshot string `json:"restore_snapshot,omitempty"`
	RestoreFile     string `json:"restore_file,omitempty"`
	// RestoreFiles are loaded key by key once the nodes run (into the
	// shards owning the keys' slots, in cluster mode): a cluster-mode
	// restore, whose node groups need not match the snapshot's. Each is a
	// snapshot file name or an S3Source. Cleared once loaded.
	RestoreFiles []string `json:"restore_files,omitempty"`
	// FinalSnapshot names the final snapshot being taken of a cache whose
	// deletion was asked for: it is shown deleting meanwhile (ShownStatus).
	FinalSnapshot string `json:"final_snapshot,omitempty"`
	// RestoreServerless: RestoreSnapshot is a serverless cache snapshot.
	RestoreServerless bool `json:"restore_serverless,omitempty"`

	// Settings are the rest of the configuration, stored and reported.
	Settings CacheSettings `json:"settings"`

	// Nodes are the member cache clusters, the first created as primary
	// (in cluster mode: shard by shard, each shard's primary first). After
	// an automatic failover another node has Role "primary" (PrimaryIndex).
	Nodes []CacheNode `json:"nodes"`

	// Port is the client port asked for at creation (0: the engine's
	// default, 6379); every node listens on it, each on its own address.
	Port int `json:"port,omitempty"`
	// PrimaryAddress and ReaderAddress are the group's endpoint addresses
	// (cluster mode disabled), reserved once and served by whichever node
	// has the role; "" where nodes have no addresses of their own, or
	// before the first pass.
	PrimaryAddress string `json:"primary_address,omitempty"`
	ReaderAddress  string `json:"reader_address,omitempty"`
	// ReaderNode is the member cluster that serves ReaderAddress; it keeps
	// it while it runs as a replica.
	ReaderNode string `json:"reader_node,omitempty"`

	// ClusterMode makes the nodes one Redis Cluster of Shards.
	ClusterMode bool `json:"cluster_mode,omitempty"`
	// Shards are the node groups of a cluster-mode group, with the slots
	// each serves.
	Shards []Shard `json:"shards,omitempty"`

	// Global is the group's membership of a global datastore (see
	// global.go); nil for none.
	Global *CacheGlobal `json:"global,omitempty"`

	// FailureMessage says why creation failed (status create-failed).
	FailureMessage string `json:"failure_message"`
	// AppliedACL is the fingerprint of the ACL set last applied to every
	// node; it equals the desired fingerprint once the data plane converged.
	AppliedACL string `json:"applied_acl"`
	// AppliedDefaultUser is the user id that defined the engine's "default"
	// user when ACLs were last applied, to detect a default-user swap.
	AppliedDefaultUser string `json:"applied_default_user"`

	// Migration is the online migration into the cache, if any
	// (migration.go).
	Migration *CacheMigration `json:"migration,omitempty"`
	// Updates are the service updates applied or being applied
	// (BatchApplyUpdateAction).
	Updates []CacheUpdate `json:"updates,omitempty"`
}

// CacheNode is one member cache cluster of a replication group.
type CacheNode struct {
	ClusterID string `json:"cluster_id"` // <group id>-001, -002, ...
	Role      string `json:"role"`       // "primary" or "replica"
	Port      int    `json:"port"`       // assigned when the node first started; 0 before
	// Address is the node's own loopback address, assigned with Port;
	// "" for nodes of an earlier keyward, which listen on 127.0.0.1.
	Address string `json:"address,omitempty"`
	// Shard is the index in Cache.Shards of the node's shard (cluster mode).
	Shard int `json:"shard,omitempty"`
	// Reboot marks a node that RebootCacheCluster asked to restart.
	Reboot bool `json:"reboot,omitempty"`
	// BootParams fingerprints the requires-reboot parameters the node's
	// process last started with (see catalog.BootFingerprint): when it
	// differs from the parameter group's, the node is pending-reboot.
	BootParams string `json:"boot_params,omitempty"`
}

// Shard is one node group of a cluster-mode replication group.
type Shard struct {
	ID    string `json:"id"`    // 0001, 0002...
	Slots string `json:"slots"` // "0-5461" or "0-100,200-300"
}

// Clone returns a deep copy.
func (rg *Cache) Clone() *Cache {
	c := *rg
	c.AuthTokenHashes = slices.Clone(rg.AuthTokenHashes)
	c.UserGroupIDs = slices.Clone(rg.UserGroupIDs)
	c.PendingUserGroupsAdd = slices.Clone(rg.PendingUserGroupsAdd)
	c.PendingUserGroupsRemove = slices.Clone(rg.PendingUserGroupsRemove)
	c.Nodes = slices.Clone(rg.Nodes)
	c.Shards = slices.Clone(rg.Shards)
	c.RestoreFiles = slices.Clone(rg.RestoreFiles)
	c.Settings = rg.Settings.Clone()
	c.Migration = cloneMigration(rg.Migration)
	c.Updates = cloneUpdates(rg.Updates)
	if rg.Global != nil {
		g := *rg.Global
		c.Global = &g
	}
	return &c
}

// PrimaryIndex returns the index in Nodes of a cluster-mode-disabled
// group's primary: the node whose Role is "primary", the first otherwise.
func (rg *Cache) PrimaryIndex() int {
	for i, n := range rg.Nodes {
		if n.Role == "primary" {
			return i
		}
	}
	return 0
}

// ClientPort returns the port the nodes listen on: Port, or 6379.
func (rg *Cache) ClientPort() int {
	if rg.Port != 0 {
		return rg.Port
	}
	return 6379
}

// NodeID returns the engine-level identity of a node: unique across scopes
// and safe as a directory name.
func (rg *Cache) NodeID(clusterID string) string {
	if rg.Kind == KindServerless {
		return fmt.Sprintf("%s.%s.serverless.%s", rg.Scope.Account, rg.Scope.Region, clusterID)
	}
	return fmt.Sprintf("%s.%s.%s", rg.Scope.Account, rg.Scope.Region, clusterID)
}

// ClusterIDs returns the member cache cluster ids, primary first.
func ClusterIDs(rgID string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%03d", rgID, i+1)
	}
	return ids
}

// HasPendingUserGroups reports whether a group change awaits the reconciler.
func (rg *Cache) HasPendingUserGroups() bool {
	return len(rg.PendingUserGroupsAdd) > 0 || len(rg.PendingUserGroupsRemove) > 0
}

// AuthTokenEnabled reports whether the default user requires a token.
func (rg *Cache) AuthTokenEnabled() bool { return len(rg.AuthTokenHashes) > 0 }

// NormalizeReplicationGroupID lower-cases id after checking ElastiCache's
// naming rules: 1-40 characters, a letter first, letters, digits and single
// hyphens, not ending with a hyphen.
func NormalizeReplicationGroupID(id string) (string, error) {
	if !isResourceID(id) || len(id) > 40 || strings.HasSuffix(id, "-") || strings.Contains(id, "--") {
		return "", Errorf(EINVALID, ResourceReplicationGroup, "Invalid replication group id %s: it must be 1 to 40 letters, digits or hyphens, begin with a letter, and contain no two consecutive hyphens or a trailing hyphen.", id)
	}
	return strings.ToLower(id), nil
}

// ValidateAuthToken applies ElastiCache's AUTH token rules: 16 to 128
// printable characters; specials only from !&#$^<>-.
func ValidateAuthToken(tok string) error {
	if len(tok) < 16 || len(tok) > 128 {
		return Errorf(EINVALID, ResourceReplicationGroup, "Invalid AuthToken provided.")
	}
	for _, r := range tok {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!&#$^<>-", r)
		if !ok {
			return Errorf(EINVALID, ResourceReplicationGroup, "Invalid AuthToken provided.")
		}
	}
	return nil
}

// SlotCount is the number of Redis Cluster hash slots.
const SlotCount = 16384

// DefaultSlots splits the slots over n shards as ElastiCache does by
// default: shard i ends at ceil((i+1)·16384/n) − 1 (3 shards: 0-5461,
// 5462-10922, 10923-16383).
func DefaultSlots(n int) []string {
	out := make([]string, n)
	start := 0
	for i := range n {
		end := ((i+1)*SlotCount+n-1)/n - 1
		out[i] = fmt.Sprintf("%d-%d", start, end)
		start = end + 1
	}
	return out
}

// ParseSlots parses a shard's slot list, "0-5461" or "0-100,200,300-400".
func ParseSlots(s string) ([][2]int, error) {
	var out [][2]int
	for _, part := range strings.Split(s, ",") {
		lo, hi, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= SlotCount {
			return nil, Errorf(EINVALID, ResourceReplicationGroup, "Invalid slots %s: give ranges like 0-5461, within 0-16383.", Quote(s))
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}

// CheckSlots verifies that the shards' slots cover every slot exactly once.
func CheckSlots(shards []string) error {
	seen := make([]bool, SlotCount)
	n := 0
	for _, s := range shards {
		ranges, err := ParseSlots(s)
		if err != nil {
			return err
		}
		for _, r := range ranges {
			for i := r[0]; i <= r[1]; i++ {
				if seen[i] {
					return Errorf(EINVALID, ResourceReplicationGroup, "Slot %d is assigned to more than one node group.", i)
				}
				seen[i] = true
				n++
			}
		}
	}
	if n != SlotCount {
		return Errorf(EINVALID, ResourceReplicationGroup, "The node groups' slots must cover all 16384 slots (0-16383); they cover %d.", n)
	}
	return nil
}
