package reconcile

import (
	"context"
	"fmt"
	"time"

	"keyward"
)

// Automatic backups. A replication group with SnapshotRetentionLimit > 0
// gets one automated snapshot a day, taken in its SnapshotWindow (UTC) and
// named as ElastiCache names them, automatic.<group>-YYYY-MM-DD-HH-MM;
// automated snapshots older than the limit in days, and those of groups
// that no longer exist, are deleted. It runs with the data resync, on the
// controller's clock (Now), so tests drive it by moving the clock.

// AutomaticSnapshotName is the name of the automated snapshot of rg begun at t.
func AutomaticSnapshotName(rg string, t time.Time) string {
	return fmt.Sprintf("automatic.%s-%s", rg, t.UTC().Format("2006-01-02-15-04"))
}

// windowStart returns the start of the occurrence of a daily window that
// contains now, if now is in the window.
func windowStart(window string, now time.Time) (time.Time, bool) {
	span, err := keyward.ParseSnapshotWindow(window)
	if err != nil {
		return time.Time{}, false
	}
	const day = 24 * 60
	now = now.UTC().Truncate(time.Minute)
	minute := now.Hour()*60 + now.Minute()
	into := (minute - span[0] + day) % day
	if into >= (span[1]-span[0]+day)%day {
		return time.Time{}, false
	}
	return now.Add(-time.Duration(into) * time.Minute), true
}

// backups starts due automatic snapshots and deletes expired ones. It
// reads in one View and writes only when something is due.
func (c *Controller) backups(ctx context.Context, caches []*keyward.Cache) {
	now := c.Now().UTC()
	type ref struct {
		sc keyward.Scope
		id string
	}
	groups := map[ref]*keyward.Cache{}
	for _, cache := range caches {
		if cache.Kind == keyward.KindReplicationGroup {
			groups[ref{cache.Scope, cache.ID}] = cache
		}
	}
	var automated []*keyward.Snapshot
	err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		automated, err = keyward.Snapshots.Find(ctx, tx, keyward.DocQuery{AllScopes: true, Where: []keyward.Field{{Name: "source", Value: keyward.SnapshotAutomated}}})
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			c.Logger.Warn("reconcile: automatic snapshots", "err", err)
		}
		return
	}
	latest := map[ref]time.Time{}
	for _, s := range automated {
		r := ref{s.Scope, s.ReplicationGroupID}
		if s.CreatedAt.After(latest[r]) {
			latest[r] = s.CreatedAt
		}
		cache := groups[r]
		switch {
		case s.Status != keyward.SnapshotAvailable && s.Status != keyward.SnapshotFailed || len(s.UsedBy) > 0:
		case cache != nil && cache.Settings.SnapshotRetentionLimit == 0:
			// Backups turned off: what exists is kept.
		case cache != nil && now.Sub(s.CreatedAt) < time.Duration(cache.Settings.SnapshotRetentionLimit)*24*time.Hour:
		default:
			if err := c.expireAutomatic(ctx, s, now); err != nil && ctx.Err() == nil {
				c.Logger.Warn("reconcile: expire automatic snapshot", "snapshot", s.ID, "err", err)
			}
		}
	}
	for r, cache := range groups {
		if cache.Settings.SnapshotRetentionLimit <= 0 || cache.Status != keyward.CacheAvailable {
			continue
		}
		start, ok := windowStart(cache.Settings.SnapshotWindow, now)
		if !ok || !latest[r].Before(start) {
			continue
		}
		if err := c.startAutomatic(ctx, cache, start, now); err != nil && ctx.Err() == nil {
			c.Logger.Warn("reconcile: automatic snapshot", "cache", cache.ID, "err", err)
		}
	}
}

// startAutomatic takes today's automated snapshot of the group, unless one
// was begun in this window already.
func (c *Controller) startAutomatic(ctx context.Context, seen *keyward.Cache, windowStart, now time.Time) error {
	var started *keyward.Snapshot
	err := c.Store.Update(ctx, func(tx keyward.Tx) error {
		started = nil
		cache, err := tx.FindCacheByID(ctx, seen.Scope, keyward.KindReplicationGroup, seen.ID)
		if err != nil || cache.Status != keyward.CacheAvailable || cache.Settings.SnapshotRetentionLimit <= 0 {
			return err
		}
		snaps, err := tx.FindSnapshots(ctx, cache.Scope, cache.ID)
		if err != nil {
			return err
		}
		for _, s := range snaps {
			if s.Source == keyward.SnapshotAutomated && !s.CreatedAt.Before(windowStart) {
				return nil
			}
		}
		member := cache.Settings.SnapshottingClusterID
		if member == "" {
			member = cache.Nodes[0].ClusterID
		}
		snap := keyward.NewSnapshot(cache, AutomaticSnapshotName(cache.ID, now), member, keyward.SnapshotAutomated, now)
		if err := tx.StartSnapshot(ctx, cache, snap); err != nil {
			return err
		}
		started = snap
		return nil
	})
	if started != nil {
		c.Logger.Info("reconcile: automatic snapshot", "cache", seen.ID, "snapshot", started.ID)
		c.q.add(keyward.Key{Resource: keyward.ResourceSnapshot, Scope: seen.Scope, ID: started.ID})
		c.q.add(keyward.Key{Resource: keyward.ResourceReplicationGroup, Scope: seen.Scope, ID: seen.ID})
	}
	return err
}

// expireAutomatic deletes an automated snapshot past its retention, or
// whose group is gone (ElastiCache deletes automatic backups with their
// cluster).
func (c *Controller) expireAutomatic(ctx context.Context, seen *keyward.Snapshot, now time.Time) error {
	done := false
	err := c.Store.Update(ctx, func(tx keyward.Tx) error {
		done = false
		s, err := keyward.Snapshots.Get(ctx, tx, seen.Scope, seen.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		} else if err != nil || s.Status != keyward.SnapshotAvailable && s.Status != keyward.SnapshotFailed || len(s.UsedBy) > 0 {
			return err
		}
		s.Status, s.StatusSince, done = keyward.SnapshotDeleting, now, true
		return keyward.Snapshots.Update(ctx, tx, s)
	})
	if done {
		c.q.add(keyward.Key{Resource: keyward.ResourceSnapshot, Scope: seen.Scope, ID: seen.ID})
	}
	return err
}
