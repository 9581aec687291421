package api

import (
	"context"

	"keyward"
	"keyward/ecapi"
)

// Restores of new caches from a snapshot (SnapshotName) or from RDB
// objects in buckets (SnapshotArns of arn:aws:s3::: form).

// restore is what a new cache is created from: a snapshot (whose files are
// the sources) or S3 objects.
type restore struct {
	snap    *keyward.Snapshot
	sources []string // snapshot files or keyward.S3Source values
}

// restoreFrom resolves SnapshotName / SnapshotArns; nil when neither is
// given.
func (s *Service) restoreFrom(ctx context.Context, sc keyward.Scope, res keyward.Resource, name *string, arns []string) (*restore, error) {
	switch {
	case name != nil && len(arns) > 0:
		return nil, keyward.Errorf(keyward.ECOMBINATION, res, "SnapshotName and SnapshotArns cannot be used together.")
	case name != nil:
		var snap *keyward.Snapshot
		if err := s.Store.View(ctx, func(tx keyward.Tx) (err error) { snap, err = restorable(ctx, tx, sc, *name); return err }); err != nil {
			return nil, err
		}
		return &restore{snap: snap, sources: snap.Files()}, nil
	case len(arns) > 0:
		src, err := s.s3Sources(arns)
		if err != nil {
			return nil, err
		}
		return &restore{sources: src}, nil
	}
	return nil, nil
}

// clusterModeSnapshot reports whether SnapshotName names a snapshot of a
// cluster-mode group, which restores into cluster mode.
func (s *Service) clusterModeSnapshot(ctx context.Context, sc keyward.Scope, name *string) bool {
	if name == nil {
		return false
	}
	var snap *keyward.Snapshot
	err := s.Store.View(ctx, func(tx keyward.Tx) (err error) { snap, err = keyward.Snapshots.Get(ctx, tx, sc, *name); return err })
	return err == nil && snap.ClusterMode
}

// restoreDefaults gives a cluster-mode group restored from a cluster-mode
// snapshot the snapshot's node groups (count, slots, replicas) where the
// request names none.
func restoreDefaults(in *ecapi.CreateReplicationGroupMessage, rs *restore) *ecapi.CreateReplicationGroupMessage {
	if rs == nil || rs.snap == nil || !rs.snap.ClusterMode || in.NumNodeGroups != nil || len(in.NodeGroupConfiguration) > 0 {
		return in
	}
	out := *in
	snap := rs.snap
	out.NumNodeGroups = ptr(int32(len(snap.NodeSnapshots)))
	for _, ns := range snap.NodeSnapshots {
		out.NodeGroupConfiguration = append(out.NodeGroupConfiguration, ecapi.NodeGroupConfiguration{Slots: ptr(ns.Slots)})
	}
	if out.ReplicasPerNodeGroup == nil {
		out.ReplicasPerNodeGroup = ptr(int32(snap.NumNodes/len(snap.NodeSnapshots) - 1))
	}
	return &out
}

// applyRestore makes a new cluster-mode group load rs key by key, with the
// snapshot's engine, version and node type unless given.
func applyRestore(c *keyward.Cache, rs *restore, engineGiven bool) error {
	if rs == nil {
		return nil
	}
	c.RestoreFiles = rs.sources
	snap := rs.snap
	if snap == nil {
		return nil
	}
	if engineGiven && snap.Engine != c.Engine {
		return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "Snapshot %s is of engine %s, not %s.", snap.ID, snap.Engine, c.Engine)
	}
	c.Engine, c.RestoreSnapshot = snap.Engine, snap.ID
	if c.EngineVersion == "" {
		c.EngineVersion = snap.EngineVersion
	}
	if c.CacheNodeType == "" {
		c.CacheNodeType = snap.CacheNodeType
	}
	return nil
}
