package reconcile

import (
	"context"
	"strconv"
	"strings"

	"keyward"
)

// NodeAddresser is implemented by an Engine whose nodes have loopback
// addresses of their own: NodeHost reports a node's, ReserveAddress and
// ReleaseAddress keep the stable addresses of a group's primary and reader
// endpoints, which the nodes holding those roles bind (NodeSpec.Binds).
type NodeAddresser interface {
	NodeHost(id string) string
	ReserveAddress(owner string, port int) (string, error)
	ReleaseAddress(owner string) error
}

// NodeHealth is implemented by an Engine that can tell whether a node's
// process runs and answers (known is false for a node it does not run),
// and whether it runs at all (a process that does not answer is restarted
// by the engine, not failed over: it may still hold its addresses).
type NodeHealth interface {
	NodeUp(id string) (up, known bool)
	NodeRunning(id string) (running, known bool)
}

// nodeHost is the address node n listens on (applyNodes fills Address in).
func nodeHost(n keyward.CacheNode) string {
	if n.Address == "" {
		return "127.0.0.1"
	}
	return n.Address
}

// endpointOwners names a group's endpoint address reservations.
func endpointOwners(cache *keyward.Cache) (primary, reader string) {
	base := cache.NodeID(cache.ID)
	return base + "#primary", base + "#reader"
}

// hasEndpoints reports whether the cache has primary and reader endpoints
// of its own: a replication group without cluster mode.
func hasEndpoints(cache *keyward.Cache) bool {
	return cache.Kind == keyward.KindReplicationGroup && !cache.ClusterMode
}

// endpointAddrs returns the cache's endpoint addresses, reserving them on
// the first pass; "" when the engine gives nodes no addresses of their own.
func (c *Controller) endpointAddrs(cache *keyward.Cache) (primary, reader string, err error) {
	a, ok := c.Engine.(NodeAddresser)
	if !ok || !hasEndpoints(cache) {
		return "", "", nil
	}
	if cache.PrimaryAddress == "" {
		for _, n := range cache.Nodes {
			if n.Port != 0 && (n.Address == "" || n.Address == "127.0.0.1") {
				// Made by an earlier keyward (or where nodes share
				// 127.0.0.1): its endpoints stay its nodes' own.
				return "", "", nil
			}
		}
	}
	po, ro := endpointOwners(cache)
	if primary, err = a.ReserveAddress(po, cache.ClientPort()); err != nil {
		return "", "", err
	}
	if reader, err = a.ReserveAddress(ro, cache.ClientPort()); err != nil {
		return "", "", err
	}
	return primary, reader, nil
}

// releaseEndpoints drops a deleted cache's endpoint reservations.
func (c *Controller) releaseEndpoints(cache *keyward.Cache) error {
	a, ok := c.Engine.(NodeAddresser)
	if !ok || !hasEndpoints(cache) {
		return nil
	}
	po, ro := endpointOwners(cache)
	if err := a.ReleaseAddress(po); err != nil {
		return err
	}
	return a.ReleaseAddress(ro)
}

// nodeUp reports whether the node runs; true when the engine cannot tell.
func (c *Controller) nodeUp(id string) bool {
	h, ok := c.Engine.(NodeHealth)
	if !ok {
		return true
	}
	up, known := h.NodeUp(id)
	return up || !known
}

// readerIndex picks the node that serves the reader endpoint: the first
// replica that runs (or is about to start), else the primary
// (ElastiCache's reader endpoint reaches the primary when no replica can
// serve).
func (c *Controller) readerIndex(cache *keyward.Cache, primary int) int {
	for i, n := range cache.Nodes {
		// The one serving it keeps it: clients' connections stay.
		if i != primary && n.ClusterID == cache.ReaderNode && n.Port != 0 && c.nodeUp(cache.NodeID(n.ClusterID)) {
			return i
		}
	}
	for i, n := range cache.Nodes {
		if i != primary && (n.Port == 0 || c.nodeUp(cache.NodeID(n.ClusterID))) {
			return i
		}
	}
	return primary
}

// autoFailover promotes a replica of a cluster-mode-disabled group with
// AutomaticFailoverEnabled whose primary's process is down: the replica
// with the highest replication offset becomes the primary (stored, with
// ElastiCache's event), and the pass that follows applies the roles:
// REPLICAOF NO ONE on it, the other replicas and the old primary (started
// again) replicate it, and the primary endpoint's address moves to it. It
// returns the cache as stored afterwards, or cache unchanged.
func (c *Controller) autoFailover(ctx context.Context, cache *keyward.Cache) (*keyward.Cache, error) {
	if !hasEndpoints(cache) || !cache.Settings.AutomaticFailover || len(cache.Nodes) < 2 ||
		(cache.Status != keyward.CacheAvailable && cache.Status != keyward.CacheModifying) {
		return cache, nil
	}
	p := cache.PrimaryIndex()
	h, ok := c.Engine.(NodeHealth)
	if !ok || cache.Nodes[p].Port == 0 {
		return cache, nil
	}
	if running, known := h.NodeRunning(cache.NodeID(cache.Nodes[p].ClusterID)); running || !known {
		return cache, nil
	}
	cmd, ok := c.Engine.(ClusterCommander)
	if !ok {
		return cache, nil
	}
	best, bestOffset := -1, int64(-1)
	for i, n := range cache.Nodes {
		id := cache.NodeID(n.ClusterID)
		if i == p || n.Port == 0 || !c.nodeUp(id) {
			continue
		}
		nctx, cancel := context.WithTimeout(ctx, nodeTimeout)
		r, err := cmd.Do(nctx, id, "INFO", "replication")
		cancel()
		if err != nil {
			continue
		}
		if off := parseReplOffset(r); off > bestOffset {
			best, bestOffset = i, off
		}
	}
	if best < 0 {
		return cache, nil // no replica can take over: the primary is restarted
	}
	old, promoted := cache.Nodes[p].ClusterID, cache.Nodes[best].ClusterID
	var stored *keyward.Cache
	err := c.update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, cache.Scope, cache.Kind, cache.ID)
		if err != nil {
			return err
		}
		if cur.PrimaryIndex() != p || len(cur.Nodes) != len(cache.Nodes) || cur.Nodes[best].ClusterID != promoted {
			stored = cur // changed meanwhile: the next pass judges again
			return nil
		}
		next := cur.Clone()
		for i := range next.Nodes {
			next.Nodes[i].Role = "replica"
		}
		next.Nodes[best].Role = "primary"
		if err := tx.UpdateCache(ctx, next); err != nil {
			return err
		}
		stored = next
		now := c.Now().UTC()
		// ElastiCache's events for a failover (as its TestFailover
		// documentation shows them): the group's, and the old primary's
		// recovery.
		return tx.RecordEvent(ctx,
			&keyward.Event{Scope: cache.Scope, SourceType: keyward.SourceReplicationGroup, SourceID: cache.ID, Date: now,
				Message: "Failover from master node " + old + " to replica node " + promoted + " completed"},
			&keyward.Event{Scope: cache.Scope, SourceType: keyward.SourceCacheCluster, SourceID: old, Date: now,
				Message: "Recovering cache nodes 0001"})
	})
	if err != nil {
		return cache, err
	}
	if stored.PrimaryIndex() == best {
		c.Logger.Warn("reconcile: primary down, promoted a replica", "cache", cache.ID, "old", old, "new", promoted, "offset", bestOffset)
	}
	return stored, nil
}

// parseReplOffset reads a replica's replication offset from INFO replication:
// slave_repl_offset (how much of its primary's stream it applied), else
// master_repl_offset; -1 if neither is there.
func parseReplOffset(reply any) int64 {
	text, _ := reply.(string)
	off := int64(-1)
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "slave_repl_offset":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		case "master_repl_offset":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				off = n
			}
		}
	}
	return off
}
