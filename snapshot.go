package keyward

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SnapshotStatus is the API-visible state of a snapshot.
type SnapshotStatus string

// Snapshot statuses, as DescribeSnapshots reports them.
const (
	SnapshotCreating  SnapshotStatus = "creating"
	SnapshotAvailable SnapshotStatus = "available"
	SnapshotCopying   SnapshotStatus = "copying"
	SnapshotDeleting  SnapshotStatus = "deleting"
	SnapshotExporting SnapshotStatus = "exporting"
	SnapshotFailed    SnapshotStatus = "failed"
)

// Snapshot sources.
const (
	SnapshotManual    = "manual"
	SnapshotAutomated = "automated"
)

// CacheSnapshotting is the status of a replication group while a snapshot
// of it is taken.
const CacheSnapshotting CacheStatus = "snapshotting"

// ResourceSnapshot is the Resource of snapshot errors and the kind of
// snapshot documents.
const ResourceSnapshot Resource = "snapshot"

// ARNSnapshot is the ARN resource type of snapshots.
const ARNSnapshot ARNType = "snapshot"

// Snapshot is a backup of a replication group: one RDB file per node
// group, kept under the data directory, taken from one member cluster.
//
// A snapshot is created (creating) by the api package, which also puts the
// replication group in snapshotting; the reconciler takes the RDB from the
// node, writes it under a temporary name, syncs and renames it, and only
// then stores the snapshot available (and the group available again) in
// one transaction: a crash before that leaves it creating, and the next
// pass takes it again. A copy (copying) and a deletion (deleting) are
// completed by the reconciler the same way.
type Snapshot struct {
	Scope       Scope          `json:"scope"`
	ID          string         `json:"id"` // the snapshot name, as given
	Source      string         `json:"source"`
	Status      SnapshotStatus `json:"status"`
	StatusSince time.Time      `json:"status_since"`
	CreatedAt   time.Time      `json:"created_at"`

	ReplicationGroupID string         `json:"replication_group_id"`
	Description        string         `json:"description"`
	ClusterID          string         `json:"cluster_id"` // the snapshotting member cluster
	Engine             Engine         `json:"engine"`
	EngineVersion      string         `json:"engine_version"`
	CacheNodeType      string         `json:"cache_node_type"`
	NumNodes           int            `json:"num_nodes"`
	TransitEncryption  bool           `json:"transit_encryption"`
	CacheCreatedAt     time.Time      `json:"cache_created_at"`
	RetentionLimit     int            `json:"retention_limit"`
	Window             string         `json:"window"`
	DeleteCacheAfter   bool           `json:"delete_cache_after"` // a final snapshot: the group is deleted once it is taken
	CopyOf             string         `json:"copy_of,omitempty"`  // the source snapshot of a copy
	NodeSnapshots      []NodeSnapshot `json:"node_snapshots"`
	FailureMessage     string         `json:"failure_message,omitempty"`
	File               string         `json:"file"` // the RDB's file name in the snapshot directory (the first node group's)

	// ClusterMode: taken from a cluster-mode group, one RDB per node group.
	ClusterMode bool `json:"cluster_mode,omitempty"`
	// Exports are copies to buckets asked for with CopySnapshot's
	// TargetBucket (or ExportServerlessCacheSnapshot) and not written yet;
	// the snapshot is exporting meanwhile.
	Exports []SnapshotExport `json:"exports,omitempty"`

	// Serverless marks a snapshot of a serverless cache.
	Serverless bool `json:"serverless,omitempty"`
	// Standalone marks a snapshot of a standalone Redis cache cluster
	// (ClusterID; ReplicationGroupID is empty).
	Standalone bool `json:"standalone,omitempty"`

	// UsedBy lists what needs the snapshot's data now (a copy being made,
	// a replication group being restored), derived from their references.
	UsedBy []string `json:"-"`
}

// NodeSnapshot is the part of a snapshot taken from one node group.
type NodeSnapshot struct {
	ClusterID   string    `json:"cluster_id"`
	NodeGroupID string    `json:"node_group_id"`
	Slots       string    `json:"slots"`
	Size        int64     `json:"size"`
	CreatedAt   time.Time `json:"created_at"`
	// File is this node group's RDB in the snapshot directory; empty in
	// snapshots of one node group made before there were several (the
	// snapshot's File then).
	File string `json:"file,omitempty"`
}

// SnapshotExport is one export of a snapshot to a bucket: the objects
// Name-0001.rdb, Name-0002.rdb, ... one per node group, as ElastiCache
// names them.
type SnapshotExport struct {
	Bucket string `json:"bucket"`
	Name   string `json:"name"`
}

// ExportKey returns the object key of node group i (0-based) of an export
// named name.
func ExportKey(name string, i int) string { return fmt.Sprintf("%s-%04d.rdb", name, i+1) }

// Files returns the RDB file of each node snapshot, in order.
func (s *Snapshot) Files() []string {
	out := make([]string, len(s.NodeSnapshots))
	for i, n := range s.NodeSnapshots {
		out[i] = n.File
		if out[i] == "" {
			out[i] = s.File
		}
	}
	return out
}

// RenewFiles gives the snapshot fresh file names, its own, for a copy.
func (s *Snapshot) RenewFiles() {
	s.File = SnapshotFileName()
	for i := range s.NodeSnapshots {
		s.NodeSnapshots[i].File = SnapshotFileName()
	}
	if len(s.NodeSnapshots) > 0 {
		s.NodeSnapshots[0].File = s.File
	}
}

// S3Source returns the restore source naming object key of bucket (a
// restore source is a snapshot file name, or this form).
func S3Source(bucket, key string) string { return s3SourcePrefix + bucket + "/" + key }

// ParseS3Source splits a restore source made by S3Source.
func ParseS3Source(src string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(src, s3SourcePrefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}

const s3SourcePrefix = "s3:"

// Clone returns a deep copy.
func (s *Snapshot) Clone() *Snapshot {
	c := *s
	c.NodeSnapshots = slices.Clone(s.NodeSnapshots)
	c.UsedBy = slices.Clone(s.UsedBy)
	c.Exports = slices.Clone(s.Exports)
	return &c
}

// The two snapshot kinds: of replication groups, and of serverless caches
// (ElastiCache keeps them apart: other names, ARNs and faults). They share
// the Snapshot type; ReplicationGroupID names the serverless cache of a
// serverless snapshot.
var (
	Snapshots           = snapshotKind(ResourceSnapshot, ARNSnapshot)
	ServerlessSnapshots = snapshotKind(ResourceServerlessSnapshot, ARNServerlessSnapshot)
)

// ResourceServerlessSnapshot is the Resource (and document kind) of
// serverless cache snapshots; ARNServerlessSnapshot their ARN type.
const (
	ResourceServerlessSnapshot Resource = "serverlesscachesnapshot"
	ARNServerlessSnapshot      ARNType  = "serverlesscachesnapshot"
)

// SnapshotKindOf returns the kind of serverless or of group snapshots.
func SnapshotKindOf(serverless bool) *Kind[Snapshot] {
	if serverless {
		return ServerlessSnapshots
	}
	return Snapshots
}

func snapshotKind(name Resource, arn ARNType) *Kind[Snapshot] {
	return &Kind[Snapshot]{
		Name:    name,
		Key:     func(s *Snapshot) (Scope, string) { return s.Scope, s.ID },
		TagType: arn,
		Settled: func(s *Snapshot) bool { return s.Status == SnapshotAvailable || s.Status == SnapshotFailed },
		Clone:   (*Snapshot).Clone,
		Index: func(s *Snapshot) []Field {
			fs := []Field{{Name: "replication_group", Value: s.ReplicationGroupID}, {Name: "source", Value: s.Source}}
			if s.Standalone {
				fs = append(fs, Field{Name: "cache_cluster", Value: s.ClusterID})
			}
			return fs
		},
		// A copy holds its source until it is made.
		Refs: func(s *Snapshot) []Ref {
			if s.Status == SnapshotCreating && s.CopyOf != "" {
				return []Ref{{Relation: relRestoresFrom, Kind: string(name), ID: s.CopyOf, Restrict: true}}
			}
			return nil
		},
		Load: func(s *Snapshot, d *Doc) {
			s.UsedBy = nil
			for _, r := range d.Referrers {
				if r.Relation == relRestoresFrom {
					s.UsedBy = append(s.UsedBy, r.Kind+" "+r.ID)
				}
			}
		},
		Changes: snapshotChanges,
	}
}

// SnapshotFileName returns a fresh file name for a snapshot's RDB: random,
// so that a name reused after a deletion never meets the old file.
func SnapshotFileName() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b) + ".rdb"
}

var snapshotNamePattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9.-]*$`)

// ValidateSnapshotName checks a snapshot name given by a caller: a letter
// first, then letters, digits, hyphens and dots, at most 255 characters.
func ValidateSnapshotName(name string) error {
	if !snapshotNamePattern.MatchString(name) || len(name) > 255 {
		return Errorf(EINVALID, ResourceSnapshot, "Invalid snapshot name %s: it must begin with a letter and contain only letters, digits, hyphens and dots (at most 255 characters).", name)
	}
	return nil
}

// ManualSnapshotsPerDay is ElastiCache's limit of manual snapshots of one
// node group in 24 hours.
const ManualSnapshotsPerDay = 20

// FindSnapshots returns the snapshots of one replication group (all when
// rg is ""), ordered by name.
func (t Tx) FindSnapshots(ctx context.Context, s Scope, rg string) ([]*Snapshot, error) {
	return t.findSnapshots(ctx, Snapshots, s, rg)
}

func (t Tx) findSnapshots(ctx context.Context, k *Kind[Snapshot], s Scope, cache string) ([]*Snapshot, error) {
	q := DocQuery{Scope: s}
	if cache != "" {
		q.Where = []Field{{Name: "replication_group", Value: cache}}
	}
	return k.Find(ctx, t, q)
}

// NewSnapshot returns the snapshot of c taken from member, stored creating.
// A cluster-mode group's is taken from every node group, each from its
// first node (member is then ignored), one RDB each.
func NewSnapshot(c *Cache, name, member, source string, now time.Time) *Snapshot {
	s := newSnapshot(c, name, member, source, now)
	// A serverless cache's one shard is one node: its snapshot stays a
	// single RDB, restorable into either cluster mode.
	if c.ClusterMode && c.Kind != KindServerless {
		s.ClusterMode, s.NodeSnapshots = true, nil
		for sh, shard := range c.Shards {
			for _, n := range c.Nodes {
				if n.Shard == sh {
					s.NodeSnapshots = append(s.NodeSnapshots, NodeSnapshot{ClusterID: n.ClusterID, NodeGroupID: shard.ID, Slots: shard.Slots, File: SnapshotFileName()})
					break
				}
			}
		}
		if len(s.NodeSnapshots) > 0 {
			s.ClusterID, s.File = s.NodeSnapshots[0].ClusterID, s.NodeSnapshots[0].File
		}
	}
	return s
}

func newSnapshot(c *Cache, name, member, source string, now time.Time) *Snapshot {
	return &Snapshot{
		Scope: c.Scope, ID: name, Source: source, Status: SnapshotCreating, StatusSince: now, CreatedAt: now,
		ReplicationGroupID: c.ID, Description: c.Description, ClusterID: member, Engine: c.Engine,
		EngineVersion: c.EngineVersion, CacheNodeType: c.CacheNodeType, NumNodes: c.NumNodes,
		TransitEncryption: c.TransitEncryption, CacheCreatedAt: c.CreatedAt, RetentionLimit: c.Settings.SnapshotRetentionLimit,
		Window: c.Settings.SnapshotWindow, File: SnapshotFileName(),
		NodeSnapshots: []NodeSnapshot{{ClusterID: member, NodeGroupID: "0001"}},
		Serverless:    c.Kind == KindServerless,
	}
}

// NewClusterSnapshot returns the snapshot of standalone Redis cluster cl,
// stored creating: one RDB, of its one node.
func NewClusterSnapshot(cl *CacheCluster, name, source string, now time.Time) *Snapshot {
	return &Snapshot{
		Scope: cl.Scope, ID: name, Source: source, Status: SnapshotCreating, StatusSince: now, CreatedAt: now,
		ClusterID: cl.ID, Engine: cl.Engine, EngineVersion: cl.EngineVersion, CacheNodeType: cl.CacheNodeType, NumNodes: 1,
		TransitEncryption: cl.TransitEncryption, CacheCreatedAt: cl.CreatedAt, RetentionLimit: cl.Settings.SnapshotRetentionLimit,
		Window: cl.Settings.SnapshotWindow, File: SnapshotFileName(),
		NodeSnapshots: []NodeSnapshot{{ClusterID: cl.ID, NodeGroupID: "0001"}},
		Standalone:    true,
	}
}

// StartClusterSnapshot stores snap, a snapshot of standalone cluster cl,
// and puts cl in snapshotting, in tx: SnapshotAlreadyExists if the name
// is taken, SnapshotQuotaExceeded past ElastiCache's 20 manual snapshots of
// a cluster in 24 hours.
func (t Tx) StartClusterSnapshot(ctx context.Context, cl *CacheCluster, snap *Snapshot) error {
	if _, err := Snapshots.Get(ctx, t, cl.Scope, snap.ID); err == nil {
		return Errorf(EEXISTS, ResourceSnapshot, "Snapshot %s already exists.", snap.ID)
	} else if ErrorCode(err) != ENOTFOUND {
		return err
	}
	if snap.Source == SnapshotManual {
		if err := t.checkManualQuota(ctx, snap, Field{Name: "cache_cluster", Value: cl.ID}, "cache cluster "+cl.ID); err != nil {
			return err
		}
	}
	if err := Snapshots.Create(ctx, t, snap); err != nil {
		return err
	}
	next := cl.Clone()
	next.Status, next.StatusSince = ClusterSnapshotting, snap.CreatedAt
	return Clusters.Update(ctx, t, next)
}

// checkManualQuota refuses snap past ElastiCache's ManualSnapshotsPerDay
// manual snapshots (copies aside) of one source, the snapshots whose index
// holds source, in the 24 hours before it; what names the source.
func (t Tx) checkManualQuota(ctx context.Context, snap *Snapshot, source Field, what string) error {
	all, err := Snapshots.Find(ctx, t, DocQuery{Scope: snap.Scope, Where: []Field{source}})
	if err != nil {
		return err
	}
	recent := 0
	for _, s := range all {
		if s.Source == SnapshotManual && s.CopyOf == "" && s.CreatedAt.After(snap.CreatedAt.Add(-24*time.Hour)) {
			recent++
		}
	}
	if recent >= ManualSnapshotsPerDay {
		return Errorf(EQUOTA, ResourceSnapshot, "The maximum number of manual snapshots (%d per 24 hours) of %s has been reached.", ManualSnapshotsPerDay, what)
	}
	return nil
}

// StartSnapshot stores snap and puts its replication group in
// snapshotting, in tx (a serverless cache stays available, unless the
// snapshot is its final one): SnapshotAlreadyExists if the name is taken,
// SnapshotQuotaExceeded past ElastiCache's 20 manual snapshots of a group
// in 24 hours.
func (t Tx) StartSnapshot(ctx context.Context, c *Cache, snap *Snapshot) error {
	k := SnapshotKindOf(snap.Serverless)
	if _, err := k.Get(ctx, t, c.Scope, snap.ID); err == nil {
		return Errorf(EEXISTS, k.Name, "%s %s already exists.", k.Name.Noun(), snap.ID)
	} else if ErrorCode(err) != ENOTFOUND {
		return err
	}
	if snap.Source == SnapshotManual && !snap.Serverless {
		if err := t.checkManualQuota(ctx, snap, Field{Name: "replication_group", Value: c.ID}, "replication group "+c.ID); err != nil {
			return err
		}
	}
	if err := k.Create(ctx, t, snap); err != nil {
		return err
	}
	if snap.Serverless && !snap.DeleteCacheAfter {
		return nil
	}
	next := c.Clone()
	next.Status, next.StatusSince = CacheSnapshotting, snap.CreatedAt
	if snap.DeleteCacheAfter {
		next.FinalSnapshot = snap.ID
	}
	return t.UpdateCache(ctx, next)
}

// ShownStatus is the status the API reports: a cache taking its final
// snapshot is deleting, as ElastiCache shows it (and as the Terraform
// provider's deletion waiter requires).
func (c *Cache) ShownStatus() CacheStatus {
	if c.Status == CacheSnapshotting && c.FinalSnapshot != "" {
		return CacheDeleting
	}
	return c.Status
}

func snapshotChanges(old, cur *Snapshot) []*Event {
	if cur == nil || old == nil || cur.Status == old.Status {
		return nil
	}
	at := changeTime(old, cur, func(v *Snapshot) time.Time { return v.StatusSince })
	if cur.Serverless {
		switch {
		case cur.Status == SnapshotAvailable && old.Status == SnapshotCreating:
			return []*Event{event(cur.Scope, SourceServerlessCacheSnapshot, cur.ID, at,
				"Snapshot %s of serverless cache %s created", cur.ID, cur.ReplicationGroupID)}
		case cur.Status == SnapshotFailed && old.Status == SnapshotCreating:
			return []*Event{event(cur.Scope, SourceServerlessCacheSnapshot, cur.ID, at,
				"Snapshot %s of serverless cache %s failed", cur.ID, cur.ReplicationGroupID)}
		}
		return nil
	}
	if old.Status != SnapshotCreating {
		return nil
	}
	outcome := "succeeded"
	switch cur.Status {
	case SnapshotAvailable:
	case SnapshotFailed:
		outcome = "failed"
	default:
		return nil
	}
	// A group's snapshot names the group, a standalone cluster's the cluster.
	of := "replication group with ID '" + cur.ReplicationGroupID + "'"
	if cur.Standalone {
		of = "cache cluster with ID '" + cur.ClusterID + "'"
	}
	return []*Event{event(cur.Scope, SourceCacheCluster, cur.ClusterID, at,
		"Snapshot %s for snapshot with ID '%s' of %s", outcome, cur.ID, of)}
}
