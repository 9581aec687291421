package keyward

import (
	"slices"
	"strings"
	"time"
)

// A global datastore (ElastiCache's global replication group) spans
// regions: one primary replication group, whose primary node takes the
// writes, and up to two secondary groups in other regions of the same
// partition, which replicate from it (read-only): in cluster mode disabled
// their primary nodes follow its primary node, in cluster mode each of
// their shards follows its shard with the same slots
// (reconcile/globalcluster.go). keyward's regions are its scopes, so the global group cannot live in any one of
// them: it is stored in the account's global scope (GlobalScope, region
// ""), as its ARN has no region, and each member replication group names
// it (Cache.Global).

// ResourceGlobalReplicationGroup is the Resource of global datastore errors
// and the kind of their documents.
const ResourceGlobalReplicationGroup Resource = "globalreplicationgroup"

// ARNGlobalReplicationGroup is the ARN resource type of a global datastore.
const ARNGlobalReplicationGroup ARNType = "globalreplicationgroup"

// GlobalStatus is the status DescribeGlobalReplicationGroups reports.
type GlobalStatus string

// Global datastore statuses, as ElastiCache reports them.
const (
	GlobalCreating    GlobalStatus = "creating"
	GlobalAvailable   GlobalStatus = "available"    // a primary and at least one secondary
	GlobalPrimaryOnly GlobalStatus = "primary-only" // no secondary (yet, or any more)
	GlobalModifying   GlobalStatus = "modifying"
	GlobalDeleting    GlobalStatus = "deleting"
)

// Member roles and statuses, as ElastiCache reports them.
const (
	GlobalRolePrimary   = "PRIMARY"
	GlobalRoleSecondary = "SECONDARY"

	MemberAssociating    = "associating"
	MemberAssociated     = "associated"
	MemberDisassociating = "disassociating"
)

// MaxGlobalSecondaries is how many secondary regions a global datastore
// may have.
const MaxGlobalSecondaries = 2

// GlobalGroup is a global datastore.
type GlobalGroup struct {
	Scope       Scope        `json:"scope"` // GlobalScope of the account
	ID          string       `json:"id"`    // prefix-suffix, lower-cased
	Partition   string       `json:"partition"`
	Description string       `json:"description"`
	Status      GlobalStatus `json:"status"`
	StatusSince time.Time    `json:"status_since"`
	Generation  int64        `json:"generation"`
	CreatedAt   time.Time    `json:"created_at"`
	// Members are the replication groups, the primary first.
	Members []GlobalMember `json:"members"`
	// Promoting, set by a failover, is the region of the former primary
	// until its nodes follow the new primary's: until then the new
	// primary's nodes keep following the former's (see
	// reconcile.globalUpstream), so that a demoted primary never takes a
	// write the new one lacks.
	Promoting string `json:"promoting,omitempty"`
}

// GlobalMember is one replication group of a global datastore.
type GlobalMember struct {
	Region             string `json:"region"`
	ReplicationGroupID string `json:"replication_group_id"`
	Role               string `json:"role"`   // GlobalRolePrimary or GlobalRoleSecondary
	Status             string `json:"status"` // MemberAssociating...
}

// CacheGlobal is a replication group's membership of a global datastore.
type CacheGlobal struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// GlobalScope returns the scope that holds the account's global
// datastores: the account, with no region.
func GlobalScope(account string) Scope { return Scope{Account: account} }

// ARN returns the global datastore's ARN, which has no region:
// arn:aws:elasticache::123456789012:globalreplicationgroup:ldgnf-app.
func (g *GlobalGroup) ARN() string {
	return "arn:" + g.Partition + ":elasticache::" + g.Scope.Account + ":" + string(ARNGlobalReplicationGroup) + ":" + g.ID
}

// ParseGlobalARN splits the ARN of a global datastore (regionless, see
// ARN); ok is false when arn is not one. A global datastore's ARN with a
// region is not valid (EINVALIDARN).
func ParseGlobalARN(arn string) (partition, account, id string, ok bool, err error) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "elasticache" || parts[5] != string(ARNGlobalReplicationGroup) {
		return "", "", "", false, nil
	}
	switch {
	case parts[3] != "" || parts[4] == "" || parts[6] == "" || !slices.Contains([]string{"aws", "aws-cn", "aws-us-gov"}, parts[1]):
		return "", "", "", true, Errorf(EINVALIDARN, ResourceNone, "The ARN %s is not valid.", arn)
	}
	return parts[1], parts[4], parts[6], true, nil
}

// Clone returns a deep copy.
func (g *GlobalGroup) Clone() *GlobalGroup {
	c := *g
	c.Members = slices.Clone(g.Members)
	return &c
}

// Primary returns the primary member (ok false while none).
func (g *GlobalGroup) Primary() (GlobalMember, bool) {
	for _, m := range g.Members {
		if m.Role == GlobalRolePrimary {
			return m, true
		}
	}
	return GlobalMember{}, false
}

// Member returns the index of the member in region with the replication
// group id, or -1.
func (g *GlobalGroup) Member(region, rgID string) int {
	return slices.IndexFunc(g.Members, func(m GlobalMember) bool {
		return m.Region == region && m.ReplicationGroupID == rgID
	})
}

// HasRegion reports whether a member lives in region.
func (g *GlobalGroup) HasRegion(region string) bool {
	return slices.ContainsFunc(g.Members, func(m GlobalMember) bool { return m.Region == region })
}

// Secondaries returns how many secondary members the group has.
func (g *GlobalGroup) Secondaries() int {
	n := 0
	for _, m := range g.Members {
		if m.Role == GlobalRoleSecondary {
			n++
		}
	}
	return n
}

// RestingStatus is the status of a group that no change is under way on.
func (g *GlobalGroup) RestingStatus() GlobalStatus {
	if g.Secondaries() == 0 {
		return GlobalPrimaryOnly
	}
	return GlobalAvailable
}

// globalPrefixes are ElastiCache's global datastore id prefixes, one per
// region (the table of "Using global datastores (CLI)" in the ElastiCache
// user guide). A region missing here has no documented prefix.
var globalPrefixes = map[string]string{
	"us-east-2": "fpkhr", "us-east-1": "ldgnf", "us-west-1": "virxk", "us-west-2": "sgaui",
	"ca-central-1": "bxodz", "ap-south-1": "erpgt", "ap-northeast-1": "quwsw", "ap-northeast-2": "lfqnh",
	"ap-northeast-3": "nlapn", "ap-southeast-1": "vlqxn", "ap-southeast-2": "vbgxd", "eu-central-1": "iudkw",
	"eu-west-1": "gxeiz", "eu-west-2": "okuqm", "eu-west-3": "fgjhi", "sa-east-1": "juxlw",
	"cn-north-1": "emvgo", "cn-northwest-1": "ckbem", "ap-east-1": "knjmp",
}

// GlobalID returns the id of a global datastore created in region with the
// suffix: the region's prefix, a hyphen, the suffix (lower-cased). The
// suffix follows the rules of replication group ids.
func GlobalID(region, suffix string) (string, error) {
	p, ok := globalPrefixes[region]
	if !ok {
		return "", Errorf(EINVALID, ResourceGlobalReplicationGroup, "Global datastores are not available in region %s.", region)
	}
	if !isResourceID(suffix) || len(suffix) > 40 || strings.HasSuffix(suffix, "-") || strings.Contains(suffix, "--") {
		return "", Errorf(EINVALID, ResourceGlobalReplicationGroup, "Invalid global replication group id suffix %s: it must be 1 to 40 letters, digits or hyphens, begin with a letter, and contain no two consecutive hyphens or a trailing hyphen.", suffix)
	}
	return p + "-" + strings.ToLower(suffix), nil
}

// GlobalRegionsPair reports whether a global datastore may span regions a
// and b: the same partition, and in China only the two China regions.
func GlobalRegionsPair(a, b string) bool {
	return a != b && (Scope{Region: a}).Partition() == (Scope{Region: b}).Partition()
}

// SupportsGlobal reports whether a node type may be in a global datastore:
// ElastiCache supports them on the M5, M6g, M7g, R5, R6g, R6gd, R7g and
// C7gn families, size large and above.
func SupportsGlobal(nodeType string) bool {
	parts := strings.Split(nodeType, ".")
	if len(parts) != 3 || parts[0] != "cache" {
		return false
	}
	switch parts[1] {
	case "m5", "m6g", "m7g", "r5", "r6g", "r6gd", "r7g", "c7gn":
	default:
		return false
	}
	size := parts[2]
	return size == "large" || strings.HasSuffix(size, "xlarge")
}

// GlobalGroups is the kind of global datastores. Their member replication
// groups are in other scopes, so they are not references: the API keeps
// both ends in step in one transaction.
var GlobalGroups = &Kind[GlobalGroup]{
	Name: ResourceGlobalReplicationGroup,
	Key:  func(g *GlobalGroup) (Scope, string) { return g.Scope, g.ID },
	Settled: func(g *GlobalGroup) bool {
		return g.Status == GlobalAvailable || g.Status == GlobalPrimaryOnly
	},
	Clone:   (*GlobalGroup).Clone,
	TagType: ARNGlobalReplicationGroup,
}
