package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// Manual snapshots of replication groups. Handlers record the snapshot
// (creating, copying's target, deleting) and the group's snapshotting
// status; the reconciler takes the RDB from the node and stores the
// outcome (reconcile/snapshot.go).

func snapshotKey(sc keyward.Scope, id string) keyward.Key {
	return keyward.Key{Resource: keyward.ResourceSnapshot, Scope: sc, ID: id}
}

func snapshotNotFound(name string) error {
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceSnapshot, "Snapshot %s not found.", name)
}

// snapshotToAPI converts a snapshot; nodeGroups adds each node snapshot's
// NodeGroupConfiguration (ShowNodeGroupConfig).
func snapshotToAPI(s *keyward.Snapshot, nodeGroups bool) *ecapi.Snapshot {
	out := &ecapi.Snapshot{
		SnapshotName: ptr(s.ID), ReplicationGroupId: ptr(s.ReplicationGroupID),
		ReplicationGroupDescription: ptr(s.Description), SnapshotStatus: ptr(string(s.Status)),
		SnapshotSource: ptr(s.Source), CacheNodeType: ptr(s.CacheNodeType), Engine: ptr(string(s.Engine)),
		EngineVersion: ptr(reportedEngineVersion(s.Engine, s.EngineVersion)), Port: ptr(int32(6379)), AutoMinorVersionUpgrade: ptr(true),
		CacheParameterGroupName: ptr("default." + string(s.Engine) + majorVersion(s.EngineVersion)),
		SnapshotRetentionLimit:  ptr(int32(s.RetentionLimit)), NumNodeGroups: ptr(int32(max(1, len(s.NodeSnapshots)))),
		AutomaticFailover: ptr(enabledString(s.NumNodes > 1 || s.ClusterMode)), ARN: ptr(s.Scope.ARN(keyward.ARNSnapshot, s.ID)),
		DataTiering: ptr("disabled"), PreferredMaintenanceWindow: ptr("sun:05:00-sun:06:00"),
		NodeSnapshots: []ecapi.NodeSnapshot{},
	}
	if s.Window != "" {
		out.SnapshotWindow = ptr(s.Window)
	}
	if s.Standalone {
		// A standalone cluster's snapshot names the cluster, not a group.
		out.ReplicationGroupId, out.ReplicationGroupDescription, out.AutomaticFailover, out.NumNodeGroups = nil, nil, nil, nil
		out.CacheClusterId, out.NumCacheNodes, out.CacheClusterCreateTime = ptr(s.ClusterID), ptr(int32(1)), ptr(s.CacheCreatedAt)
	}
	if s.ClusterMode {
		out.CacheParameterGroupName = ptr(*out.CacheParameterGroupName + ".cluster.on")
	}
	// Nodes per node group: the group's nodes spread evenly over them.
	perGroup := s.NumNodes / max(1, len(s.NodeSnapshots))
	for _, n := range s.NodeSnapshots {
		ns := ecapi.NodeSnapshot{
			CacheClusterId: ptr(n.ClusterID), NodeGroupId: ptr(n.NodeGroupID), CacheNodeId: ptr("0001"),
			CacheSize: ptr(cacheSize(n.Size)), CacheNodeCreateTime: ptr(s.CacheCreatedAt),
		}
		if !n.CreatedAt.IsZero() {
			ns.SnapshotCreateTime = ptr(n.CreatedAt)
		}
		if nodeGroups {
			ns.NodeGroupConfiguration = &ecapi.NodeGroupConfiguration{
				NodeGroupId: ptr(n.NodeGroupID), ReplicaCount: ptr(int32(perGroup - 1)),
				PrimaryAvailabilityZone: ptr(s.Scope.Region + "a"),
			}
			if n.Slots != "" {
				ns.NodeGroupConfiguration.Slots = ptr(n.Slots)
			}
			for range perGroup - 1 {
				ns.NodeGroupConfiguration.ReplicaAvailabilityZones = append(ns.NodeGroupConfiguration.ReplicaAvailabilityZones, s.Scope.Region+"a")
			}
		}
		out.NodeSnapshots = append(out.NodeSnapshots, ns)
	}
	return out
}

// cacheSize renders a size as ElastiCache does ("5 MB"), rounding up so
// that a snapshot with data never shows 0.
func cacheSize(n int64) string {
	const mb = 1 << 20
	return fmt.Sprintf("%d MB", (n+mb-1)/mb)
}

// snapshotSource resolves CreateSnapshot's ReplicationGroupId or
// CacheClusterId to the group and the member the snapshot is taken from;
// a CacheClusterId that is no group's member comes back with a nil group
// (a standalone cluster, or none: see startClusterSnapshot).
func snapshotSource(ctx context.Context, tx keyward.Tx, sc keyward.Scope, rgID, clusterID *string) (*keyward.Cache, string, error) {
	switch {
	case rgID != nil && clusterID != nil:
		return nil, "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceSnapshot, "Cannot specify both ReplicationGroupId and CacheClusterId.")
	case rgID != nil:
		c, err := findCache(ctx, tx, sc, keyward.KindReplicationGroup, *rgID)
		if err != nil {
			return nil, "", err
		}
		return c, snapshotMember(c), nil
	case clusterID != nil:
		id := strings.ToLower(*clusterID)
		caches, err := tx.FindCaches(ctx, sc, keyward.KindReplicationGroup, keyward.CacheFilter{})
		if err != nil {
			return nil, "", err
		}
		for _, c := range caches {
			for _, n := range c.Nodes {
				if n.ClusterID == id {
					return c, id, nil
				}
			}
		}
		// A standalone cluster: the caller takes it (clusterSnapshot).
		return nil, id, nil
	}
	return nil, "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceSnapshot, "Either ReplicationGroupId or CacheClusterId must be specified.")
}

// snapshotArgs checks what every request that makes a snapshot carries:
// a valid name (not one of automatic snapshots' when reserveAutomatic), no
// KmsKeyId (keyward does not encrypt snapshots) and valid tags, which it
// returns.
func snapshotArgs(res keyward.Resource, name string, reserveAutomatic bool, kmsKeyID *string, tags []ecapi.Tag) ([]keyward.Tag, error) {
	if err := keyward.ValidateSnapshotName(name); err != nil {
		return nil, err
	}
	if reserveAutomatic && strings.HasPrefix(strings.ToLower(name), "automatic.") {
		return nil, keyward.Errorf(keyward.EINVALID, res, "Snapshot names beginning with automatic. are reserved for automatic snapshots.")
	}
	if kmsKeyID != nil {
		return nil, keyward.Errorf(keyward.EINVALID, res, "keyward does not encrypt snapshots: KmsKeyId is not supported.")
	}
	return parseTags(tags)
}

// snapshotMember is the member cluster a snapshot of replication group c
// is taken on: its SnapshottingClusterId, else its first node.
func snapshotMember(c *keyward.Cache) string {
	if m := c.Settings.SnapshottingClusterID; m != "" || len(c.Nodes) == 0 {
		return m
	}
	return c.Nodes[0].ClusterID
}

// startSnapshot starts, in tx, a manual snapshot name of available cache c
// taken on its node member, with its tags; deleteCacheAfter makes it a
// final snapshot (the reconciler deletes c once it is taken).
func (s *Service) startSnapshot(ctx context.Context, tx keyward.Tx, c *keyward.Cache, name, member string, tags []keyward.Tag, deleteCacheAfter bool) (*keyward.Snapshot, error) {
	snap := keyward.NewSnapshot(c, name, member, keyward.SnapshotManual, s.now())
	snap.DeleteCacheAfter = deleteCacheAfter
	if err := tx.StartSnapshot(ctx, c, snap); err != nil {
		return nil, err
	}
	k := keyward.SnapshotKindOf(c.Kind == keyward.KindServerless)
	return snap, tagNewResource(ctx, tx, c.Scope, keyward.ResourceRef{Type: k.TagType, ID: name}, tags)
}

// startClusterSnapshot starts, in tx, a manual snapshot name of the
// standalone Redis cluster id, with its tags; deleteAfter makes it a final
// snapshot (the reconciler deletes the cluster once it is taken).
func (s *Service) startClusterSnapshot(ctx context.Context, tx keyward.Tx, sc keyward.Scope, id, name string, tags []keyward.Tag, deleteAfter bool) (*keyward.Snapshot, error) {
	cl, err := getCluster(ctx, tx, sc, id)
	if err != nil {
		return nil, err
	}
	if cl.IsMemcached() {
		return nil, combination("Snapshots are not supported for the memcached engine.")
	}
	if cl.Status != keyward.ClusterAvailable {
		return nil, notAvailable(cl)
	}
	snap := keyward.NewClusterSnapshot(cl, name, keyward.SnapshotManual, s.now())
	snap.DeleteCacheAfter = deleteAfter
	if err := tx.StartClusterSnapshot(ctx, cl, snap); err != nil {
		return nil, err
	}
	return snap, tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.Snapshots.TagType, ID: name}, tags)
}

// storeSnapshotCopy stores, in tx, name as a manual copy of the available
// snapshot src of kind k (new files, made by the reconciler), with its
// tags; exists is the fault when name is taken.
func (s *Service) storeSnapshotCopy(ctx context.Context, tx keyward.Tx, k *keyward.Kind[keyward.Snapshot], src *keyward.Snapshot, name string, tags []keyward.Tag, exists error) (*keyward.Snapshot, error) {
	if _, err := k.Get(ctx, tx, src.Scope, name); err == nil {
		return nil, exists
	} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
		return nil, err
	}
	now := s.now()
	snap := src.Clone()
	snap.ID, snap.Source, snap.Status, snap.StatusSince, snap.CreatedAt = name, keyward.SnapshotManual, keyward.SnapshotCreating, now, now
	snap.CopyOf, snap.DeleteCacheAfter, snap.UsedBy, snap.FailureMessage, snap.Exports = src.ID, false, nil, "", nil
	snap.RenewFiles()
	if err := k.Create(ctx, tx, snap); err != nil {
		return nil, err
	}
	return snap, tagNewResource(ctx, tx, src.Scope, keyward.ResourceRef{Type: k.TagType, ID: name}, tags)
}

// CreateSnapshot starts a manual snapshot of a replication group (or of
// one of its member clusters).
func (s *Service) CreateSnapshot(ctx context.Context, in *ecapi.CreateSnapshotMessage) (*ecapi.CreateSnapshotResult, error) {
	out, err := s.createSnapshot(ctx, in)
	return out, apiError(err)
}

func (s *Service) createSnapshot(ctx context.Context, in *ecapi.CreateSnapshotMessage) (*ecapi.CreateSnapshotResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	name := deref(in.SnapshotName)
	tags, err := snapshotArgs(keyward.ResourceSnapshot, name, true, in.KmsKeyId, in.Tags)
	if err != nil {
		return nil, err
	}
	var snap *keyward.Snapshot
	var rg string
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		c, member, err := snapshotSource(ctx, tx, sc, in.ReplicationGroupId, in.CacheClusterId)
		if err != nil {
			return err
		}
		if c == nil {
			snap, err = s.startClusterSnapshot(ctx, tx, sc, member, name, tags, false)
			return err
		}
		if c.Status != keyward.CacheAvailable {
			if in.CacheClusterId != nil {
				return keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cache cluster %s is not in available state (its replication group is %s).", member, c.Status)
			}
			return cacheNotAvailable(c)
		}
		rg = c.ID
		snap, err = s.startSnapshot(ctx, tx, c, name, member, tags, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	source := keyward.Key{Resource: keyward.ResourceReplicationGroup, Scope: sc, ID: rg}
	if snap.Standalone {
		source = keyward.Key{Resource: keyward.ResourceCacheCluster, Scope: sc, ID: snap.ClusterID}
	}
	s.notify(snapshotKey(sc, name), source)
	return &ecapi.CreateSnapshotResult{Snapshot: snapshotToAPI(snap, false)}, nil
}

// Snapshot pages: ElastiCache's bounds for DescribeSnapshots are 20–50,
// default 50.
const maxSnapshotRecords = 50

// DescribeSnapshots lists snapshots, ordered by name.
func (s *Service) DescribeSnapshots(ctx context.Context, in *ecapi.DescribeSnapshotsMessage) (*ecapi.DescribeSnapshotsListMessage, error) {
	out, err := s.describeSnapshots(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeSnapshots(ctx context.Context, in *ecapi.DescribeSnapshotsMessage) (*ecapi.DescribeSnapshotsListMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	limit := maxSnapshotRecords
	if in.MaxRecords != nil {
		if n := int(*in.MaxRecords); n < minRecords || n > maxSnapshotRecords {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "MaxRecords must be between %d and %d.", minRecords, maxSnapshotRecords)
		} else {
			limit = n
		}
	}
	var after string
	if in.Marker != nil && *in.Marker != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*in.Marker)
		if err != nil || !strings.HasPrefix(string(raw), markerPrefix) {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid marker %s.", *in.Marker)
		}
		after = strings.TrimPrefix(string(raw), markerPrefix)
	}
	source := ""
	switch deref(in.SnapshotSource) {
	case "":
	case "user":
		source = keyward.SnapshotManual
	case "system":
		source = keyward.SnapshotAutomated
	default:
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid SnapshotSource %s: it must be user or system.", *in.SnapshotSource)
	}
	rg := strings.ToLower(deref(in.ReplicationGroupId))
	cluster := strings.ToLower(deref(in.CacheClusterId))
	q := keyward.DocQuery{Scope: sc, AfterID: after, ID: deref(in.SnapshotName)}
	if rg != "" {
		q.Where = append(q.Where, keyward.Field{Name: "replication_group", Value: rg})
	}
	if source != "" {
		q.Where = append(q.Where, keyward.Field{Name: "source", Value: source})
	}
	var snaps []*keyward.Snapshot
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		snaps, err = keyward.Snapshots.Find(ctx, tx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	if in.SnapshotName != nil && len(snaps) == 0 && after == "" {
		return nil, snapshotNotFound(*in.SnapshotName)
	}
	out := &ecapi.DescribeSnapshotsListMessage{Snapshots: []ecapi.Snapshot{}}
	for _, snap := range snaps {
		if cluster != "" && snap.ClusterID != cluster {
			continue
		}
		if len(out.Snapshots) == limit {
			out.Marker = ptr(encodeMarker(*out.Snapshots[limit-1].SnapshotName))
			break
		}
		out.Snapshots = append(out.Snapshots, *snapshotToAPI(snap, deref(in.ShowNodeGroupConfig)))
	}
	return out, nil
}

// CopySnapshot makes a manual copy of an available snapshot.
func (s *Service) CopySnapshot(ctx context.Context, in *ecapi.CopySnapshotMessage) (*ecapi.CopySnapshotResult, error) {
	out, err := s.copySnapshot(ctx, in)
	return out, apiError(err)
}

func (s *Service) copySnapshot(ctx context.Context, in *ecapi.CopySnapshotMessage) (*ecapi.CopySnapshotResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	srcName, name := deref(in.SourceSnapshotName), deref(in.TargetSnapshotName)
	if in.TargetBucket != nil {
		return s.exportSnapshot(ctx, in)
	}
	tags, err := snapshotArgs(keyward.ResourceSnapshot, name, false, in.KmsKeyId, in.Tags)
	if err != nil {
		return nil, err
	}
	var snap *keyward.Snapshot
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		src, err := restorable(ctx, tx, sc, srcName)
		if err != nil {
			return err
		}
		snap, err = s.storeSnapshotCopy(ctx, tx, keyward.Snapshots, src, name, tags,
			keyward.Errorf(keyward.EEXISTS, keyward.ResourceSnapshot, "Snapshot %s already exists.", name))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(snapshotKey(sc, name))
	return &ecapi.CopySnapshotResult{Snapshot: snapshotToAPI(snap, false)}, nil
}

// DeleteSnapshot deletes an available (or failed) snapshot that nothing is
// being made from.
func (s *Service) DeleteSnapshot(ctx context.Context, in *ecapi.DeleteSnapshotMessage) (*ecapi.DeleteSnapshotResult, error) {
	out, err := s.deleteSnapshot(ctx, in)
	return out, apiError(err)
}

func (s *Service) deleteSnapshot(ctx context.Context, in *ecapi.DeleteSnapshotMessage) (*ecapi.DeleteSnapshotResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	name := deref(in.SnapshotName)
	var snap *keyward.Snapshot
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := snapshotIn(ctx, tx, sc, name, keyward.SnapshotAvailable, keyward.SnapshotFailed)
		if err != nil {
			return err
		}
		if len(cur.UsedBy) > 0 {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceSnapshot, "Snapshot %s is in use (%s).", name, strings.Join(cur.UsedBy, ", "))
		}
		snap = cur.Clone()
		snap.Status, snap.StatusSince = keyward.SnapshotDeleting, s.now()
		return keyward.Snapshots.Update(ctx, tx, snap)
	})
	if err != nil {
		return nil, err
	}
	s.notify(snapshotKey(sc, name))
	return &ecapi.DeleteSnapshotResult{Snapshot: snapshotToAPI(snap, false)}, nil
}
