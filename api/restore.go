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

// restoreFrom resolves SnapshotName / SnapshotArns (and, for
// CreateReplicationGroup, ServerlessCacheSnapshotName, after them); nil
// when none is given.
func (s *Service) restoreFrom(ctx context.Context, sc keyward.Scope, res keyward.Resource, name *string, arns []string, serverless ...*string) (*restore, error) {
	var sv *string
	if len(serverless) > 0 {
		sv = serverless[0]
	}
	given := 0
	for _, set := range []bool{name != nil, len(arns) > 0, sv != nil} {
		if set {
			given++
		}
	}
	switch {
	case given > 1:
		return nil, keyward.Errorf(keyward.ECOMBINATION, res, "Only one of SnapshotName, SnapshotArns and ServerlessCacheSnapshotName can be given.")
	case sv != nil:
		var snap *keyward.Snapshot
		err := s.Store.View(ctx, func(tx keyward.Tx) (err error) {
			snap, err = keyward.ServerlessSnapshots.Get(ctx, tx, sc, *sv)
			return err
		})
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil, serverlessSnapshotNotFound(*sv)
		} else if err != nil {
			return nil, err
		}
		if snap.Status != keyward.SnapshotAvailable {
			return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceServerlessSnapshot, "Serverless cache snapshot %s is not in available state (it is %s).", *sv, snap.Status)
		}
		return &restore{snap: snap, sources: snap.Files()}, nil
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
	c.Engine, c.RestoreSnapshot, c.RestoreServerless = snap.Engine, snap.ID, snap.Serverless
	if c.EngineVersion == "" {
		c.EngineVersion = snap.EngineVersion
	}
	if c.CacheNodeType == "" && !snap.Serverless { // a serverless cache has no node type
		c.CacheNodeType = snap.CacheNodeType
	}
	return nil
}

// stillRestorable checks, in the creating transaction, that the snapshot a
// new cache restores is still there and available: from then on the
// cache's reference holds it.
func stillRestorable(ctx context.Context, tx keyward.Tx, c *keyward.Cache) error {
	if c.RestoreSnapshot == "" {
		return nil
	}
	if !c.RestoreServerless {
		_, err := restorable(ctx, tx, c.Scope, c.RestoreSnapshot)
		return err
	}
	snap, err := keyward.ServerlessSnapshots.Get(ctx, tx, c.Scope, c.RestoreSnapshot)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return serverlessSnapshotNotFound(c.RestoreSnapshot)
	} else if err != nil {
		return err
	}
	if snap.Status != keyward.SnapshotAvailable {
		return keyward.Errorf(keyward.ESTATE, keyward.ResourceServerlessSnapshot, "Serverless cache snapshot %s is not in available state (it is %s).", c.RestoreSnapshot, snap.Status)
	}
	return nil
}
