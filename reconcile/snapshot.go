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
			if err := se.RemoveSnapshot(snap.File); err != nil {
				return 0, err
			}
		}
		err := c.update(ctx, func(tx keyward.Tx) error { return kind.Delete(ctx, tx, k.Scope, k.ID) })
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			err = nil
		}
		return 0, err
	case keyward.SnapshotCreating:
	default:
		return 0, nil
	}
	sctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	var size int64
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
			if size, err = se.CopySnapshot(sctx, src.File, snap.File); err != nil {
				if cause = c.giveUp(snap, err); cause == nil {
					return 0, fmt.Errorf("reconcile: copy snapshot %s: %w", snap.ID, err)
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
			if size, err = se.SaveSnapshot(sctx, cache.NodeID(snap.ClusterID), snap.File); err != nil {
				if cause = c.giveUp(snap, err); cause == nil {
					return 0, fmt.Errorf("reconcile: snapshot %s of %s: %w", snap.ID, snap.ClusterID, err)
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
				next.NodeSnapshots[i].Size, next.NodeSnapshots[i].CreatedAt = size, now
			}
		}
		if err := kind.Update(ctx, tx, next); err != nil {
			return err
		}
		if cur.CopyOf != "" {
			return nil
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
