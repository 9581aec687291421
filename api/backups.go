package api

import (
	"context"
	"slices"

	"keyward"
)

// Restores and final snapshots.

// restorable returns the snapshot a new group may be created from (or a
// copy made of): SnapshotNotFound if absent, InvalidSnapshotState unless
// available.
func restorable(ctx context.Context, tx keyward.Tx, sc keyward.Scope, name string) (*keyward.Snapshot, error) {
	return snapshotIn(ctx, tx, sc, name, keyward.SnapshotAvailable)
}

// snapshotIn returns the snapshot name if it is in one of the statuses ok:
// SnapshotNotFound if absent, InvalidSnapshotState otherwise.
func snapshotIn(ctx context.Context, tx keyward.Tx, sc keyward.Scope, name string, ok ...keyward.SnapshotStatus) (*keyward.Snapshot, error) {
	snap, err := keyward.Snapshots.Get(ctx, tx, sc, name)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, snapshotNotFound(name)
	} else if err != nil {
		return nil, err
	}
	if !slices.Contains(ok, snap.Status) {
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceSnapshot, "Snapshot %s is not in available state (it is %s).", name, snap.Status)
	}
	return snap, nil
}

// deleteWithFinalSnapshot takes a final snapshot of an available
// replication group or serverless cache, which the reconciler deletes once
// the snapshot is taken. The answer shows the cache deleting, as
// ElastiCache's does.
func (s *Service) deleteWithFinalSnapshot(ctx context.Context, kind keyward.CacheKind, rawID, name string) (*keyward.Cache, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := keyward.ValidateSnapshotName(name); err != nil {
		return nil, err
	}
	serverless := kind == keyward.KindServerless
	var c *keyward.Cache
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := findCache(ctx, tx, sc, kind, rawID)
		if err != nil {
			return err
		}
		if cur.Status != keyward.CacheAvailable {
			return cacheNotAvailable(cur)
		}
		if err := notInGlobal(cur); err != nil {
			return err
		}
		if _, err := s.startSnapshot(ctx, tx, cur, name, snapshotMember(cur), nil, true); err != nil {
			return err
		}
		c = cur.Clone()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(keyward.Key{Resource: keyward.SnapshotKindOf(serverless).Name, Scope: sc, ID: name}, cacheKey(c))
	c.Status = keyward.CacheDeleting
	return c, nil
}
