package reconcile

import (
	"context"
	"errors"
	"fmt"

	"keyward"
)

// SourceFollower is implemented by an Engine whose primaries can replicate
// from a Redis server outside keyward, for online migrations (package
// engine's Manager.Follow): addr "" stops that. linked reports the link up
// and the initial sync done.
type SourceFollower interface {
	Follow(ctx context.Context, id, addr string) (linked bool, err error)
}

// followSource makes a cache's primary follow its migration's source while
// the migration syncs, and stop following it otherwise (the primary then
// takes writes again), and moves the migration on: an auto-cutover
// serverless migration completes once linked, and a completing one ends
// once the primary is in sync (or at once when forced). again asks for a
// pass soon.
func (c *Controller) followSource(ctx context.Context, cache *keyward.Cache) (again bool, err error) {
	if runsCluster(cache) {
		// A serverless cache's node back in cluster mode after its
		// cut-over, its cluster formed: the migration ends (serverless.go).
		return false, c.serverlessCutover(ctx, cache)
	}
	if len(cache.Nodes) == 0 || cache.Nodes[0].Port == 0 {
		return false, nil
	}
	f, ok := c.Engine.(SourceFollower)
	if !ok {
		if cache.Migration != nil {
			return false, Terminal(errors.New("reconcile: the engine cannot follow an outside source"))
		}
		return false, nil
	}
	m := cache.Migration
	id := cache.NodeID(cache.Nodes[0].ClusterID)
	nctx, cancel := context.WithTimeout(ctx, nodeTimeout)
	defer cancel()
	addr := ""
	if m.Following() {
		addr = m.Source
	}
	linked, err := f.Follow(nctx, id, addr)
	if err != nil {
		return false, fmt.Errorf("reconcile: migration of %s: %w", cache.ID, err)
	}
	if m == nil {
		return false, nil
	}
	switch {
	case m.Status == keyward.MigrationSyncing && m.AutoCutover && linked:
		return true, c.updateMigration(ctx, cache, m.Status, func(next *keyward.Cache) {
			next.Migration.Status, next.Migration.Since = keyward.MigrationCompleting, c.Now()
		})
	case m.Status == keyward.MigrationCompleting && (m.Force || linked):
		if !m.Force {
			// In sync: cut over now (a write to the source after this
			// point stays there, as on ElastiCache after CompleteMigration).
			if _, err := f.Follow(nctx, id, ""); err != nil {
				return false, fmt.Errorf("reconcile: migration of %s: %w", cache.ID, err)
			}
		}
		if cache.ClusterMode {
			// A serverless node returns to cluster mode first (a restart):
			// the migration ends once it serves as a cluster again.
			return true, c.updateMigration(ctx, cache, m.Status, func(next *keyward.Cache) { next.Migration.Force = true })
		}
		c.Logger.Info("reconcile: migration completed", "cache", cache.ID, "source", m.Source, "forced", m.Force)
		return false, c.updateMigration(ctx, cache, m.Status, func(next *keyward.Cache) {
			next.Migration = nil
			if next.Status == keyward.CacheMigrating {
				next.Status, next.StatusSince = keyward.CacheAvailable, c.Now()
			}
		})
	}
	return m.Status == keyward.MigrationCompleting, nil
}

// updateMigration applies change to the stored cache if its migration is
// still in status: an API call may have moved it meanwhile.
func (c *Controller) updateMigration(ctx context.Context, seen *keyward.Cache, status string, change func(next *keyward.Cache)) error {
	return c.update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, seen.Scope, seen.Kind, seen.ID)
		if err != nil {
			return err
		}
		if cur.Migration == nil || cur.Migration.Status != status {
			return nil
		}
		next := cur.Clone()
		change(next)
		return tx.UpdateCache(ctx, next)
	})
}
