package api

import (
	"context"
	"regexp"
	"strings"

	"keyward"
)

// Restores, final snapshots and the settings of automatic backups.

// restorable returns the snapshot a new group may be created from:
// SnapshotNotFound if absent, InvalidSnapshotState unless available.
func restorable(ctx context.Context, tx keyward.Tx, sc keyward.Scope, name string) (*keyward.Snapshot, error) {
	snap, err := keyward.Snapshots.Get(ctx, tx, sc, name)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, snapshotNotFound(name)
	} else if err != nil {
		return nil, err
	}
	if snap.Status != keyward.SnapshotAvailable {
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceSnapshot, "Snapshot %s is not in available state (it is %s).", name, snap.Status)
	}
	return snap, nil
}

// backupSettings are SnapshotRetentionLimit and SnapshotWindow as given.
type backupSettings struct {
	limit  *int32
	window *string
}

// defaultSnapshotWindow is the window of a group that asks for automatic
// snapshots without naming one; ElastiCache picks one per region.
const defaultSnapshotWindow = "03:00-04:00"

// maxSnapshotRetention is ElastiCache's limit of days of automatic snapshots.
const maxSnapshotRetention = 35

var windowPattern = regexp.MustCompile(`^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$`)

// ParseSnapshotWindow returns the start and end of a "hh:mm-hh:mm" window
// in minutes of the day (UTC); it must last at least 60 minutes.
func parseSnapshotWindow(w string) (start, end int, err error) {
	m := windowPattern.FindStringSubmatch(w)
	if m == nil {
		return 0, 0, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Invalid snapshot window %s: it must be hh24:mi-hh24:mi (UTC).", w)
	}
	atoi := func(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }
	start, end = atoi(m[1])*60+atoi(m[2]), atoi(m[3])*60+atoi(m[4])
	if d := (end - start + 24*60) % (24 * 60); d < 60 {
		return 0, 0, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "The snapshot window %s must be at least 60 minutes long.", w)
	}
	return start, end, nil
}

func parseBackupSettings(limit *int32, window *string) (backupSettings, error) {
	if limit != nil && (*limit < 0 || *limit > maxSnapshotRetention) {
		return backupSettings{}, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "SnapshotRetentionLimit must be between 0 and %d.", maxSnapshotRetention)
	}
	if window != nil {
		if _, _, err := parseSnapshotWindow(*window); err != nil {
			return backupSettings{}, err
		}
	}
	return backupSettings{limit, window}, nil
}

// apply sets c's backup settings; a limit without a window gets the default.
func (b backupSettings) apply(c *keyward.Cache) {
	if b.limit != nil {
		c.SnapshotRetentionLimit = int(*b.limit)
	}
	if b.window != nil {
		c.SnapshotWindow = *b.window
	}
	if c.SnapshotRetentionLimit > 0 && c.SnapshotWindow == "" {
		c.SnapshotWindow = defaultSnapshotWindow
	}
}

// deleteWithFinalSnapshot takes a final snapshot of an available group,
// which the reconciler deletes once the snapshot is taken. The answer shows
// the group deleting, as ElastiCache's does.
func (s *Service) deleteWithFinalSnapshot(ctx context.Context, rawID, name string) (*keyward.Cache, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := keyward.ValidateSnapshotName(name); err != nil {
		return nil, err
	}
	id := strings.ToLower(rawID)
	var c *keyward.Cache
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return notFound(keyward.KindReplicationGroup, id)
		} else if err != nil {
			return err
		}
		if cur.Status != keyward.CacheAvailable {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is not in available state (it is %s).", id, cur.Status)
		}
		member := cur.SnapshottingClusterID
		if member == "" {
			member = cur.Nodes[0].ClusterID
		}
		snap := newSnapshot(cur, name, member, keyward.SnapshotManual, s.now())
		snap.DeleteCacheAfter = true
		if err := startSnapshot(ctx, tx, cur, snap); err != nil {
			return err
		}
		c = cur.Clone()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(snapshotKey(sc, name), cacheKey(c))
	c.Status = keyward.CacheDeleting
	return c, nil
}
