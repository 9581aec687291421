package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	"keyward"
)

// Automatic backups. A replication group (or serverless cache) with
// SnapshotRetentionLimit > 0 gets one automated snapshot a day, taken in
// its SnapshotWindow (UTC; a serverless cache's hour from its
// DailySnapshotTime) and
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

// snapshotWindow is a cache's daily snapshot window: a serverless cache's
// is the hour from its DailySnapshotTime.
func snapshotWindow(c *keyward.Cache) string {
	if c.Kind != keyward.KindServerless {
		return c.Settings.SnapshotWindow
	}
	t, err := time.Parse("15:04", c.Settings.DailySnapshotTime)
	if err != nil {
		return ""
	}
	return t.Format("15:04") + "-" + t.Add(time.Hour).Format("15:04")
}

// backups starts due automatic snapshots and deletes expired ones. It
// reads in one View and writes only when something is due.
func (c *Controller) backups(ctx context.Context, caches []*keyward.Cache) {
	now := c.Now().UTC()
	c.pruneEvents(ctx, now)
	type ref struct {
		sc                     keyward.Scope
		serverless, standalone bool
		id                     string
	}
	groups := map[ref]*keyward.Cache{}
	retention := map[ref]int{} // of every group, serverless cache and standalone Redis cluster
	for _, cache := range caches {
		r := ref{cache.Scope, cache.Kind == keyward.KindServerless, false, cache.ID}
		groups[r], retention[r] = cache, cache.Settings.SnapshotRetentionLimit
	}
	clusters := map[ref]*keyward.CacheCluster{}
	var automated []*keyward.Snapshot
	err := c.Store.View(ctx, func(tx keyward.Tx) error {
		all, err := keyward.Clusters.Find(ctx, tx, keyward.DocQuery{AllScopes: true})
		if err != nil {
			return err
		}
		for _, cl := range all {
			if !cl.IsMemcached() {
				r := ref{cl.Scope, false, true, cl.ID}
				clusters[r], retention[r] = cl, cl.Settings.SnapshotRetentionLimit
			}
		}
		for _, k := range []*keyward.Kind[keyward.Snapshot]{keyward.Snapshots, keyward.ServerlessSnapshots} {
			snaps, err := k.Find(ctx, tx, keyward.DocQuery{AllScopes: true, Where: []keyward.Field{{Name: "source", Value: keyward.SnapshotAutomated}}})
			if err != nil {
				return err
			}
			automated = append(automated, snaps...)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			c.Logger.Warn("reconcile: automatic snapshots", "err", err)
		}
		return
	}
	latest := map[ref]time.Time{}
	for _, s := range automated {
		r := ref{s.Scope, s.Serverless, false, s.ReplicationGroupID}
		if s.Standalone {
			r = ref{s.Scope, false, true, s.ClusterID}
		}
		if s.CreatedAt.After(latest[r]) {
			latest[r] = s.CreatedAt
		}
		limit, exists := retention[r]
		switch {
		case s.Status != keyward.SnapshotAvailable && s.Status != keyward.SnapshotFailed || len(s.UsedBy) > 0:
		case exists && limit == 0:
			// Backups turned off: what exists is kept.
		case exists && now.Sub(s.CreatedAt) < time.Duration(limit)*24*time.Hour:
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
		start, ok := windowStart(snapshotWindow(cache), now)
		if !ok || !latest[r].Before(start) {
			continue
		}
		if err := c.startAutomatic(ctx, cache, start, now); err != nil && ctx.Err() == nil {
			c.Logger.Warn("reconcile: automatic snapshot", "cache", cache.ID, "err", err)
		}
	}
	for r, cl := range clusters {
		if cl.Settings.SnapshotRetentionLimit <= 0 || cl.Status != keyward.ClusterAvailable {
			continue
		}
		start, ok := windowStart(cl.Settings.Effective(cl.ID).SnapshotWindow, now)
		if !ok || !latest[r].Before(start) {
			continue
		}
		if err := c.startClusterAutomatic(ctx, cl, start, now); err != nil && ctx.Err() == nil {
			c.Logger.Warn("reconcile: automatic snapshot", "cluster", cl.ID, "err", err)
		}
	}
}

// automaticSince reports whether an automated snapshot of kind k of one
// source (the snapshots whose index holds source) was begun at or after
// windowStart: today's is taken already.
func automaticSince(ctx context.Context, tx keyward.Tx, k *keyward.Kind[keyward.Snapshot], sc keyward.Scope, source keyward.Field, windowStart time.Time) (bool, error) {
	snaps, err := k.Find(ctx, tx, keyward.DocQuery{Scope: sc, Where: []keyward.Field{source, {Name: "source", Value: keyward.SnapshotAutomated}}})
	if err != nil {
		return false, err
	}
	for _, s := range snaps {
		if !s.CreatedAt.Before(windowStart) {
			return true, nil
		}
	}
	return false, nil
}

// startClusterAutomatic takes today's automated snapshot of a standalone
// Redis cluster, unless one was begun in this window already.
func (c *Controller) startClusterAutomatic(ctx context.Context, seen *keyward.CacheCluster, windowStart, now time.Time) error {
	var started *keyward.Snapshot
	err := c.update(ctx, func(tx keyward.Tx) error {
		started = nil
		cl, err := keyward.Clusters.Get(ctx, tx, seen.Scope, seen.ID)
		if err != nil || cl.Status != keyward.ClusterAvailable || cl.Settings.SnapshotRetentionLimit <= 0 {
			return err
		}
		if taken, err := automaticSince(ctx, tx, keyward.Snapshots, cl.Scope, keyward.Field{Name: "cache_cluster", Value: cl.ID}, windowStart); err != nil || taken {
			return err
		}
		snap := keyward.NewClusterSnapshot(cl, AutomaticSnapshotName(cl.ID, now), keyward.SnapshotAutomated, now)
		if err := tx.StartClusterSnapshot(ctx, cl, snap); err != nil {
			return err
		}
		started = snap
		return nil
	})
	if started != nil {
		c.Logger.Info("reconcile: automatic snapshot", "cluster", seen.ID, "snapshot", started.ID)
		c.q.add(keyward.Key{Resource: keyward.ResourceSnapshot, Scope: seen.Scope, ID: started.ID})
		c.q.add(keyward.Key{Resource: keyward.ResourceCacheCluster, Scope: seen.Scope, ID: seen.ID})
	}
	return err
}

// startAutomatic takes today's automated snapshot of the group, unless one
// was begun in this window already.
func (c *Controller) startAutomatic(ctx context.Context, seen *keyward.Cache, windowStart, now time.Time) error {
	var started *keyward.Snapshot
	err := c.update(ctx, func(tx keyward.Tx) error {
		started = nil
		cache, err := tx.FindCacheByID(ctx, seen.Scope, seen.Kind, seen.ID)
		if err != nil || cache.Status != keyward.CacheAvailable || cache.Settings.SnapshotRetentionLimit <= 0 {
			return err
		}
		if taken, err := automaticSince(ctx, tx, keyward.SnapshotKindOf(cache.Kind == keyward.KindServerless), cache.Scope,
			keyward.Field{Name: "replication_group", Value: cache.ID}, windowStart); err != nil || taken {
			return err
		}
		member := cache.Settings.SnapshottingClusterID
		if member == "" || cache.Kind == keyward.KindServerless {
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
		c.q.add(keyward.Key{Resource: keyward.SnapshotKindOf(started.Serverless).Name, Scope: seen.Scope, ID: started.ID})
		c.q.add(keyward.Key{Resource: seen.Kind.Resource(), Scope: seen.Scope, ID: seen.ID})
	}
	return err
}

// expireAutomatic deletes an automated snapshot past its retention, or
// whose group is gone (ElastiCache deletes automatic backups with their
// cluster).
func (c *Controller) expireAutomatic(ctx context.Context, seen *keyward.Snapshot, now time.Time) error {
	done := false
	err := c.update(ctx, func(tx keyward.Tx) error {
		done = false
		k := keyward.SnapshotKindOf(seen.Serverless)
		s, err := k.Get(ctx, tx, seen.Scope, seen.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		} else if err != nil || s.Status != keyward.SnapshotAvailable && s.Status != keyward.SnapshotFailed || len(s.UsedBy) > 0 {
			return err
		}
		s.Status, s.StatusSince, done = keyward.SnapshotDeleting, now, true
		return k.Update(ctx, tx, s)
	})
	if done {
		c.q.add(keyward.Key{Resource: keyward.SnapshotKindOf(seen.Serverless).Name, Scope: seen.Scope, ID: seen.ID})
	}
	return err
}

// Events older than keyward.EventRetention are deleted here, by the one
// reconciler that leads, at most every eventPruneEvery and eventPruneBatch
// per scope and pass: writers never contend for old rows.
const (
	eventPruneEvery = time.Minute
	eventPruneBatch = 500
)

var lastPrune sync.Map // *Controller → time.Time of its last event prune

func (c *Controller) pruneEvents(ctx context.Context, now time.Time) {
	if last, ok := lastPrune.Load(c); ok && now.Sub(last.(time.Time)) < eventPruneEvery && !now.Before(last.(time.Time)) {
		return
	}
	lastPrune.Store(c, now)
	// Every scope that ever served a request has its default user.
	var scopes []keyward.Scope
	err := c.Store.View(ctx, func(tx keyward.Tx) error {
		scopes = scopes[:0]
		users, err := keyward.Users.Find(ctx, tx, keyward.DocQuery{AllScopes: true, ID: keyward.DefaultUserID})
		for _, u := range users {
			scopes = append(scopes, u.Scope)
		}
		return err
	})
	cutoff := now.Add(-keyward.EventRetention)
	for _, sc := range scopes {
		if err != nil || ctx.Err() != nil {
			break
		}
		var expired []*keyward.Event
		if err = c.Store.View(ctx, func(tx keyward.Tx) (err error) {
			expired, err = tx.FindExpiredEvents(ctx, sc, cutoff, 1)
			return err
		}); err != nil || len(expired) == 0 {
			continue
		}
		err = c.update(ctx, func(tx keyward.Tx) error {
			_, err := tx.PruneEvents(ctx, sc, cutoff, eventPruneBatch)
			return err
		})
	}
	if err != nil && ctx.Err() == nil {
		c.Logger.Warn("reconcile: prune events", "err", err)
	}
}
