package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"keyward"
)

// Global datastores (keyward.GlobalGroup): the primary node of each
// secondary replication group replicates from the primary node of the
// datastore's primary group, in another region (scope) but run by the same
// engine, so replication is the engine's ordinary REPLICAOF with its
// internal replication user; the secondary's replicas follow its primary
// node, and every node gets its own group's ACLs from keyward, as ACLs are
// not replicated. A replica is read-only, so writes to a secondary are
// refused (READONLY) as on ElastiCache. Cluster-mode datastores are
// replicated shard by shard by keyward itself: see globalcluster.go.

// globalUpstream returns the node that the primary node of cache must
// replicate from: the global datastore's primary node if cache is a
// secondary, "" otherwise; a cluster-mode member has none (its links
// replicate it, see globalcluster.go). During a failover (GlobalGroup.Promoting) the
// new primary keeps following the former one until the former one follows
// it: the two then replicate from each other and both refuse writes, for
// the moment it takes to promote the new one, so that no write is taken by
// a primary about to be demoted.
func globalUpstream(ctx context.Context, tx keyward.Tx, cache *keyward.Cache) (string, error) {
	if cache.Global == nil || cache.ClusterMode {
		return "", nil
	}
	g, err := keyward.GlobalGroups.Get(ctx, tx, keyward.GlobalScope(cache.Scope.Account), cache.Global.ID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return "", nil
	} else if err != nil {
		return "", err
	}
	var region, id string
	switch pm, ok := g.Primary(); {
	case cache.Global.Role == keyward.GlobalRoleSecondary && ok:
		region, id = pm.Region, pm.ReplicationGroupID
	case cache.Global.Role == keyward.GlobalRolePrimary && g.Promoting != "" && g.Promoting != cache.Scope.Region:
		i := slices.IndexFunc(g.Members, func(m keyward.GlobalMember) bool { return m.Region == g.Promoting })
		if i < 0 {
			return "", nil
		}
		region, id = g.Promoting, g.Members[i].ReplicationGroupID
	default:
		return "", nil
	}
	p, err := tx.FindCacheByID(ctx, keyward.Scope{Account: g.Scope.Account, Region: region}, keyward.KindReplicationGroup, id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return "", nil
	} else if err != nil || len(p.Nodes) == 0 {
		return "", err
	}
	i := max(slices.IndexFunc(p.Nodes, func(n keyward.CacheNode) bool { return n.Role == "primary" }), 0)
	return p.NodeID(p.Nodes[i].ClusterID), nil
}

// globalPrimaryMoved queues the secondaries of cache's global datastore at
// once when cache is the datastore's primary group and its primary node is
// not the one they were last queued for: after a failover inside the group
// (TestFailover, or the automatic one of a dead primary), so that they
// replicate from the new primary node now rather than at the next data
// resync. Prepared resync passes computed the secondaries' upstream before
// the move, so the epoch moves on and they read afresh.
func (c *Controller) globalPrimaryMoved(ctx context.Context, cache *keyward.Cache) {
	k := keyward.Key{Resource: cache.Kind.Resource(), Scope: cache.Scope, ID: cache.ID}
	if cache.Global == nil || cache.Global.Role != keyward.GlobalRolePrimary || cache.ClusterMode || len(cache.Nodes) == 0 {
		c.globalPrimaries.Delete(k)
		return
	}
	p := cache.Nodes[cache.PrimaryIndex()].ClusterID
	if old, ok := c.globalPrimaries.Swap(k, p); ok && old == p {
		return
	}
	var secondaries []keyward.Key
	err := c.Store.View(ctx, func(tx keyward.Tx) error {
		secondaries = nil
		g, err := keyward.GlobalGroups.Get(ctx, tx, keyward.GlobalScope(cache.Scope.Account), cache.Global.ID)
		if err != nil {
			return err
		}
		for _, m := range g.Members {
			if m.Role == keyward.GlobalRoleSecondary {
				secondaries = append(secondaries, keyward.Key{Resource: keyward.ResourceReplicationGroup,
					Scope: keyward.Scope{Account: g.Scope.Account, Region: m.Region}, ID: m.ReplicationGroupID})
			}
		}
		return nil
	})
	if err != nil {
		c.globalPrimaries.Delete(k) // try again on the next pass
		if keyward.ErrorCode(err) != keyward.ENOTFOUND && ctx.Err() == nil {
			c.Logger.Warn("reconcile: global datastore of a primary group", "cache", cache.ID, "err", err)
		}
		return
	}
	if len(secondaries) == 0 {
		return
	}
	c.epoch.Add(1)
	for _, s := range secondaries {
		c.q.kick(s)
	}
}

// Events of a member replication group on its global datastore (in the
// member's region: DescribeEvents has no source type for global
// datastores). ElastiCache publishes no text for them: these messages are
// keyward's, in the wording of its documented replication group events.
func globalEvent(sc keyward.Scope, rgID string, at time.Time, format string, args ...any) *keyward.Event {
	return &keyward.Event{Scope: sc, SourceType: keyward.SourceReplicationGroup, SourceID: rgID, Date: at.UTC(), Message: fmt.Sprintf(format, args...)}
}

func scopeOf(g *keyward.GlobalGroup, region string) keyward.Scope {
	return keyward.Scope{Account: g.Scope.Account, Region: region}
}

// failedOver returns the events of a completed failover of g, one per
// member that still exists (caches, by region).
func failedOver(g *keyward.GlobalGroup, caches map[string]*keyward.Cache, at time.Time) []*keyward.Event {
	pm, _ := g.Primary()
	var es []*keyward.Event
	for _, m := range g.Members {
		if cache := caches[m.Region]; cache != nil {
			es = append(es, globalEvent(cache.Scope, cache.ID, at,
				"Failover of global replication group %s to replication group %s in region %s completed", g.ID, pm.ReplicationGroupID, pm.Region))
		}
	}
	return es
}

// reconcileGlobal completes a global datastore's transition once its
// members' caches have: a new secondary is associated once its nodes run
// and replicate, a disassociated one leaves once its nodes stopped
// replicating, and a failover promotes the new primary once the former
// one follows it.
func (c *Controller) reconcileGlobal(ctx context.Context, k keyward.Key) (time.Duration, error) {
	var after time.Duration
	var enqueue []keyward.Key
	caught, err := c.promotionCaughtUp(ctx, k)
	if err != nil {
		return 0, err
	}
	err = c.update(ctx, func(tx keyward.Tx) error {
		after, enqueue = 0, nil
		g, err := keyward.GlobalGroups.Get(ctx, tx, k.Scope, k.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		switch g.Status {
		case keyward.GlobalAvailable, keyward.GlobalPrimaryOnly:
			return nil
		case keyward.GlobalDeleting:
			if after = c.wait(g.StatusSince); after > 0 {
				return nil
			}
			var es []*keyward.Event
			for _, m := range g.Members {
				es = append(es, globalEvent(scopeOf(g, m.Region), m.ReplicationGroupID, c.Now(),
					"Replication group %s disassociated from global replication group %s, which was deleted", m.ReplicationGroupID, g.ID))
			}
			if err := tx.RecordEvent(ctx, es...); err != nil {
				return err
			}
			return keyward.GlobalGroups.Delete(ctx, tx, g.Scope, g.ID)
		}
		var events []*keyward.Event
		next := g.Clone()
		done := true
		scope := func(region string) keyward.Scope { return keyward.Scope{Account: g.Scope.Account, Region: region} }
		caches := map[string]*keyward.Cache{}
		next.Members = next.Members[:0]
		for _, m := range g.Members {
			cache, err := tx.FindCacheByID(ctx, scope(m.Region), keyward.KindReplicationGroup, m.ReplicationGroupID)
			gone := keyward.ErrorCode(err) == keyward.ENOTFOUND
			if err != nil && !gone {
				return err
			}
			switch {
			case m.Status == keyward.MemberDisassociating:
				if !gone && cache.Status != keyward.CacheAvailable && cache.Status != keyward.CacheCreateFailed {
					done = false
					next.Members = append(next.Members, m)
				} else if !gone {
					events = append(events, globalEvent(cache.Scope, cache.ID, c.Now(),
						"Replication group %s disassociated from global replication group %s", cache.ID, g.ID))
				}
				continue // detached: its nodes no longer replicate
			case m.Role == keyward.GlobalRoleSecondary && (gone || cache.Status == keyward.CacheCreateFailed):
				// A secondary that could not be created leaves, so that
				// it can be deleted.
				if !gone && cache.Global != nil {
					cache = cache.Clone()
					cache.Global = nil
					if err := tx.UpdateCache(ctx, cache); err != nil {
						return err
					}
				}
				continue
			case gone:
			case cache.Status != keyward.CacheAvailable:
				done = false
			case m.Status == keyward.MemberAssociating:
				m.Status = keyward.MemberAssociated
				events = append(events, globalEvent(cache.Scope, cache.ID, c.Now(),
					"Replication group %s associated with global replication group %s as its %s member", cache.ID, g.ID, strings.ToLower(m.Role)))
			}
			if !gone {
				caches[m.Region] = cache
			}
			next.Members = append(next.Members, m)
		}
		if next.Promoting != "" && done && !caught {
			done = false // cluster mode: the new primary still applies the former's streams
		}
		if next.Promoting != "" && done {
			// The former primary follows the new one: the new one may
			// stop following it and take the writes. (In cluster mode the
			// new one applied every write of the former one, which takes
			// none any more; the former one and any other secondary now
			// replicate from the new one.)
			next.Promoting, done = "", false
			events = append(events, failedOver(next, caches, c.Now())...)
			for _, m := range next.Members {
				cache := caches[m.Region]
				if cache == nil || m.Role != keyward.GlobalRolePrimary && !cache.ClusterMode {
					continue
				}
				cache = cache.Clone()
				cache.Status, cache.StatusSince, cache.Generation = keyward.CacheModifying, c.Now(), cache.Generation+1
				if err := tx.UpdateCache(ctx, cache); err != nil {
					return err
				}
				enqueue = append(enqueue, keyward.Key{Resource: keyward.ResourceReplicationGroup, Scope: cache.Scope, ID: cache.ID})
			}
		}
		switch {
		case !done:
			after = pollConverge
		case c.wait(g.StatusSince) > 0:
			after = c.wait(g.StatusSince)
		default:
			next.Status, next.StatusSince = next.RestingStatus(), c.Now()
		}
		if slices.Equal(next.Members, g.Members) && next.Status == g.Status && next.Promoting == g.Promoting {
			return nil
		}
		if err := tx.RecordEvent(ctx, events...); err != nil {
			return err
		}
		next.Generation++
		return keyward.GlobalGroups.Update(ctx, tx, next)
	})
	for _, k := range enqueue {
		c.q.add(k)
	}
	return after, err
}

// promotionCaughtUp reports whether a failover of the global datastore k
// may promote its new primary as far as cluster mode is concerned: a
// cluster-mode new primary must have applied every shard's stream of the
// former primary (linksCaughtUp). Without a failover, or in cluster mode
// disabled, it is true.
func (c *Controller) promotionCaughtUp(ctx context.Context, k keyward.Key) (bool, error) {
	var cache *keyward.Cache
	formerSettled := false
	err := c.Store.View(ctx, func(tx keyward.Tx) error {
		g, err := keyward.GlobalGroups.Get(ctx, tx, k.Scope, k.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		pm, ok := g.Primary()
		if g.Promoting == "" || !ok {
			return nil
		}
		cache, err = tx.FindCacheByID(ctx, keyward.Scope{Account: g.Scope.Account, Region: pm.Region}, keyward.KindReplicationGroup, pm.ReplicationGroupID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		// The offsets say something only once the former primary refuses
		// writes: its read-only ACLs are applied when it is available
		// again, and stay (its role stays secondary).
		i := slices.IndexFunc(g.Members, func(m keyward.GlobalMember) bool { return m.Region == g.Promoting })
		if i < 0 {
			formerSettled = true
			return nil
		}
		former, err := tx.FindCacheByID(ctx, keyward.Scope{Account: g.Scope.Account, Region: g.Promoting}, keyward.KindReplicationGroup, g.Members[i].ReplicationGroupID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			formerSettled = true
			return nil
		}
		formerSettled = err == nil && former.Status == keyward.CacheAvailable
		return err
	})
	if err != nil || cache == nil || !cache.ClusterMode {
		return true, err
	}
	return formerSettled && c.linksCaughtUp(ctx, cache), nil
}
