package reconcile

import (
	"context"
	"regexp"
	"strconv"
	"strings"

	"keyward"
)

// Serverless caches (docs/serverless.md). ElastiCache Serverless shows
// cluster-aware clients one virtual shard holding all 16384 slots at the
// cache's endpoint; keyward runs the cache's node as a Redis Cluster node of
// that one shard (keyward.ServerlessShard), announced at the endpoint
// through its front like any cluster-mode node, so that CLUSTER SLOTS,
// SHARDS and NODES name the endpoint, and multi-key commands across slots
// get CROSSSLOT from the engine itself.
//
// Two things make a serverless node run standalone for a while, each ended
// by a restart with its data (engine: Ensure on a change of Cluster):
//
//   - An online migration that follows its source (syncing, completing)
//     makes the node a replica of the source with REPLICAOF, which Redis
//     Cluster nodes refuse: the node runs standalone until the migration
//     is stopped or cuts over, then returns to cluster mode (runsCluster);
//     a cut-over ends the migration only once the node serves as a
//     cluster again (serverlessCutover).
//   - A serverless cache of an earlier release ran standalone (stored
//     without ClusterMode): serverlessMode converts it once it is at rest,
//     and the restarted node claims the slots of its keys, formCluster
//     assigning it the others (assignMissingSlots).
//
// Redis Cluster nodes keep every key in database 0 and refuse to start with
// keys in another one. A standalone node holding such keys (SELECT 1 on an
// old node, or a migration source's) is therefore not converted: the cache
// is stored standalone again, and logged, and keeps serving as before.

// The shard has two nodes, as ElastiCache's CLUSTER SLOTS shows: the
// primary at the endpoint's port (6379) and a replica at the next port
// (6380) of the same address, the reader endpoint (NodeSpec.ShareHost). The
// replica never fails over by itself (cluster-replica-no-failover): the
// endpoint stays the primary's, which supervision restarts with its data,
// as ElastiCache's endpoint stays its primary's. Reads on the reader are
// eventually consistent, as ElastiCache documents for port 6380.

// serverlessSpec completes the spec of node i of a serverless cache.
func serverlessSpec(cache *keyward.Cache, i int, spec *NodeSpec) {
	if cache.Kind != keyward.KindServerless || !cache.ClusterMode {
		return
	}
	if i > 0 {
		spec.Port = cache.ClientPort() + 1
		spec.ShareHost = cache.NodeID(cache.Nodes[0].ClusterID)
	}
	if spec.Cluster {
		cfg := make(map[string]string, len(spec.Config)+1)
		for k, v := range spec.Config {
			cfg[k] = v
		}
		cfg["cluster-replica-no-failover"] = "yes"
		// The primary pings its replica every second on the replication
		// stream (not every 10): Redis Cluster lists a replica in CLUSTER
		// SLOTS only once its replication offset is not 0, which an idle
		// new shard reaches only with such a ping (serverlessTopology).
		cfg["repl-ping-replica-period"] = "1"
		spec.Config = cfg
	}
}

// serverlessReader is the member cluster of a serverless cache's reader.
func serverlessReader(id string) keyward.CacheNode {
	return keyward.CacheNode{ClusterID: id + "-002", Role: "replica"}
}

// runsCluster reports whether a cache's nodes run as Redis Cluster nodes
// now: a cluster-mode cache's do, but for a serverless cache whose
// migration follows its source.
func runsCluster(c *keyward.Cache) bool {
	if !c.ClusterMode {
		return false
	}
	return c.Kind != keyward.KindServerless || !c.Migration.Following()
}

// serverlessCutover ends a serverless cache's migration that cut over
// (completing, no longer following: forced, or in sync and unlinked) once
// its node serves as a cluster again; the caller has formed it. Ending it
// only then keeps the node's restart inside the cut-over, so that the
// cache is available again with its cluster ok.
func (c *Controller) serverlessCutover(ctx context.Context, cache *keyward.Cache) error {
	m := cache.Migration
	if cache.Kind != keyward.KindServerless || m == nil || m.Status != keyward.MigrationCompleting {
		return nil
	}
	c.Logger.Info("reconcile: migration completed", "cache", cache.ID, "source", m.Source)
	return c.updateMigration(ctx, cache, m.Status, func(next *keyward.Cache) {
		next.Migration = nil
		if next.Status == keyward.CacheMigrating {
			next.Status, next.StatusSince = keyward.CacheAvailable, c.Now()
		}
	})
}

// otherDB matches the INFO keyspace line of a database other than 0.
var otherDB = regexp.MustCompile(`(?m)^db([1-9][0-9]*):keys=([0-9]+)`)

// serverlessMode converts a serverless cache of an earlier release to a
// cluster-mode one (stored), and keeps standalone one whose node cannot run
// cluster-enabled (keys outside database 0). It returns the cache to pass
// on: the stored one if it changed it.
func (c *Controller) serverlessMode(ctx context.Context, cache *keyward.Cache) (*keyward.Cache, error) {
	if cache.Kind != keyward.KindServerless || len(cache.Nodes) == 0 || cache.Nodes[0].Port == 0 ||
		cache.Status == keyward.CacheCreating || cache.Status == keyward.CacheDeleting || cache.Migration.Following() {
		return cache, nil
	}
	if cache.ClusterMode && len(cache.Shards) == 1 {
		// Cluster mode already, or about to return to it after a
		// migration: only keys outside database 0 hold it back.
		return c.keepStandalone(ctx, cache)
	}
	if cache.ClusterMode || cache.Migration != nil {
		return cache, nil // a migration prepared or stopped: converted after it
	}
	standalone, err := c.otherDatabases(ctx, cache)
	if err != nil || standalone {
		return cache, err
	}
	return c.setServerlessMode(ctx, cache, true)
}

// keepStandalone stores cache standalone if its node runs standalone with
// keys outside database 0.
func (c *Controller) keepStandalone(ctx context.Context, cache *keyward.Cache) (*keyward.Cache, error) {
	standalone, err := c.otherDatabases(ctx, cache)
	if err != nil || !standalone {
		return cache, err
	}
	return c.setServerlessMode(ctx, cache, false)
}

// otherDatabases reports whether the cache's node runs standalone and holds
// keys in a database other than 0 (so cannot run cluster-enabled).
func (c *Controller) otherDatabases(ctx context.Context, cache *keyward.Cache) (bool, error) {
	cmd, ok := c.Engine.(ClusterCommander)
	id := cache.NodeID(cache.Nodes[0].ClusterID)
	if !ok || !c.nodeUp(id) {
		return false, nil
	}
	nctx, cancel := context.WithTimeout(ctx, nodeTimeout)
	defer cancel()
	r, err := cmd.Do(nctx, id, "INFO", "cluster")
	if err != nil {
		return false, nil // not answering now: the pass reports it
	}
	if info, _ := r.(string); strings.Contains(info, "cluster_enabled:1") {
		return false, nil
	}
	if r, err = cmd.Do(nctx, id, "INFO", "keyspace"); err != nil {
		return false, nil
	}
	info, _ := r.(string)
	for _, m := range otherDB.FindAllStringSubmatch(info, -1) {
		if n, _ := strconv.Atoi(m[2]); n > 0 {
			c.Logger.Warn("reconcile: serverless cache kept standalone: its node holds keys outside database 0, which a Redis Cluster node refuses", "cache", cache.ID, "db", m[1], "keys", n)
			return true, nil
		}
	}
	return false, nil
}

// setServerlessMode stores the cache as one cluster shard (on) or
// standalone, and returns the stored cache.
func (c *Controller) setServerlessMode(ctx context.Context, seen *keyward.Cache, on bool) (*keyward.Cache, error) {
	var next *keyward.Cache
	err := c.update(ctx, func(tx keyward.Tx) error {
		next = nil
		cur, err := tx.FindCacheByID(ctx, seen.Scope, seen.Kind, seen.ID)
		if err != nil {
			return err
		}
		if cur.Generation != seen.Generation || cur.ClusterMode == on {
			return nil // changed meanwhile: the next pass decides
		}
		next = cur.Clone()
		next.ClusterMode, next.Shards = on, nil
		if on {
			next.Shards = []keyward.Shard{keyward.ServerlessShard()}
			if len(next.Nodes) == 1 {
				// The reader joins the shard as its replica.
				next.Nodes = append(next.Nodes, serverlessReader(next.ID))
			}
		}
		for i := range next.Nodes {
			next.Nodes[i].Shard = 0
		}
		return tx.UpdateCache(ctx, next)
	})
	if err != nil || next == nil {
		return seen, err
	}
	c.Logger.Info("reconcile: serverless cache node mode", "cache", seen.ID, "cluster", on)
	// The pass goes on with what was stored, node addresses as seen.
	for i := range next.Nodes {
		if i < len(seen.Nodes) && next.Nodes[i].Address == "" {
			next.Nodes[i].Address = seen.Nodes[i].Address
		}
	}
	return next, nil
}

// assignMissingSlots gives a one-shard cluster's primary the slots nobody
// serves: a node that was standalone (see above) restarts claiming only the
// slots of its keys. It reports whether it assigned any.
func assignMissingSlots(ctx context.Context, cmd ClusterCommander, cache *keyward.Cache, st *clusterState, primary int) (bool, error) {
	if len(cache.Shards) != 1 {
		return false, nil
	}
	var served [16384]bool
	for _, n := range st.views[primary] {
		for _, r := range n.ranges {
			for s := r[0]; s <= r[1] && s < len(served); s++ {
				served[s] = true
			}
		}
	}
	args := []string{"CLUSTER", "ADDSLOTSRANGE"}
	for s := 0; s < len(served); s++ {
		if served[s] {
			continue
		}
		e := s
		for e+1 < len(served) && !served[e+1] {
			e++
		}
		args = append(args, strconv.Itoa(s), strconv.Itoa(e))
		s = e
	}
	if len(args) == 2 {
		return false, nil
	}
	_, err := cmd.Do(ctx, st.ids[primary], args...)
	return err == nil, err
}

// serverlessTopology reports whether a serverless cache's primary shows
// its reader in CLUSTER SLOTS, as clients are to find it: Redis lists a
// replica there only once gossip brought the primary its replication
// offset, a moment after the replica synced.
func serverlessTopology(ctx context.Context, cmd ClusterCommander, cache *keyward.Cache, st *clusterState) (bool, error) {
	if cache.Kind != keyward.KindServerless || len(cache.Nodes) < 2 {
		return true, nil
	}
	p, ok := st.primary[0]
	if !ok {
		return false, nil
	}
	r, err := cmd.Do(ctx, st.ids[p], "CLUSTER", "SLOTS")
	if err != nil {
		return false, err
	}
	ranges, _ := r.([]any)
	for _, x := range ranges {
		if e, _ := x.([]any); len(e) < 2+len(cache.Nodes) {
			return false, nil
		}
	}
	return len(ranges) > 0, nil
}
