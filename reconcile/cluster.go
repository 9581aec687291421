package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"keyward"
	"keyward/catalog"
)

// MemcachedEngine runs memcached nodes (package engine's Memcached, through
// an adapter in package server). memcached has no ACLs: nothing here
// applies users to them. Each node, and each cluster's configuration
// endpoint, answers Auto Discovery from the list SetMemcachedDiscovery
// gives.
type MemcachedEngine interface {
	// EnsureMemcached starts the node if needed and returns its port; a
	// new node asks for spec.Port (on an address of its own, MemcachedHost).
	EnsureMemcached(ctx context.Context, spec MemcachedSpec) (int, error)
	// MemcachedHost reports the node's address.
	MemcachedHost(id string) string
	// RestartMemcached restarts the node's process on its port.
	RestartMemcached(ctx context.Context, id string) error
	// StopMemcached stops the node and removes it; idempotent.
	StopMemcached(ctx context.Context, id string) error
	// MemcachedIDs lists every node the engine runs.
	MemcachedIDs() []string
	// EnsureMemcachedEndpoint runs a cluster's configuration endpoint and
	// returns its address and port (stable: a new one asks for port on an
	// address of its own).
	EnsureMemcachedEndpoint(ctx context.Context, cluster string, port int, tls bool) (string, int, error)
	// StopMemcachedEndpoint stops it and drops the cluster's discovery
	// data; idempotent.
	StopMemcachedEndpoint(ctx context.Context, cluster string) error
	// MemcachedEndpoints lists the clusters whose endpoints run.
	MemcachedEndpoints() []string
	// SetMemcachedDiscovery makes version and the nodes (engine ids, in
	// order) what the cluster's nodes and endpoint answer to Auto Discovery.
	SetMemcachedDiscovery(cluster string, version int64, nodeIDs []string) error
}

// MemcachedSpec is the desired shape of one memcached node.
type MemcachedSpec struct {
	ID       string
	MemoryMB int
	Port     int
	// Cluster is the node's cluster (CacheCluster.MemcachedClusterID),
	// whose Auto Discovery data its front answers.
	Cluster string
	// TLS: in-transit encryption (the node's front serves TLS only).
	TLS bool
	// Args are the parameter group's memcached arguments, applied when
	// the process starts (catalog.MemcachedArgs).
	Args []string
}

// NodeRestarter is implemented by an Engine that can restart a Redis node's
// process in place (data kept), for RebootCacheCluster.
type NodeRestarter interface {
	RestartNode(ctx context.Context, id string) error
}

// reconcileCluster converges a standalone cache cluster's nodes on its
// stored state (nodes added, removed, rebooted) and completes its status.
func (c *Controller) reconcileCluster(ctx context.Context, k keyward.Key) (time.Duration, error) {
	var cl *keyward.CacheCluster
	err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		cl, err = keyward.Clusters.Get(ctx, tx, k.Scope, k.ID)
		return err
	})
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	switch cl.Status {
	case keyward.ClusterCreateFailed:
		return 0, nil
	case keyward.ClusterDeleting:
		return c.deleteCluster(ctx, cl)
	}
	var ports map[string]int
	var acl string
	if cl.IsMemcached() && c.Memcached != nil {
		ports, err = c.applyMemcached(ctx, cl)
	} else if !cl.IsMemcached() && c.Engine != nil {
		ports, acl, err = c.applyRedisCluster(ctx, cl)
	}
	if err != nil {
		if IsTerminal(err) && cl.Status == keyward.ClusterCreating {
			return 0, c.failCluster(ctx, cl, err)
		}
		return 0, err
	}
	again, err := c.clusterUpdateStep(ctx, cl)
	if err != nil {
		return 0, err
	}
	after, err := c.finishCluster(ctx, cl, ports, acl)
	if again && err == nil && (after <= 0 || after > pollConverge) {
		after = pollConverge
	}
	return after, err
}

// memcachedParams returns the memcached arguments of a Memcached cluster's
// parameter group (none for the built-in one) and the fingerprint of its
// requires-reboot values, which a node records when it starts with them.
// The API refuses a group whose values memcached cannot run.
func (c *Controller) memcachedParams(ctx context.Context, cl *keyward.CacheCluster) ([]string, string, error) {
	name := cl.Settings.CacheParameterGroupName
	if name == "" || keyward.IsBuiltInParameterGroup(name) {
		return nil, "", nil
	}
	var g *keyward.CacheParameterGroup
	if err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		g, err = keyward.CacheParameterGroups.Get(ctx, tx, cl.Scope, name)
		return err
	}); err != nil {
		return nil, "", err
	}
	args, unsupported := catalog.MemcachedArgs(g.Values)
	if len(unsupported) > 0 {
		return nil, "", Terminal(fmt.Errorf("reconcile: parameter group %s sets %v, which memcached cannot run", name, unsupported))
	}
	f, _ := catalog.LookupFamily(g.Family)
	return args, catalog.BootFingerprint(f.BootValues(g.Values)), nil
}

// applyMemcached runs the cluster's configuration endpoint and makes every
// node run (or go), in parallel, each with its own timeout, keeping the
// Auto Discovery list in step: a node being removed leaves it before it
// stops, a new one joins it once it runs. It returns the ports of the live
// nodes.
func (c *Controller) applyMemcached(ctx context.Context, cl *keyward.CacheCluster) (map[string]int, error) {
	mem, err := memcachedMemory(cl.CacheNodeType)
	if err != nil {
		return nil, Terminal(err)
	}
	want := cl.ClientPort()
	key := cl.MemcachedClusterID()
	args, boot, err := c.memcachedParams(ctx, cl)
	if err != nil {
		return nil, err
	}
	ectx, cancel := context.WithTimeout(ctx, nodeTimeout)
	cl.ConfigAddress, cl.ConfigPort, err = c.Memcached.EnsureMemcachedEndpoint(ectx, key, want, cl.TransitEncryption)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("reconcile: configuration endpoint of %s: %w", cl.ID, err)
	}
	if slices.ContainsFunc(cl.Nodes, func(n keyward.ClusterNode) bool { return n.Removing }) {
		var running []string
		for _, n := range cl.Nodes {
			if !n.Removing && n.Port != 0 {
				running = append(running, n.ID)
			}
		}
		if err := c.publishDiscovery(ctx, cl, running); err != nil {
			return nil, err
		}
	}
	ports := map[string]int{}
	hosts := map[string]string{} // into cl.Nodes once all ran
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(cl.Nodes))
	for i, n := range cl.Nodes {
		wg.Go(func() {
			nctx, cancel := context.WithTimeout(ctx, nodeTimeout)
			defer cancel()
			id := cl.NodeID(n.ID)
			if n.Removing {
				errs[i] = c.Memcached.StopMemcached(nctx, id)
				return
			}
			// The spec first (a reboot then starts with its arguments).
			port, err := c.Memcached.EnsureMemcached(nctx, MemcachedSpec{ID: id, MemoryMB: mem, Port: want, Cluster: key, TLS: cl.TransitEncryption, Args: args})
			if err != nil {
				errs[i] = fmt.Errorf("reconcile: node %s: %w", id, err)
				return
			}
			if n.Reboot && n.Port != 0 {
				if err := c.Memcached.RestartMemcached(nctx, id); err != nil {
					errs[i] = fmt.Errorf("reconcile: reboot %s: %w", id, err)
					return
				}
			}
			if n.Port == 0 || n.Reboot {
				cl.Nodes[i].BootParams = boot // recorded by finishCluster
			}
			host := c.Memcached.MemcachedHost(id)
			mu.Lock()
			ports[n.ID], hosts[n.ID] = port, host
			mu.Unlock()
		})
	}
	wg.Wait()
	var running []string
	for i := range cl.Nodes {
		if h, ok := hosts[cl.Nodes[i].ID]; ok {
			cl.Nodes[i].Address = h // recorded by finishCluster
			running = append(running, cl.Nodes[i].ID)
		}
	}
	if err := c.publishDiscovery(ctx, cl, running); err != nil {
		errs = append(errs, err)
	}
	return ports, errors.Join(errs...)
}

// publishDiscovery makes ids (node ids, in order) the cluster's Auto
// Discovery list: stored first with the next configuration version if the
// list changed, then handed to the engine for the fronts.
func (c *Controller) publishDiscovery(ctx context.Context, cl *keyward.CacheCluster, ids []string) error {
	if cl.ConfigVersion == 0 || !slices.Equal(ids, cl.ConfigNodes) {
		var version int64
		err := c.update(ctx, func(tx keyward.Tx) error {
			cur, err := keyward.Clusters.Get(ctx, tx, cl.Scope, cl.ID)
			if err != nil {
				return err
			}
			version = cur.ConfigVersion
			if version != 0 && slices.Equal(ids, cur.ConfigNodes) {
				return nil
			}
			version++
			cur.ConfigVersion, cur.ConfigNodes = version, slices.Clone(ids)
			return keyward.Clusters.Update(ctx, tx, cur)
		})
		if err != nil {
			return fmt.Errorf("reconcile: discovery of %s: %w", cl.ID, err)
		}
		cl.ConfigVersion, cl.ConfigNodes = version, slices.Clone(ids)
	}
	engineIDs := make([]string, len(ids))
	for i, id := range ids {
		engineIDs[i] = cl.NodeID(id)
	}
	if err := c.Memcached.SetMemcachedDiscovery(cl.MemcachedClusterID(), cl.ConfigVersion, engineIDs); err != nil {
		return fmt.Errorf("reconcile: discovery of %s: %w", cl.ID, err)
	}
	return nil
}

// memcachedMemory is a Memcached node's item memory in MB: the node type's
// max_cache_memory from the catalogue, or keyward's estimate from its size.
func memcachedMemory(nodeType string) (int, error) {
	if n, ok := catalog.MaxMemory(catalog.Memcached, nodeType); ok {
		return int(n >> 20), nil
	}
	return keyward.MemcachedMemoryMB(nodeType)
}

// applyRedisCluster runs a Redis cluster's one node with the ACLs of a
// cache without a user group: access control off, or the AUTH token.
func (c *Controller) applyRedisCluster(ctx context.Context, cl *keyward.CacheCluster) (map[string]int, string, error) {
	if len(cl.Nodes) == 0 {
		return nil, "", nil
	}
	n := cl.Nodes[0]
	id := cl.NodeID(n.ID)
	want, err := Plan(&keyward.Cache{Engine: cl.Engine, TransitEncryption: cl.TransitEncryption, AuthTokenHashes: cl.AuthTokenHashes}, nil, nil)
	if err != nil {
		return nil, "", Terminal(err)
	}
	nctx, cancel := context.WithTimeout(ctx, nodeTimeout)
	defer cancel()
	if se := c.snapshotEngine(); se != nil && cl.Status == keyward.ClusterCreating && cl.RestoreFile != "" && n.Port == 0 {
		// Restored: the node's first start loads the snapshot.
		if err := c.verifySource(ctx, cl.Engine, cl.RestoreFile); err != nil {
			return nil, "", err
		}
		if err := se.SeedNode(nctx, id, cl.RestoreFile); err != nil {
			return nil, "", fmt.Errorf("reconcile: restore %s: %w", id, err)
		}
	}
	spec := NodeSpec{ID: id, Engine: cl.Engine, TLS: cl.TransitEncryption, Port: cl.ClientPort()}
	// The node type's memory and the parameter group's values, as a
	// replication group's nodes get them: the immediate ones live, the
	// requires-reboot ones when the process starts (first, or rebooted),
	// which the node then records (BootParams; pending-reboot otherwise).
	like := &keyward.Cache{Scope: cl.Scope, Engine: cl.Engine, CacheNodeType: cl.CacheNodeType, Settings: cl.Settings}
	spec.MaxMemory, spec.MaxMemoryPolicy = nodeMemory(like)
	var set nodeSettings
	if err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		set, err = nodeConfig(ctx, tx, like)
		return err
	}); err != nil {
		return nil, "", err
	}
	set.apply(&spec)
	if n.Port == 0 || n.Reboot {
		cl.Nodes[0].BootParams = catalog.BootFingerprint(set.boot) // recorded by finishCluster
	}
	port, err := c.Engine.EnsureNode(nctx, spec)
	if err != nil {
		return nil, "", fmt.Errorf("reconcile: node %s: %w", id, err)
	}
	if a, ok := c.Engine.(NodeAddresser); ok {
		cl.Nodes[0].Address = a.NodeHost(id) // recorded by finishCluster
	}
	// A reboot after the spec is recorded: the process starts with it.
	if n.Reboot && n.Port != 0 {
		r, ok := c.Engine.(NodeRestarter)
		if !ok {
			return nil, "", Terminal(errors.New("reconcile: the engine cannot restart nodes"))
		}
		if err := r.RestartNode(nctx, id); err != nil {
			return nil, "", fmt.Errorf("reconcile: reboot %s: %w", id, err)
		}
	}
	if _, err := c.Engine.ApplyACL(nctx, id, want.Users, nil); err != nil {
		return nil, "", fmt.Errorf("reconcile: acl on %s: %w", id, err)
	}
	return map[string]int{n.ID: port}, want.Fingerprint, nil
}

// finishCluster records the ports, drops removed nodes, clears reboots and,
// once the delay has passed, makes the cluster available. It changes
// nothing if the cluster changed meanwhile (a new pass follows).
func (c *Controller) finishCluster(ctx context.Context, seen *keyward.CacheCluster, ports map[string]int, acl string) (time.Duration, error) {
	var after time.Duration
	err := c.update(ctx, func(tx keyward.Tx) error {
		after = 0
		cur, err := keyward.Clusters.Get(ctx, tx, seen.Scope, seen.ID)
		if err != nil {
			return err
		}
		if cur.Generation != seen.Generation {
			after = time.Millisecond
			return nil
		}
		next := cur.Clone()
		changed := false
		if next.AppliedACL != acl {
			next.AppliedACL, changed = acl, true
		}
		if seen.ConfigPort != 0 && (next.ConfigAddress != seen.ConfigAddress || next.ConfigPort != seen.ConfigPort) {
			next.ConfigAddress, next.ConfigPort, changed = seen.ConfigAddress, seen.ConfigPort, true
		}
		for i := range next.Nodes {
			if p, ok := ports[next.Nodes[i].ID]; ok && next.Nodes[i].Port != p {
				next.Nodes[i].Port, changed = p, true
			}
			for _, sn := range seen.Nodes {
				if sn.ID == next.Nodes[i].ID && sn.Address != "" && sn.Address != next.Nodes[i].Address {
					next.Nodes[i].Address, changed = sn.Address, true
				}
				if sn.ID == next.Nodes[i].ID && sn.BootParams != next.Nodes[i].BootParams {
					next.Nodes[i].BootParams, changed = sn.BootParams, true
				}
			}
		}
		// A snapshot's end is the snapshot pass's to store
		// (clusterSnapshotted).
		if next.Status != keyward.ClusterAvailable && next.Status != keyward.ClusterSnapshotting {
			if after = c.wait(next.StatusSince); after > 0 {
				if !changed {
					return nil
				}
				return keyward.Clusters.Update(ctx, tx, next)
			}
			next.Nodes = next.LiveNodes()
			for i := range next.Nodes {
				next.Nodes[i].Reboot, next.Nodes[i].Adding = false, false
			}
			next.Status, next.StatusSince, changed = keyward.ClusterAvailable, c.Now(), true
		}
		if !changed {
			return nil
		}
		return keyward.Clusters.Update(ctx, tx, next)
	})
	return after, err
}

func (c *Controller) failCluster(ctx context.Context, seen *keyward.CacheCluster, cause error) error {
	c.Logger.Error("reconcile: cache cluster creation failed", "cluster", seen.ID, "err", cause)
	return c.update(ctx, func(tx keyward.Tx) error {
		cur, err := keyward.Clusters.Get(ctx, tx, seen.Scope, seen.ID)
		if err != nil || cur.Status != keyward.ClusterCreating {
			return err
		}
		cur.Status, cur.StatusSince, cur.FailureMessage = keyward.ClusterCreateFailed, c.Now(), cause.Error()
		return keyward.Clusters.Update(ctx, tx, cur)
	})
}

// deleteCluster stops every node, then deletes the cluster and its tags.
func (c *Controller) deleteCluster(ctx context.Context, cl *keyward.CacheCluster) (time.Duration, error) {
	if after := c.wait(cl.StatusSince); after > 0 {
		return after, nil
	}
	for _, n := range cl.Nodes {
		id := cl.NodeID(n.ID)
		var err error
		switch {
		case cl.IsMemcached() && c.Memcached != nil:
			err = c.Memcached.StopMemcached(ctx, id)
		case !cl.IsMemcached() && c.Engine != nil:
			err = c.Engine.StopNode(ctx, id)
		}
		if err != nil {
			return 0, fmt.Errorf("reconcile: stop %s: %w", id, err)
		}
	}
	if cl.IsMemcached() && c.Memcached != nil {
		if err := c.Memcached.StopMemcachedEndpoint(ctx, cl.MemcachedClusterID()); err != nil {
			return 0, fmt.Errorf("reconcile: stop configuration endpoint of %s: %w", cl.ID, err)
		}
	}
	err := c.update(ctx, func(tx keyward.Tx) error {
		return keyward.Clusters.Delete(ctx, tx, cl.Scope, cl.ID)
	})
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		err = nil
	}
	return 0, err
}

// clusterNodes enqueues every cache cluster (drift repair) and returns the
// engine ids of their Redis nodes, which the cache resync must not take
// for orphans. Memcached nodes listed in mcNodes that belong to no cluster
// are stopped. mcNodes must be listed before the clusters are read.
func (c *Controller) clusterNodes(ctx context.Context, mcNodes []string) (map[string]bool, error) {
	var endpoints []string // listed before the clusters are read, as mcNodes
	if c.Memcached != nil {
		endpoints = c.Memcached.MemcachedEndpoints()
	}
	var all []*keyward.CacheCluster
	err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		all, err = keyward.Clusters.Find(ctx, tx, keyward.DocQuery{AllScopes: true})
		return err
	})
	if err != nil {
		return nil, err
	}
	redis, mc, mcClusters := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, cl := range all {
		if cl.IsMemcached() {
			mcClusters[cl.MemcachedClusterID()] = true
		}
		for _, n := range cl.Nodes {
			if cl.IsMemcached() {
				mc[cl.NodeID(n.ID)] = true
			} else {
				redis[cl.NodeID(n.ID)] = true
			}
		}
		c.q.add(keyward.Key{Resource: keyward.ResourceCacheCluster, Scope: cl.Scope, ID: cl.ID})
	}
	for _, id := range mcNodes {
		if !mc[id] {
			c.Logger.Info("reconcile: stopping orphan memcached node", "node", id)
			if err := c.Memcached.StopMemcached(ctx, id); err != nil {
				c.Logger.Warn("reconcile: stop orphan", "node", id, "err", err)
			}
		}
	}
	for _, key := range endpoints {
		if !mcClusters[key] {
			c.Logger.Info("reconcile: stopping orphan configuration endpoint", "cluster", key)
			if err := c.Memcached.StopMemcachedEndpoint(ctx, key); err != nil {
				c.Logger.Warn("reconcile: stop orphan endpoint", "cluster", key, "err", err)
			}
		}
	}
	return redis, nil
}
