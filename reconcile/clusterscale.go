package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"keyward"
)

// Scaling and failover of replication groups: slot migration between
// shards (ModifyReplicationGroupShardConfiguration), replicas joining and
// leaving (Increase/DecreaseReplicaCount), TestFailover, the cluster-mode
// failover of a shard whose primary died, and the roles keyward learns
// from the nodes.

// SlotMover is implemented by an Engine that moves hash slots' keys
// between Redis Cluster nodes (engine.Manager.MigrateSlotKeys: every key
// of the slots, up to batch per MIGRATE, atomically on src) and runs
// admin commands in one round trip (DoPipeline: error replies in place).
type SlotMover interface {
	MigrateSlotKeys(ctx context.Context, src, dst string, slots []int, batch int) (int, error)
	DoPipeline(ctx context.Context, id string, cmds [][]string) ([]any, error)
}

// migrateBatch is how many keys one MIGRATE moves; slotBatch how many
// slots move together.
const (
	migrateBatch = 200
	slotBatch    = 256
)

// MoveSlots moves slots from node src to node dst (engine node ids, both
// primaries of one Redis Cluster), as redis-cli --cluster reshard does
// but slotBatch slots at a time: dst IMPORTING and src MIGRATING the
// slots, their keys moved with MIGRATE (atomic on src, so no key is lost
// or doubled; clients are sent to dst with ASK meanwhile), then the slots
// assigned to dst on dst, src and every node of others (the other
// primaries; gossip would tell them too, later). Every step may be
// repeated, so a move a crash interrupted resumes by calling MoveSlots
// again. done, if set, is called after each batch with the slots and keys
// it moved. It returns the keys moved. Snapshot restores to another shard
// count can use it as it is.
func MoveSlots(ctx context.Context, cmd ClusterCommander, mover SlotMover, src, dst string, slots []int, others []string, done func(slots, keys int)) (int, error) {
	pipe := func(id string, cmds [][]string) error {
		pctx, cancel := context.WithTimeout(ctx, nodeTimeout)
		defer cancel()
		replies, err := mover.DoPipeline(pctx, id, cmds)
		if err != nil {
			return err
		}
		for _, r := range replies {
			if e, ok := r.(error); ok {
				return fmt.Errorf("reconcile: %s on %s: %w", strings.Join(cmds[0][:3], " "), id, e)
			}
		}
		return nil
	}
	myid := func(id string) (string, error) {
		dctx, cancel := context.WithTimeout(ctx, nodeTimeout)
		defer cancel()
		r, err := cmd.Do(dctx, id, "CLUSTER", "MYID")
		s, _ := r.(string)
		return s, err
	}
	srcID, err := myid(src)
	if err != nil {
		return 0, err
	}
	dstID, err := myid(dst)
	if err != nil {
		return 0, err
	}
	setslot := func(batch []int, args ...string) [][]string {
		cmds := make([][]string, len(batch))
		for i, slot := range batch {
			cmds[i] = append([]string{"CLUSTER", "SETSLOT", strconv.Itoa(slot)}, args...)
		}
		return cmds
	}
	total := 0
	for len(slots) > 0 {
		batch := slots[:min(slotBatch, len(slots))]
		slots = slots[len(batch):]
		if err := pipe(dst, setslot(batch, "IMPORTING", srcID)); err != nil {
			return total, err
		}
		if err := pipe(src, setslot(batch, "MIGRATING", dstID)); err != nil {
			return total, err
		}
		mctx, cancel := context.WithTimeout(ctx, 6*nodeTimeout)
		keys, err := mover.MigrateSlotKeys(mctx, src, dst, batch, migrateBatch)
		cancel()
		total += keys
		if err != nil {
			return total, err
		}
		// The importing side first: it then owns the slots under a new
		// epoch, which the others learn from it.
		node := setslot(batch, "NODE", dstID)
		for _, id := range append([]string{dst, src}, others...) {
			if err := pipe(id, node); err != nil && (id == dst || id == src) {
				return total, err
			}
		}
		if done != nil {
			done(len(batch), keys)
		}
	}
	return total, nil
}

// scale runs the cluster steps of a pass over a cache whose nodes run:
// in cluster mode it forms the cluster and learns the roles, moves slots
// and fails over as asked; otherwise it does a TestFailover and waits for
// replicas to hold the data. It returns the roles to record (nil: keep
// them) and whether the cache must be looked at again before it settles.
func (c *Controller) scale(ctx context.Context, cache *keyward.Cache, ports []int) ([]keyward.CacheNode, bool, error) {
	if !runsCluster(cache) {
		return c.scaleDisabled(ctx, cache)
	}
	formed, st, err := c.formCluster(ctx, cache, ports)
	if err != nil || !formed {
		return nil, true, err
	}
	roles := make([]keyward.CacheNode, len(cache.Nodes))
	for i, n := range cache.Nodes {
		// Formed means every node answers and every replica is in sync:
		// a demoted primary has recovered by now.
		roles[i] = keyward.CacheNode{ClusterID: n.ClusterID, Role: st.role(i)}
	}
	if busy, err := c.reshard(ctx, cache, st); err != nil || busy {
		return nil, true, err
	}
	if busy, err := c.clusterTestFailover(ctx, cache, st); err != nil || busy {
		return nil, true, err
	}
	return roles, false, nil
}

// scaleDisabled serves a cluster-mode-disabled group (the roles name the
// primary): a TestFailover, and replicas that must hold the data before a
// modification completes.
func (c *Controller) scaleDisabled(ctx context.Context, cache *keyward.Cache) ([]keyward.CacheNode, bool, error) {
	cmd, ok := c.Engine.(ClusterCommander)
	if !ok || cache.Kind != keyward.KindReplicationGroup || len(cache.Nodes) < 2 {
		return nil, false, nil
	}
	if cache.TestFailover != "" {
		busy, err := c.disabledTestFailover(ctx, cmd, cache)
		if err != nil || busy {
			return nil, true, err
		}
	}
	if cache.Status != keyward.CacheModifying {
		return nil, false, nil
	}
	// Every replica must hold what the primary held when this check
	// began: linked is not enough, as a primary streams to a replica that
	// just finished its full sync only after its first acknowledgement
	// (up to a second later). The primary is the one the roles name: an
	// automatic failover leaves it where it was in Nodes.
	p := cache.PrimaryIndex()
	r, err := cmd.Do(ctx, cache.NodeID(cache.Nodes[p].ClusterID), "INFO", "replication")
	if err != nil {
		return nil, true, err
	}
	pinfo, _ := r.(string)
	want, _ := strconv.ParseInt(infoField(pinfo, "master_repl_offset"), 10, 64)
	roles := slices.Clone(cache.Nodes)
	if infoField(pinfo, "role") == "slave" && infoField(pinfo, "master_link_status") != "up" {
		// The primary of a global secondary that is not linked to its
		// upstream: during a failover of the datastore the former and
		// the new primary follow each other until the new one is
		// promoted, and a replica with no link serves no sync to its
		// own replicas (NOMASTERLINK). The promotion waits for this
		// group, so waiting here for its replicas would never end; they
		// sync once the link is up.
		return roles, false, nil
	}
	for i := range cache.Nodes {
		if i == p {
			continue
		}
		r, err := cmd.Do(ctx, cache.NodeID(cache.Nodes[i].ClusterID), "INFO", "replication")
		if err != nil {
			return nil, true, err
		}
		info, _ := r.(string)
		got, _ := strconv.ParseInt(infoField(info, "slave_repl_offset"), 10, 64)
		if !replicaSynced(info) || got < want {
			return nil, true, nil // a replica still syncing or catching up
		}
		roles[i].Recovering = false
	}
	return roles, false, nil
}

// reshard moves every slot that is not served by the primary of the shard
// whose Slots hold it, then takes the shards being removed out of the
// group. busy reports that it moved or changed something.
func (c *Controller) reshard(ctx context.Context, cache *keyward.Cache, st *clusterState) (bool, error) {
	owner := map[int]int{} // slot -> node index, as each primary says of itself
	for i := range cache.Nodes {
		if st.role(i) != "primary" {
			continue
		}
		for _, r := range st.views[i][st.myid[i]].ranges {
			for s := r[0]; s <= r[1]; s++ {
				owner[s] = i
			}
		}
	}
	type pair struct{ src, dst int }
	moves := map[pair][]int{}
	remaining := 0
	for s, sh := range cache.Shards {
		if sh.Removing {
			continue
		}
		dst, ok := st.primary[s]
		if !ok {
			return false, fmt.Errorf("reconcile: shard %s has no primary", sh.ID)
		}
		slots, err := keyward.SlotList(sh.Slots)
		if err != nil {
			return false, Terminal(err)
		}
		for _, slot := range slots {
			if src, ok := owner[slot]; ok && src != dst {
				moves[pair{src, dst}] = append(moves[pair{src, dst}], slot)
				remaining++
			}
		}
	}
	if remaining == 0 {
		return c.finishResharding(ctx, cache)
	}
	cmd := c.Engine.(ClusterCommander)
	mover, ok := c.Engine.(SlotMover)
	if !ok {
		return false, Terminal(errors.New("reconcile: the engine cannot move slots"))
	}
	var primaries []string
	for _, i := range st.primary {
		primaries = append(primaries, st.ids[i])
	}
	total := remaining
	if cache.Resharding != nil && cache.Resharding.Total > total {
		total = cache.Resharding.Total
	}
	moved := total - remaining
	last := time.Now()
	save := func() {
		m := moved
		err := c.update(ctx, func(tx keyward.Tx) error {
			cur, err := tx.FindCacheByID(ctx, cache.Scope, cache.Kind, cache.ID)
			if err != nil || cur.Generation != cache.Generation {
				return err
			}
			cur.Resharding = &keyward.Resharding{Total: total, Moved: m}
			return tx.UpdateCache(ctx, cur)
		})
		if err != nil {
			c.Logger.Warn("reconcile: record resharding progress", "cache", cache.ID, "err", err)
		}
		last = time.Now()
	}
	start, keys := time.Now(), 0
	for p, slots := range moves {
		others := slices.DeleteFunc(slices.Clone(primaries), func(id string) bool { return id == st.ids[p.src] || id == st.ids[p.dst] })
		n, err := MoveSlots(ctx, cmd, mover, st.ids[p.src], st.ids[p.dst], slots, others, func(n, _ int) {
			moved += n
			if time.Since(last) > 200*time.Millisecond {
				save()
			}
		})
		keys += n
		if err != nil {
			save()
			return false, fmt.Errorf("reconcile: move slots of %s: %w", cache.ID, err)
		}
	}
	save()
	c.Logger.Info("reconcile: moved slots", "cache", cache.ID, "slots", remaining, "keys", keys, "took", time.Since(start).Round(time.Millisecond))
	return true, nil
}

// finishResharding takes the shards being removed (whose slots all moved)
// out of the group, their nodes leaving, and ends the resharding.
func (c *Controller) finishResharding(ctx context.Context, cache *keyward.Cache) (bool, error) {
	removing := slices.ContainsFunc(cache.Shards, func(s keyward.Shard) bool { return s.Removing })
	if !removing && cache.Resharding == nil {
		return false, nil
	}
	err := c.update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, cache.Scope, cache.Kind, cache.ID)
		if err != nil || cur.Generation != cache.Generation {
			return err
		}
		next := cur.Clone()
		index := map[int]int{} // old shard index -> new
		next.Shards = nil
		for i, s := range cur.Shards {
			if !s.Removing {
				index[i] = len(next.Shards)
				next.Shards = append(next.Shards, s)
			}
		}
		next.Nodes = nil
		var azs []string
		for i, n := range cur.Nodes {
			j, ok := index[n.Shard]
			if !ok {
				next.Leaving = append(next.Leaving, n.ClusterID)
				continue
			}
			n.Shard = j
			next.Nodes = append(next.Nodes, n)
			if i < len(cur.Settings.PreferredAZs) {
				azs = append(azs, cur.Settings.PreferredAZs[i])
			}
		}
		if len(cur.Settings.PreferredAZs) > 0 {
			next.Settings.PreferredAZs = azs
		}
		next.NumNodes, next.Resharding = len(next.Nodes), nil
		next.Generation++
		return tx.UpdateCache(ctx, next)
	})
	return true, err
}

// dropLeaving stops the nodes of member clusters that left the group;
// the cluster forgets them once they are gone (forgetStrangers).
func (c *Controller) dropLeaving(ctx context.Context, cache *keyward.Cache) error {
	if len(cache.Leaving) == 0 || c.Engine == nil {
		return nil
	}
	for _, cid := range cache.Leaving {
		if err := c.Engine.StopNode(ctx, cache.NodeID(cid)); err != nil {
			return fmt.Errorf("reconcile: stop %s: %w", cid, err)
		}
	}
	return c.update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, cache.Scope, cache.Kind, cache.ID)
		if err != nil {
			return err
		}
		cur.Leaving = slices.DeleteFunc(cur.Leaving, func(id string) bool { return slices.Contains(cache.Leaving, id) })
		return tx.UpdateCache(ctx, cur)
	})
}

// failoverAsked remembers when a CLUSTER FAILOVER was sent for a cache, so
// that passes waiting for it do not send another.
var failoverAsked sync.Map // cache key string -> time.Time

// clusterTestFailover makes a replica of the node group TestFailover names
// its primary, and clears the request once the group has a new primary.
// keyward hands over itself, as Redis's manual failover does but without
// its election: the primary's writes are paused, the replica catches up
// and takes the slots with CLUSTER FAILOVER TAKEOVER, and the former
// primary's writes resume once it has learned it is a replica, so no
// acknowledged write is lost. (A plain CLUSTER FAILOVER needs the
// primaries' votes within 5 s; in a cluster formed seconds before, under
// load, it often lapsed, and Redis refuses a second vote for the shard for
// twice the node timeout: the hand-over then took 15 s and more.)
func (c *Controller) clusterTestFailover(ctx context.Context, cache *keyward.Cache, st *clusterState) (bool, error) {
	if cache.TestFailover == "" {
		return false, nil
	}
	key := keyward.Key{Resource: cache.Kind.Resource(), Scope: cache.Scope, ID: cache.ID}.String()
	s := slices.IndexFunc(cache.Shards, func(s keyward.Shard) bool { return s.ID == cache.TestFailover })
	p, ok := st.primary[s]
	cmd := c.Engine.(ClusterCommander)
	if s < 0 || !ok || cache.Nodes[p].ClusterID != cache.TestFailoverFrom {
		failoverAsked.Delete(key)
		if i := slices.IndexFunc(cache.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == cache.TestFailoverFrom }); i >= 0 {
			cmd.Do(ctx, st.ids[i], "CLIENT", "UNPAUSE") // in case the hand-over's pass ended before it could
		}
		return true, c.clearTestFailover(ctx, cache, nil)
	}
	if at, ok := failoverAsked.Load(key); ok && time.Since(at.(time.Time)) < handOverPause {
		return true, nil
	}
	best, bestOff := -1, int64(-1)
	for i, n := range cache.Nodes {
		if n.Shard != s || i == p || st.role(i) != "replica" {
			continue
		}
		if off := replOffset(ctx, cmd, st.ids[i]); off > bestOff {
			best, bestOff = i, off
		}
	}
	if best < 0 {
		return true, c.clearTestFailover(ctx, cache, nil) // nothing to fail over to
	}
	old, next := st.ids[p], st.ids[best]
	if _, err := cmd.Do(ctx, old, "CLIENT", "PAUSE", strconv.Itoa(int(handOverPause/time.Millisecond)), "WRITE"); err != nil {
		return false, err
	}
	target := replOffset(ctx, cmd, old)
	for deadline := time.Now().Add(3 * time.Second); replOffset(ctx, cmd, next) < target; {
		if time.Now().After(deadline) {
			cmd.Do(ctx, old, "CLIENT", "UNPAUSE")
			return false, fmt.Errorf("reconcile: test failover of %s: replica did not catch up", cache.ID)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := cmd.Do(ctx, next, "CLUSTER", "FAILOVER", "TAKEOVER"); err != nil {
		cmd.Do(ctx, old, "CLIENT", "UNPAUSE")
		return false, err
	}
	failoverAsked.Store(key, time.Now())
	c.Logger.Info("reconcile: test failover", "cache", cache.ID, "node_group", cache.TestFailover, "to", cache.Nodes[best].ClusterID)
	// The new primary announces itself to every node at once; until the
	// former one has heard it, its writes stay paused (the pause expires
	// by itself should this pass end first).
	for deadline := time.Now().Add(handOverPause / 2); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if r, err := cmd.Do(ctx, old, "ROLE"); err == nil && isReplicaRole(r) {
			cmd.Do(ctx, old, "CLIENT", "UNPAUSE")
			break
		}
	}
	return true, nil
}

// handOverPause bounds how long a TestFailover keeps the former primary's
// writes paused.
const handOverPause = 10 * time.Second

// isReplicaRole reports whether a ROLE reply is a replica's.
func isReplicaRole(r any) bool {
	a, ok := r.([]any)
	if !ok || len(a) == 0 {
		return false
	}
	role, _ := a[0].(string)
	return role == "slave"
}

// clearTestFailover ends a TestFailover; edit, if set, changes the cache
// in the same transaction.
func (c *Controller) clearTestFailover(ctx context.Context, cache *keyward.Cache, edit func(*keyward.Cache)) error {
	return c.update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, cache.Scope, cache.Kind, cache.ID)
		if err != nil || cur.Generation != cache.Generation {
			return err
		}
		cur.TestFailover, cur.TestFailoverFrom, cur.TestFailoverTo = "", "", ""
		if edit != nil {
			edit(cur)
		}
		return tx.UpdateCache(ctx, cur)
	})
}

// replOffset is a node's replication offset (-1 if unknown).
func replOffset(ctx context.Context, cmd ClusterCommander, id string) int64 {
	r, err := cmd.Do(ctx, id, "INFO", "replication")
	if err != nil {
		return -1
	}
	return parseReplOffset(r)
}

// disabledTestFailover fails a cluster-mode-disabled group over to its
// most up-to-date replica: the primary's writes are paused, the replica
// catches up and is promoted, and the group's nodes are reordered (the
// primary is Nodes[0]), which the next pass applies (the old primary
// follows the new one; its pause ends).
func (c *Controller) disabledTestFailover(ctx context.Context, cmd ClusterCommander, cache *keyward.Cache) (bool, error) {
	old := cache.NodeID(cache.Nodes[0].ClusterID)
	if cache.Nodes[0].ClusterID != cache.TestFailoverFrom {
		// Done: the former primary follows the new one now.
		if i := slices.IndexFunc(cache.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == cache.TestFailoverFrom }); i > 0 {
			cmd.Do(ctx, cache.NodeID(cache.Nodes[i].ClusterID), "CLIENT", "UNPAUSE")
		}
		return true, c.clearTestFailover(ctx, cache, nil)
	}
	best, bestOff := -1, int64(-1)
	for i := 1; i < len(cache.Nodes); i++ {
		if to := cache.TestFailoverTo; to != "" && cache.Nodes[i].ClusterID != to {
			continue // the member PrimaryClusterId named, and no other
		}
		id := cache.NodeID(cache.Nodes[i].ClusterID)
		if ok, _ := inSync(ctx, cmd, id); !ok {
			continue
		}
		if off := replOffset(ctx, cmd, id); off > bestOff {
			best, bestOff = i, off
		}
	}
	if best < 0 {
		return true, nil // no replica in sync yet
	}
	if _, err := cmd.Do(ctx, old, "CLIENT", "PAUSE", "5000", "WRITE"); err != nil {
		return false, err
	}
	target := replOffset(ctx, cmd, old)
	newID := cache.NodeID(cache.Nodes[best].ClusterID)
	for deadline := time.Now().Add(3 * time.Second); replOffset(ctx, cmd, newID) < target; {
		if time.Now().After(deadline) {
			cmd.Do(ctx, old, "CLIENT", "UNPAUSE")
			return false, fmt.Errorf("reconcile: test failover of %s: replica did not catch up", cache.ID)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := cmd.Do(ctx, newID, "REPLICAOF", "NO", "ONE"); err != nil {
		cmd.Do(ctx, old, "CLIENT", "UNPAUSE")
		return false, err
	}
	c.Logger.Info("reconcile: test failover", "cache", cache.ID, "from", cache.Nodes[0].ClusterID, "to", cache.Nodes[best].ClusterID)
	return true, c.update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, cache.Scope, cache.Kind, cache.ID)
		if err != nil || cur.Generation != cache.Generation {
			return err
		}
		promote(cur, best)
		cur.Generation++
		return tx.UpdateCache(ctx, cur)
	})
}

// promote makes node i of a cluster-mode-disabled group its primary
// (Nodes[0]), the former primary a recovering replica; the zones move
// with their nodes.
func promote(c *keyward.Cache, i int) {
	n := c.Nodes[i]
	c.Nodes = slices.Delete(c.Nodes, i, i+1)
	c.Nodes = slices.Insert(c.Nodes, 0, n)
	c.Nodes[0].Role, c.Nodes[0].Recovering = "primary", false
	c.Nodes[1].Role, c.Nodes[1].Recovering = "replica", true
	if i < len(c.Settings.PreferredAZs) {
		az := c.Settings.PreferredAZs[i]
		c.Settings.PreferredAZs = slices.Delete(c.Settings.PreferredAZs, i, i+1)
		c.Settings.PreferredAZs = slices.Insert(c.Settings.PreferredAZs, 0, az)
	}
}

// NodeExited is called when the process of engine node id died (before it
// is restarted). If it was the primary of a cluster-mode shard with a
// replica, the most up-to-date replica takes over at once, as ElastiCache
// fails over a shard whose primary failed (CLUSTER FAILOVER TAKEOVER).
// The restarted node
// then rejoins as a replica of the new primary. (Cluster-mode-disabled
// groups are failed over elsewhere.)
func (c *Controller) NodeExited(id string) {
	c.init()
	cmd, ok := c.Engine.(ClusterCommander)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var caches []*keyward.Cache
	if err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		caches, err = tx.FindAllCaches(ctx)
		return err
	}); err != nil {
		return
	}
	for _, cache := range caches {
		if !cache.ClusterMode || cache.Status == keyward.CacheDeleting || cache.Status == keyward.CacheCreating {
			continue
		}
		dead := slices.IndexFunc(cache.Nodes, func(n keyward.CacheNode) bool { return cache.NodeID(n.ClusterID) == id })
		if dead < 0 || cache.Nodes[dead].Role != "primary" {
			continue
		}
		best, bestOff := -1, int64(-1)
		for i, n := range cache.Nodes {
			if n.Shard != cache.Nodes[dead].Shard || n.Role != "replica" {
				continue
			}
			if off := replOffset(ctx, cmd, cache.NodeID(n.ClusterID)); off > bestOff {
				best, bestOff = i, off
			}
		}
		if best < 0 {
			return
		}
		// TAKEOVER, not FORCE: an election needs the other primaries'
		// votes in time, and the dead node is restarted within a second
		// as a primary that still claims the slots; a lapsed election
		// then left it the primary (seen under load). The dead primary
		// acknowledges nothing meanwhile, so no vote is needed to be safe.
		how := "TAKEOVER"
		if _, err := cmd.Do(ctx, cache.NodeID(cache.Nodes[best].ClusterID), "CLUSTER", "FAILOVER", how); err != nil {
			c.Logger.Warn("reconcile: fail over a dead shard primary", "cache", cache.ID, "node", id, "err", err)
			return
		}
		c.Logger.Info("reconcile: shard primary died, replica takes over", "cache", cache.ID, "from", cache.Nodes[dead].ClusterID, "to", cache.Nodes[best].ClusterID, "how", how)
		err := c.update(ctx, func(tx keyward.Tx) error {
			cur, err := tx.FindCacheByID(ctx, cache.Scope, cache.Kind, cache.ID)
			if err != nil || dead >= len(cur.Nodes) || cur.Nodes[dead].ClusterID != cache.Nodes[dead].ClusterID {
				return err
			}
			cur.Nodes[dead].Recovering = true
			return tx.UpdateCache(ctx, cur)
		})
		if err != nil {
			c.Logger.Warn("reconcile: record failover", "cache", cache.ID, "err", err)
		}
		c.q.kick(keyward.Key{Resource: cache.Kind.Resource(), Scope: cache.Scope, ID: cache.ID})
		return
	}
}
