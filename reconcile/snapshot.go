package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"keyward"
)

// SnapshotEngine is what snapshots need of the data plane, beside Engine.
// An Engine that does not implement it (or none) takes snapshots without
// data: they become available with size 0, as in a control-plane-only
// test. Files are bare names in the engine's snapshot directory.
type SnapshotEngine interface {
	// SaveSnapshot writes the node's data to file, durably (whole or
	// absent), and returns its size.
	SaveSnapshot(ctx context.Context, nodeID, file string) (int64, error)
	// CopySnapshot copies a snapshot file, durably.
	CopySnapshot(ctx context.Context, from, to string) (int64, error)
	// RemoveSnapshot removes a snapshot file; a missing one is no error.
	RemoveSnapshot(file string) error
	// SeedNode makes file the data of a node that has not started yet;
	// a node that exists already is left alone (no error).
	SeedNode(ctx context.Context, nodeID, file string) error
	// Synced reports whether a replica holds its primary's data.
	Synced(ctx context.Context, nodeID string) (bool, error)
	// ExportSnapshot copies a snapshot file to object key of bucket,
	// durably.
	ExportSnapshot(ctx context.Context, file, bucket, key string) error
}

// snapshotTimeout bounds one RDB save or copy.
const snapshotTimeout = 5 * time.Minute

func (c *Controller) snapshotEngine() SnapshotEngine {
	se, _ := c.Engine.(SnapshotEngine)
	return se
}

// reconcileSnapshot takes, copies or deletes a snapshot's data, then stores
// the outcome: a snapshot is stored available only once its file is whole
// on disk.
func (c *Controller) reconcileSnapshot(ctx context.Context, k keyward.Key) (time.Duration, error) {
	kind := keyward.SnapshotKindOf(k.Resource == keyward.ResourceServerlessSnapshot)
	var snap *keyward.Snapshot
	err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		snap, err = kind.Get(ctx, tx, k.Scope, k.ID)
		return err
	})
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	if after := c.wait(snap.StatusSince); after > 0 && snap.Status != keyward.SnapshotAvailable && snap.Status != keyward.SnapshotFailed {
		return after, nil
	}
	se := c.snapshotEngine()
	switch snap.Status {
	case keyward.SnapshotDeleting:
		if se != nil {
			for _, f := range snap.Files() {
				if err := se.RemoveSnapshot(f); err != nil {
					return 0, err
				}
			}
		}
		err := c.update(ctx, func(tx keyward.Tx) error { return kind.Delete(ctx, tx, k.Scope, k.ID) })
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			err = nil
		}
		return 0, err
	case keyward.SnapshotExporting:
		return 0, c.exportSnapshot(ctx, kind, snap)
	case keyward.SnapshotCreating:
	default:
		return 0, nil
	}
	sctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	sizes := make([]int64, len(snap.NodeSnapshots))
	var cause error
	if snap.CopyOf != "" {
		var src *keyward.Snapshot
		err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
			src, err = kind.Get(ctx, tx, k.Scope, snap.CopyOf)
			return err
		})
		switch {
		case err != nil && keyward.ErrorCode(err) != keyward.ENOTFOUND:
			return 0, err
		case err != nil:
			cause = fmt.Errorf("source snapshot %s is gone", snap.CopyOf)
		case se != nil:
			from, to := src.Files(), snap.Files()
			for i := range min(len(from), len(to)) {
				if sizes[i], err = se.CopySnapshot(sctx, from[i], to[i]); err != nil {
					if cause = c.giveUp(snap, err); cause == nil {
						return 0, fmt.Errorf("reconcile: copy snapshot %s: %w", snap.ID, err)
					}
					break
				}
			}
		}
	} else if snap.Standalone {
		var cl *keyward.CacheCluster
		err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
			cl, err = keyward.Clusters.Get(ctx, tx, k.Scope, snap.ClusterID)
			return err
		})
		switch {
		case err != nil && keyward.ErrorCode(err) != keyward.ENOTFOUND:
			return 0, err
		case err != nil:
			cause = fmt.Errorf("cache cluster %s is gone", snap.ClusterID)
		case se != nil:
			if sizes[0], err = se.SaveSnapshot(sctx, cl.NodeID("0001"), snap.Files()[0]); err != nil {
				if cause = c.giveUp(snap, err); cause == nil {
					return 0, fmt.Errorf("reconcile: snapshot %s of %s: %w", snap.ID, snap.ClusterID, err)
				}
			}
		}
	} else {
		var cache *keyward.Cache
		err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
			cache, err = tx.FindCacheByID(ctx, k.Scope, snapshotCacheKind(snap), snap.ReplicationGroupID)
			return err
		})
		switch {
		case err != nil && keyward.ErrorCode(err) != keyward.ENOTFOUND:
			return 0, err
		case err != nil:
			cause = fmt.Errorf("replication group %s is gone", snap.ReplicationGroupID)
		case se != nil:
			// One RDB per node group, each from the node snapshot's
			// cluster, all whole before the snapshot is available.
			files := snap.Files()
			for i, ns := range snap.NodeSnapshots {
				if sizes[i], err = se.SaveSnapshot(sctx, cache.NodeID(ns.ClusterID), files[i]); err != nil {
					if cause = c.giveUp(snap, err); cause == nil {
						return 0, fmt.Errorf("reconcile: snapshot %s of %s: %w", snap.ID, ns.ClusterID, err)
					}
					break
				}
			}
		}
	}
	var cacheKey *keyward.Key
	err = c.update(ctx, func(tx keyward.Tx) error {
		cacheKey = nil
		cur, err := kind.Get(ctx, tx, k.Scope, k.ID)
		if err != nil || cur.Status != keyward.SnapshotCreating {
			return err
		}
		next := cur.Clone()
		now := c.Now().UTC()
		next.StatusSince = now
		if cause != nil {
			next.Status, next.FailureMessage = keyward.SnapshotFailed, cause.Error()
		} else {
			next.Status = keyward.SnapshotAvailable
			for i := range next.NodeSnapshots {
				next.NodeSnapshots[i].Size, next.NodeSnapshots[i].CreatedAt = sizes[i], now
			}
		}
		if err := kind.Update(ctx, tx, next); err != nil {
			return err
		}
		if cur.CopyOf != "" {
			return nil
		}
		if cur.Standalone {
			cacheKey, err = clusterSnapshotted(ctx, tx, cur, cause == nil, now)
			return err
		}
		// The group leaves snapshotting: available again, or deleting
		// after its final snapshot.
		cache, err := tx.FindCacheByID(ctx, k.Scope, snapshotCacheKind(cur), cur.ReplicationGroupID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		} else if err != nil || cache.Status != keyward.CacheSnapshotting {
			return err
		}
		cache.Status, cache.StatusSince, cache.FinalSnapshot = keyward.CacheAvailable, now, ""
		if cur.DeleteCacheAfter && cause == nil { // a failed final snapshot keeps the group
			cache.Status, cache.Generation = keyward.CacheDeleting, cache.Generation+1
		}
		cacheKey = &keyward.Key{Resource: cache.Kind.Resource(), Scope: k.Scope, ID: cache.ID}
		return tx.UpdateCache(ctx, cache)
	})
	if cacheKey != nil {
		c.q.add(*cacheKey)
	}
	return 0, err
}

// clusterSnapshotted moves the standalone cluster snap was taken from out
// of snapshotting, in tx: available again, or deleting after its final
// snapshot (taken: a failed one keeps the cluster). It returns the
// cluster's key when it changed.
func clusterSnapshotted(ctx context.Context, tx keyward.Tx, snap *keyward.Snapshot, taken bool, now time.Time) (*keyward.Key, error) {
	cl, err := keyward.Clusters.Get(ctx, tx, snap.Scope, snap.ClusterID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, nil
	} else if err != nil || cl.Status != keyward.ClusterSnapshotting {
		return nil, err
	}
	next := cl.Clone()
	next.Status, next.StatusSince = keyward.ClusterAvailable, now
	if snap.DeleteCacheAfter && taken {
		next.Status, next.Generation = keyward.ClusterDeleting, next.Generation+1
	}
	return &keyward.Key{Resource: keyward.ResourceCacheCluster, Scope: snap.Scope, ID: cl.ID}, keyward.Clusters.Update(ctx, tx, next)
}

// snapshotCacheKind is the kind of cache a snapshot is taken from.
func snapshotCacheKind(s *keyward.Snapshot) keyward.CacheKind {
	if s.Serverless {
		return keyward.KindServerless
	}
	return keyward.KindReplicationGroup
}

// snapshotGiveUp is how long a snapshot is retried before it is failed
// (and its group available again).
const snapshotGiveUp = 2 * snapshotTimeout

// giveUp returns the cause to fail snap with once it has been retried
// long enough, nil while it should be retried.
func (c *Controller) giveUp(snap *keyward.Snapshot, err error) error {
	if c.Now().Sub(snap.StatusSince) < snapshotGiveUp {
		return nil
	}
	c.Logger.Error("reconcile: snapshot failed", "snapshot", snap.ID, "err", err)
	return errors.New("the snapshot could not be taken from the node")
}

// errReplicaSyncing makes a restoring group's pass retry until its replicas
// hold the snapshot's data.
var errReplicaSyncing = errors.New("replica still loading its primary's data")

// seedNode gives the primary of a group being restored from a snapshot the
// snapshot's data before it first starts.
func (c *Controller) seedNode(ctx context.Context, cache *keyward.Cache, i int, nodeID string) error {
	se := c.snapshotEngine()
	if se == nil || i != 0 || cache.Status != keyward.CacheCreating || cache.RestoreFile == "" || cache.Nodes[0].Port != 0 {
		return nil
	}
	return se.SeedNode(ctx, nodeID, cache.RestoreFile)
}

// restored reports an error while a replica of a group being restored has
// not loaded the data yet, so the group becomes available only with the
// data on every node.
func (c *Controller) restored(ctx context.Context, cache *keyward.Cache, i int, nodeID string) error {
	se := c.snapshotEngine()
	if se == nil || i == 0 || cache.Status != keyward.CacheCreating || cache.RestoreFile == "" {
		return nil
	}
	ok, err := se.Synced(ctx, nodeID)
	if err == nil && !ok {
		err = errReplicaSyncing
	}
	return err
}

// exportSnapshot writes an exporting snapshot's files to the buckets asked
// for (each object whole or absent), then makes it available again. An
// export that keeps failing is given up after snapshotGiveUp (logged, the
// objects written so far stay).
func (c *Controller) exportSnapshot(ctx context.Context, kind *keyward.Kind[keyward.Snapshot], snap *keyward.Snapshot) error {
	se := c.snapshotEngine()
	sctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	if se != nil {
		for _, e := range snap.Exports {
			for i, f := range snap.Files() {
				if err := se.ExportSnapshot(sctx, f, e.Bucket, keyward.ExportKey(e.Name, i)); err != nil {
					if c.giveUp(snap, err) == nil {
						return fmt.Errorf("reconcile: export snapshot %s to %s: %w", snap.ID, e.Bucket, err)
					}
					c.Logger.Error("reconcile: export given up", "snapshot", snap.ID, "bucket", e.Bucket, "err", err)
				}
			}
		}
	}
	return c.update(ctx, func(tx keyward.Tx) error {
		cur, err := kind.Get(ctx, tx, snap.Scope, snap.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		} else if err != nil || cur.Status != keyward.SnapshotExporting {
			return err
		}
		next := cur.Clone()
		// Exports asked for meanwhile stay for the next pass.
		next.Exports = next.Exports[min(len(snap.Exports), len(next.Exports)):]
		if len(next.Exports) == 0 {
			next.Status, next.StatusSince, next.Exports = keyward.SnapshotAvailable, c.Now().UTC(), nil
		}
		return kind.Update(ctx, tx, next)
	})
}
