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
	// Resharding is the slot migration of a shard count change under way.
	Resharding *Resharding `json:"resharding,omitempty"`
	// TestFailover names the node group (cluster mode: the shard id;
	// otherwise "0001") whose primary a TestFailover asked to hand over
	// to a replica; cleared once done.
	TestFailover string `json:"test_failover,omitempty"`
	// TestFailoverFrom is the member cluster that was the node group's
	// primary when TestFailover was called.
	TestFailoverFrom string `json:"test_failover_from,omitempty"`
	// TestFailoverTo, if set, is the member cluster the hand-over
	// promotes (ModifyReplicationGroup's PrimaryClusterId); otherwise the
	// most up-to-date replica is.
	TestFailoverTo string `json:"test_failover_to,omitempty"`
	// Leaving are member clusters taken out of the group (replicas
	// removed, shards removed) whose nodes the reconciler still has to
	// stop and make the cluster forget.
	Leaving []string `json:"leaving,omitempty"`
	// Failovers are the times of this group's TestFailover calls in the
	// last 24 hours (ElastiCache's per-account limit counts them).
	Failovers []time.Time `json:"failovers,omitempty"`

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
	// Recovering marks a former primary that a failover demoted, until it
	// replicates from the new primary (the "Recovering cache nodes" and
	// "Finished recovery" events).
	Recovering bool `json:"recovering,omitempty"`
}

// Shard is one node group of a cluster-mode replication group.
type Shard struct {
	ID    string `json:"id"`    // 0001, 0002...
	Slots string `json:"slots"` // "0-5461" or "0-100,200-300"; "" for a shard being removed
	// Removing marks a shard that ModifyReplicationGroupShardConfiguration
	// takes away: its slots move to the others, then its nodes go.
	Removing bool `json:"removing,omitempty"`
}

// Resharding is a slot migration in progress (cluster mode): the Shards'
// Slots are its target, Total the slots it had to move when it began,
// Moved how many have moved since.
type Resharding struct {
	Total int `json:"total"`
	Moved int `json:"moved"`
}

// Progress is the percentage of slots moved, as ElastiCache reports it in
// PendingModifiedValues.Resharding.SlotMigration.ProgressPercentage.
func (r *Resharding) Progress() float64 {
	if r == nil || r.Total == 0 {
		return 0
	}
	return float64(r.Moved) * 100 / float64(r.Total)
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
	c.Failovers = slices.Clone(rg.Failovers)
	c.Leaving = slices.Clone(rg.Leaving)
	if rg.Resharding != nil {
		r := *rg.Resharding
		c.Resharding = &r
	}
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

// SlotList expands a shard's slot list into its slots, in order.
func SlotList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	ranges, err := ParseSlots(s)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, r := range ranges {
		for i := r[0]; i <= r[1]; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// FormatSlots writes sorted slots as ranges: "0-5461,8192-10922".
func FormatSlots(slots []int) string {
	var b strings.Builder
	for i := 0; i < len(slots); {
		j := i
		for j+1 < len(slots) && slots[j+1] == slots[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if i == j {
			fmt.Fprintf(&b, "%d", slots[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", slots[i], slots[j])
		}
		i = j + 1
	}
	return b.String()
}

// ReshardSlots plans a shard count change with as few slots moved as
// possible: current holds each shard's slots ("" for a new shard), keep
// whether the shard stays. Every shard that stays ends with an even share
// (16384/n, the first ones one more), keeping the lowest of the slots it
// has; the rest, and every slot of the shards that go, fill the shards
// below their share, lowest first. The shards that go get "".
func ReshardSlots(current []string, keep []bool) ([]string, error) {
	n := 0
	for _, k := range keep {
		if k {
			n++
		}
	}
	if n == 0 {
		return nil, Errorf(EINVALID, ResourceReplicationGroup, "At least one node group must remain.")
	}
	have := make([][]int, len(current))
	for i, s := range current {
		var err error
		if have[i], err = SlotList(s); err != nil {
			return nil, err
		}
	}
	share := make([]int, len(current))
	rank := 0
	for i := range current {
		if keep[i] {
			share[i] = SlotCount / n
			if rank < SlotCount%n {
				share[i]++
			}
			rank++
		}
	}
	var pool []int
	for i := range current {
		if len(have[i]) > share[i] {
			pool = append(pool, have[i][share[i]:]...)
			have[i] = have[i][:share[i]]
		}
	}
	slices.Sort(pool)
	for i := range current {
		if need := share[i] - len(have[i]); need > 0 {
			have[i] = append(have[i], pool[:need]...)
			pool = pool[need:]
			slices.Sort(have[i])
		}
	}
	out := make([]string, len(current))
	for i := range current {
		out[i] = FormatSlots(have[i])
	}
	return out, nil
}
