package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"keyward"
	"keyward/catalog"
)

// Restarts of a replication group's nodes: a RebootCacheCluster of a member
// cluster, and the rolling restart of a service update
// (BatchApplyUpdateAction), replicas first and the primaries last. A node's
// process restarts with its data (append-only file) and its ACLs, and with
// the parameter group's requires-reboot values (NodeSpec.BootConfig), which
// the node then records as applied (CacheNode.BootParams). One node restarts
// per pass, so that each step is stored (and shown) before the next.

// restartTimeout bounds one node's restart, including a replica's resync.
const restartTimeout = 30 * time.Second

// restartStep records the boot parameters of nodes that started for the
// first time, then performs at most one restart. again asks for a pass soon.
func (c *Controller) restartStep(ctx context.Context, cache *keyward.Cache, want Desired, set nodeSettings) (again bool, err error) {
	fp := catalog.BootFingerprint(set.boot)
	var fresh []string
	for _, n := range cache.Nodes {
		if n.Port == 0 {
			fresh = append(fresh, n.ClusterID) // started by this pass, with set.boot
		}
	}
	if len(fresh) > 0 {
		if err := c.updateNodes(ctx, cache, func(next *keyward.Cache) bool {
			changed := false
			for i := range next.Nodes {
				if slices.Contains(fresh, next.Nodes[i].ClusterID) && next.Nodes[i].BootParams != fp {
					next.Nodes[i].BootParams, changed = fp, true
				}
			}
			return changed
		}); err != nil {
			return false, err
		}
	}
	for i, n := range cache.Nodes {
		if !n.Reboot || n.Port == 0 {
			continue
		}
		if err := c.restartNode(ctx, cache, i, want); err != nil {
			return false, err
		}
		c.Logger.Info("reconcile: node rebooted", "cache", cache.ID, "cluster", n.ClusterID)
		return true, c.updateNodes(ctx, cache, func(next *keyward.Cache) bool {
			j := nodeIndex(next, n.ClusterID)
			if j < 0 {
				return false
			}
			next.Nodes[j].Reboot, next.Nodes[j].BootParams = false, fp
			return true
		})
	}
	return c.updateStep(ctx, cache, want, fp)
}

// updateStep moves the cache's active service update on by one node.
func (c *Controller) updateStep(ctx context.Context, cache *keyward.Cache, want Desired, fp string) (bool, error) {
	u := cache.ActiveUpdate()
	if u == nil || cache.Status == keyward.CacheCreating || cache.Status == keyward.CacheDeleting {
		return false, nil
	}
	name := u.Name
	var next *keyward.NodeUpdate
	for _, i := range rollingOrder(cache) {
		nu := nodeUpdate(u, cache.Nodes[i].ClusterID)
		if nu != nil && nu.Status != keyward.UpdateComplete && nu.Status != keyward.UpdateStopped {
			next = nu
			break
		}
	}
	now := c.Now().UTC()
	if next == nil || u.Status == keyward.UpdateStopping {
		// Done, or stopped between two nodes: what was not started stays so.
		return false, c.updateNodes(ctx, cache, func(cur *keyward.Cache) bool {
			cu := cur.Update(name)
			if cu == nil || cu.Status != u.Status {
				return false
			}
			finishUpdate(cu, next == nil, now)
			return true
		})
	}
	id := next.ClusterID
	if err := c.updateNodes(ctx, cache, func(cur *keyward.Cache) bool {
		cu := cur.Update(name)
		if cu == nil || cu.Status != u.Status {
			return false
		}
		nu := nodeUpdate(cu, id)
		nu.Status, nu.Since, nu.Started = keyward.UpdateInProgress, now, now
		cu.Status, cu.Since = keyward.UpdateInProgress, now
		return true
	}); err != nil {
		return false, err
	}
	if err := c.restartNode(ctx, cache, nodeIndex(cache, id), want); err != nil {
		return false, err
	}
	c.Logger.Info("reconcile: service update restarted node", "cache", cache.ID, "update", name, "cluster", id)
	end := c.Now().UTC()
	return true, c.updateNodes(ctx, cache, func(cur *keyward.Cache) bool {
		cu := cur.Update(name)
		if cu == nil {
			return false
		}
		nu := nodeUpdate(cu, id)
		nu.Status, nu.Since, nu.Ended = keyward.UpdateComplete, end, end
		if j := nodeIndex(cur, id); j >= 0 {
			cur.Nodes[j].BootParams = fp
		}
		return true
	})
}

// rollingOrder lists the node indices replicas first, then the primaries,
// each in node order. Roles are the stored ones, which follow failovers
// (a node's place in Nodes does not).
func rollingOrder(cache *keyward.Cache) []int {
	var replicas, primaries []int
	for i, n := range cache.Nodes {
		if n.Role == "primary" {
			primaries = append(primaries, i)
		} else {
			replicas = append(replicas, i)
		}
	}
	return append(replicas, primaries...)
}

func nodeUpdate(u *keyward.CacheUpdate, clusterID string) *keyward.NodeUpdate {
	for i := range u.Nodes {
		if u.Nodes[i].ClusterID == clusterID {
			return &u.Nodes[i]
		}
	}
	return nil
}

func nodeIndex(c *keyward.Cache, clusterID string) int {
	return slices.IndexFunc(c.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == clusterID })
}

// restartNode restarts the process of cache's i-th node in place and waits
// until it serves again: its ACLs applied and, for a replica, its link to
// the primary up again.
func (c *Controller) restartNode(ctx context.Context, cache *keyward.Cache, i int, want Desired) error {
	r, ok := c.Engine.(NodeRestarter)
	if !ok || i < 0 {
		return Terminal(errors.New("reconcile: the engine cannot restart nodes"))
	}
	id := cache.NodeID(cache.Nodes[i].ClusterID)
	rctx, cancel := context.WithTimeout(ctx, restartTimeout)
	defer cancel()
	if err := r.RestartNode(rctx, id); err != nil {
		return fmt.Errorf("reconcile: restart %s: %w", id, err)
	}
	for {
		_, err := c.Engine.ApplyACL(rctx, id, want.Users, nil)
		if err == nil {
			break
		}
		if rctx.Err() != nil {
			return fmt.Errorf("reconcile: restart %s: acl: %w", id, err)
		}
		time.Sleep(pollConverge)
	}
	replica := cache.Nodes[i].Role != "primary"
	cmd, ok := c.Engine.(ClusterCommander)
	if !replica || !ok {
		return nil
	}
	for {
		r, err := cmd.Do(rctx, id, "INFO", "replication")
		if s, _ := r.(string); err == nil && infoField(s, "master_link_status") == "up" {
			return nil
		}
		select {
		case <-rctx.Done():
			return fmt.Errorf("reconcile: restart %s: replica did not resync: %w", id, rctx.Err())
		case <-time.After(pollConverge):
		}
	}
}

// updateNodes applies change to the stored cache (change reports whether
// it changed anything). Generation is left alone: these are the
// reconciler's own records, not accepted changes.
func (c *Controller) updateNodes(ctx context.Context, seen *keyward.Cache, change func(next *keyward.Cache) bool) error {
	return c.update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, seen.Scope, seen.Kind, seen.ID)
		if err != nil {
			return err
		}
		next := cur.Clone()
		if !change(next) {
			return nil
		}
		return tx.UpdateCache(ctx, next)
	})
}

// infoField returns one field of an INFO reply ("" if absent).
func infoField(info, name string) string { return infoFields(info)[name] }

// clusterUpdateStep moves a cache cluster's active service update on by
// one node: its nodes restart one at a time, in node order (a Memcached
// node comes back empty, as on ElastiCache; a Redis node keeps its data).
func (c *Controller) clusterUpdateStep(ctx context.Context, cl *keyward.CacheCluster) (bool, error) {
	u := cl.ActiveUpdate()
	if u == nil || cl.Status != keyward.ClusterAvailable {
		return false, nil
	}
	name := u.Name
	var next *keyward.NodeUpdate
	for _, n := range cl.LiveNodes() {
		if nu := u.NodeUpdate(n.ID); nu != nil && nu.Status != keyward.UpdateComplete && nu.Status != keyward.UpdateStopped {
			next = nu
			break
		}
	}
	now := c.Now().UTC()
	change := func(f func(cu *keyward.CacheUpdate) bool) error {
		return c.update(ctx, func(tx keyward.Tx) error {
			cur, err := keyward.Clusters.Get(ctx, tx, cl.Scope, cl.ID)
			if err != nil {
				return err
			}
			cur = cur.Clone()
			if cu := cur.Update(name); cu == nil || !f(cu) {
				return nil
			}
			return keyward.Clusters.Update(ctx, tx, cur)
		})
	}
	if next == nil || u.Status == keyward.UpdateStopping {
		return false, change(func(cu *keyward.CacheUpdate) bool {
			if cu.Status != u.Status {
				return false
			}
			finishUpdate(cu, next == nil, now)
			return true
		})
	}
	id := next.ClusterID
	if err := change(func(cu *keyward.CacheUpdate) bool {
		if cu.Status != u.Status {
			return false
		}
		nu := cu.NodeUpdate(id)
		nu.Status, nu.Since, nu.Started = keyward.UpdateInProgress, now, now
		cu.Status, cu.Since = keyward.UpdateInProgress, now
		return true
	}); err != nil {
		return false, err
	}
	rctx, cancel := context.WithTimeout(ctx, restartTimeout)
	defer cancel()
	nodeID := cl.NodeID(id)
	var err error
	if cl.IsMemcached() {
		if c.Memcached == nil {
			return false, Terminal(errors.New("reconcile: no memcached engine"))
		}
		err = c.Memcached.RestartMemcached(rctx, nodeID)
	} else {
		r, ok := c.Engine.(NodeRestarter)
		if !ok {
			return false, Terminal(errors.New("reconcile: the engine cannot restart nodes"))
		}
		if err = r.RestartNode(rctx, nodeID); err == nil {
			_, _, err = c.applyRedisCluster(rctx, cl) // its ACLs, before it counts as done
		}
	}
	if err != nil {
		return false, fmt.Errorf("reconcile: service update of %s: %w", nodeID, err)
	}
	c.Logger.Info("reconcile: service update restarted node", "cluster", cl.ID, "update", name, "node", id)
	end := c.Now().UTC()
	return true, change(func(cu *keyward.CacheUpdate) bool {
		nu := cu.NodeUpdate(id)
		nu.Status, nu.Since, nu.Ended = keyward.UpdateComplete, end, end
		return true
	})
}

// finishUpdate ends an update: complete, or stopped (the nodes it did not
// reach stay so).
func finishUpdate(cu *keyward.CacheUpdate, complete bool, now time.Time) {
	if complete {
		cu.Status, cu.Since, cu.Complete = keyward.UpdateComplete, now, now
		return
	}
	for j := range cu.Nodes {
		if cu.Nodes[j].Status != keyward.UpdateComplete {
			cu.Nodes[j].Status, cu.Nodes[j].Since = keyward.UpdateStopped, now
		}
	}
	cu.Status, cu.Since = keyward.UpdateStopped, now
}
