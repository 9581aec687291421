package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"keyward"
)

// NodeSpec describes one engine process of a cache.
type NodeSpec struct {
	ID        string // keyward.Cache.NodeID
	Engine    keyward.Engine
	ReplicaOf string // node ID of the primary; "" for the primary
	TLS       bool
	// MaxMemory (bytes, 0: none) and MaxMemoryPolicy come from the
	// cache's node type (see nodeMemory).
	MaxMemory       int64
	MaxMemoryPolicy string
	// Config holds engine directives from the cache's parameter group
	// (see nodeConfig), and BootConfig those that apply when the node's
	// process starts.
	Config     map[string]string
	BootConfig map[string]string
	// Cache is the node's cache (kind, scope, id), which its front needs:
	// IAM tokens name the cache. Not to be modified.
	Cache   *keyward.Cache
	Cluster bool // a Redis Cluster node: no ReplicaOf, see clustermode.go

	// Port is the client port a new node asks for (the cache's); 0: any.
	Port int
	// Binds are the group's endpoint addresses this node serves now (the
	// primary endpoint's on the primary, the reader endpoint's on one
	// replica), and CertHosts every endpoint address of the group, which
	// TLS certificates name (see NodeAddresser).
	Binds, CertHosts []string
	// Failover: the node is the primary of a group that fails over
	// automatically (see autoFailover); the engine leaves it down when it
	// dies, for the reconciler to promote a replica.
	Failover bool
	// ReplGroup: nodes that share it share one replication password
	// (every node of a Redis Cluster, whose failovers are its own).
	ReplGroup string
	// ShareHost: a new node gets the address of this node (an engine
	// id) instead of one of its own: a serverless cache's reader, at the
	// next port of the cache's endpoint (serverless.go).
	ShareHost string
}

// Engine runs cache nodes and sets their ACLs. Package engine implements it
// (through a small adapter in package server).
type Engine interface {
	// EnsureNode starts the node if needed and returns its port.
	EnsureNode(ctx context.Context, spec NodeSpec) (port int, err error)
	// StopNode stops the node and removes its data; idempotent.
	StopNode(ctx context.Context, id string) error
	// ApplyACL makes the node's ACL users exactly users, then closes the
	// connections of the users named in kill.
	ApplyACL(ctx context.Context, id string, users []ACLUser, kill []string) (changed bool, err error)
	// NodeIDs lists every node the engine runs.
	NodeIDs() []string
}

// terminalError marks a failure that retrying cannot fix.
type terminalError struct{ err error }

func (e terminalError) Error() string { return e.err.Error() }
func (e terminalError) Unwrap() error { return e.err }

// Terminal wraps err so the reconciler records it instead of retrying, e.g.
// an engine binary that is not installed: the cache becomes create-failed.
func Terminal(err error) error { return terminalError{err} }

// IsTerminal reports whether err was wrapped by Terminal.
func IsTerminal(err error) bool {
	var t terminalError
	return errors.As(err, &t)
}

// pollConverge is how often a cluster-mode cache whose cluster is still
// forming looks again.
const pollConverge = 20 * time.Millisecond

// planInput is what a cache's ACLs are planned from besides the cache: its
// attached group and the group's effective members.
type planInput struct {
	g       *keyward.UserGroup
	members []*keyward.User
}

// desired reads a cache's attached group and its effective members and plans
// the cache's ACLs.
func (ctl *Controller) desired(ctx context.Context, tx keyward.Tx, c *keyward.Cache) (Desired, error) {
	return ctl.desiredMemo(ctx, tx, c, nil)
}

// desiredMemo is desired reading each group (and its members) once per memo,
// for callers that plan many caches of the same groups in one transaction.
func (ctl *Controller) desiredMemo(ctx context.Context, tx keyward.Tx, c *keyward.Cache, memo map[string]*planInput) (Desired, error) {
	if len(c.UserGroupIDs) == 0 {
		d, err := Plan(c, nil, nil)
		return globalPlan(ctx, tx, c, d, err)
	}
	in := memo[c.UserGroupIDs[0]]
	if in == nil {
		g, err := tx.FindUserGroupByID(ctx, c.Scope, c.UserGroupIDs[0])
		if err != nil {
			return Desired{}, err
		}
		in = &planInput{g: g}
		for _, id := range EffectiveMembers(g) {
			u, err := tx.FindUserByID(ctx, c.Scope, id)
			if keyward.ErrorCode(err) == keyward.ENOTFOUND {
				continue
			} else if err != nil {
				return Desired{}, err
			}
			if u.Status != keyward.UserDeleting {
				in.members = append(in.members, u)
			}
		}
		if memo != nil {
			memo[g.ID] = in
		}
	}
	var iam func(string) string
	if ctl.IAMSecretHash != nil {
		iam = func(user string) string { return ctl.IAMSecretHash(c, user) }
	}
	d, err := PlanIAM(c, in.g, in.members, iam)
	return globalPlan(ctx, tx, c, d, err)
}

// groupConverged returns the caches that apply the group but have not
// applied their desired ACLs on every node yet, and enqueues them (a cache
// backing off after a failure keeps its backoff). That includes caches
// still detaching from the group: until they have applied their new state,
// their nodes still hold the group's users. wait is when the soonest retry
// of a failing one among them is due (0: none is backing off); the caller
// waits for their reports (see waiters), not for a poll.
//
// It reads the group's caches and the caches in transition, never every
// cache of the scope, and each group's members once (memo, shared by the
// calls of one transaction).
func (c *Controller) groupConverged(ctx context.Context, tx keyward.Tx, g *keyward.UserGroup, memo map[string]*planInput) (pending []keyward.Key, wait time.Duration, err error) {
	refs := attachedCaches(g)
	// A detaching cache is modifying, so unsettled: the unsettled keys
	// (an index) find them all.
	keys, err := tx.FindUnsettled(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, k := range keys {
		kind, ok := cacheKindOf(k.Resource)
		if !ok || k.Scope != g.Scope || slices.ContainsFunc(refs, func(r cacheRef) bool { return r.kind == kind && r.id == k.ID }) {
			continue
		}
		cache, err := tx.FindCacheByID(ctx, g.Scope, kind, k.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, 0, err
		}
		if slices.Contains(cache.PendingUserGroupsRemove, g.ID) {
			refs = append(refs, cacheRef{kind, k.ID})
		}
	}
	for _, ref := range refs {
		if k := (keyward.Key{Resource: ref.kind.Resource(), Scope: g.Scope, ID: ref.id}); c.fanning(k) {
			// Its pass (kicked by the change, see fanOut) is under way and
			// reports when it ends; the caller looks again then. Reading
			// the cache now would tell nothing more.
			pending = append(pending, k)
			continue
		}
		cache, err := tx.FindCacheByID(ctx, g.Scope, ref.kind, ref.id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, 0, err
		}
		if cache.Status == keyward.CacheCreateFailed || cache.Status == keyward.CacheDeleting {
			continue
		}
		d, err := c.desiredMemo(ctx, tx, cache, memo)
		if err != nil {
			return nil, 0, err
		}
		if cache.AppliedACL != d.Fingerprint {
			k := keyward.Key{Resource: ref.kind.Resource(), Scope: g.Scope, ID: ref.id}
			pending = append(pending, k)
			c.q.addIdle(k) // a pass in progress reports when it ends
			if b := c.q.backoff(k); b > 0 && (wait == 0 || b < wait) {
				wait = b
			}
		}
	}
	return pending, wait, nil
}

func cacheKindOf(r keyward.Resource) (keyward.CacheKind, bool) {
	switch r {
	case keyward.ResourceReplicationGroup:
		return keyward.KindReplicationGroup, true
	case keyward.ResourceServerlessCache:
		return keyward.KindServerless, true
	}
	return "", false
}

type cacheRef struct {
	kind keyward.CacheKind
	id   string
}

func attachedCaches(g *keyward.UserGroup) []cacheRef {
	var refs []cacheRef
	for _, id := range g.ReplicationGroups {
		refs = append(refs, cacheRef{keyward.KindReplicationGroup, id})
	}
	for _, id := range g.ServerlessCaches {
		refs = append(refs, cacheRef{keyward.KindServerless, id})
	}
	return refs
}

// reconcileCache converges a cache's nodes on its stored state: processes
// running and replicating, ACLs applied on every node; then it completes
// the cache's status transition.
func (c *Controller) reconcileCache(ctx context.Context, k keyward.Key, kind keyward.CacheKind) (time.Duration, error) {
	var cache *keyward.Cache
	var want Desired
	var set nodeSettings
	var err error
	if p := c.takePrepared(k); p != nil {
		cache, want, set = p.cache, p.want, p.set
	} else {
		err = c.Store.View(ctx, func(tx keyward.Tx) (err error) {
			if cache, err = tx.FindCacheByID(ctx, k.Scope, kind, k.ID); err != nil {
				return err
			}
			if want, err = c.desired(ctx, tx, cache); err != nil {
				return err
			}
			if set, err = nodeConfig(ctx, tx, cache); err != nil {
				return err
			}
			set.upstream, err = globalUpstream(ctx, tx, cache)
			return err
		})
	}
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	switch cache.Status {
	case keyward.CacheCreateFailed:
		c.cacheDone(k)
		return 0, nil
	case keyward.CacheDeleting:
		return c.deleteCache(ctx, cache)
	}
	c.reportRefused(cache, want)
	if c.Engine == nil {
		return c.finishCache(ctx, cache, want, nil, nil)
	}
	if err := c.dropLeaving(ctx, cache); err != nil {
		return 0, err
	}
	if cache, err = c.serverlessMode(ctx, cache); err != nil { // serverless.go
		return 0, err
	}
	if cache, err = c.autoFailover(ctx, cache); err != nil {
		return 0, err
	}
	c.globalPrimaryMoved(ctx, cache)
	var ports []int
	if cache.Status == keyward.CacheCreating && cache.RestoreFile != "" && len(cache.Nodes) > 0 && cache.Nodes[0].Port == 0 {
		err = c.verifySource(ctx, cache.Engine, cache.RestoreFile) // before the primary starts with it
	}
	if err == nil {
		ports, err = c.applyNodes(ctx, cache, want, set)
	}
	var roles []keyward.CacheNode
	if err == nil {
		// Cluster mode: form the cluster, learn the roles, then move slots
		// and fail over as asked (clusterscale.go).
		var again bool
		if roles, again, err = c.scale(ctx, cache, ports); err == nil && again {
			return pollConverge, nil
		}
	}
	if err == nil {
		// A restore key by key, once the nodes run (restore.go).
		var ready bool
		if ready, err = c.loadRestore(ctx, cache, roles); err == nil && !ready {
			return time.Millisecond, nil
		}
	}
	if err == nil {
		// A cluster-mode global datastore's links (globalcluster.go).
		var again bool
		if again, err = c.globalClusterLinks(ctx, cache); err == nil && again {
			return 5 * pollConverge, nil
		}
	}
	if err != nil {
		if IsTerminal(err) && cache.Status == keyward.CacheCreating {
			err = c.failCache(ctx, cache, err)
			if err == nil {
				c.cacheDone(k)
			}
			return 0, err
		}
		return 0, err
	}
	// Migrations (migration.go) and restarts (restarts.go) act on the
	// running nodes; each stores its own progress.
	again, err := c.followSource(ctx, cache)
	if err == nil && !again {
		again, err = c.restartStep(ctx, cache, want, set)
	}
	if err != nil {
		return 0, err
	}
	after, err := c.finishCache(ctx, cache, want, ports, roles)
	if again && err == nil && (after <= 0 || after > pollConverge) {
		after = pollConverge
	}
	return after, err
}

// nodeTimeout bounds the work on one node in one pass, so that a hung node
// (SIGSTOPped, say) cannot hold back the others.
const nodeTimeout = 5 * time.Second

// applyNodes makes every node of the cache run and hold want. Every node is
// handled on its own, in parallel and with its own timeout, so a revocation
// reaches every healthy node even while another node hangs; only a new
// group's primary is started before its replicas, which follow it. It returns the node ports, or the first
// error after every node has been tried: the cache then stays unsettled.
func (c *Controller) applyNodes(ctx context.Context, cache *keyward.Cache, want Desired, set nodeSettings) ([]int, error) {
	ports := make([]int, len(cache.Nodes))
	hosts := make([]string, len(cache.Nodes)) // into cache.Nodes once all ran
	errs := make([]error, len(cache.Nodes))
	kill := Kill(cache.AppliedDefaultUser, want)
	primary := cache.PrimaryIndex()
	pAddr, rAddr, err := c.endpointAddrs(cache)
	if err != nil {
		return nil, fmt.Errorf("reconcile: endpoint addresses of %s: %w", cache.ID, err)
	}
	cache.PrimaryAddress, cache.ReaderAddress = pAddr, rAddr // recorded by finishCache
	reader := c.readerIndex(cache, primary)
	if pAddr != "" {
		cache.ReaderNode = cache.Nodes[reader].ClusterID // recorded by finishCache
	}
	node := func(i int) {
		n := cache.Nodes[i]
		nctx, cancel := context.WithTimeout(ctx, nodeTimeout)
		defer cancel()
		spec := NodeSpec{ID: cache.NodeID(n.ClusterID), Engine: cache.Engine, TLS: cache.TransitEncryption, Cache: cache, Cluster: runsCluster(cache)}
		spec.MaxMemory, spec.MaxMemoryPolicy = nodeMemory(cache)
		set.apply(&spec)
		if runsCluster(cache) {
			// The cluster decides who replicates whom (failovers are its
			// own): every node shares the group's replication password.
			spec.ReplGroup = cache.NodeID(cache.ID) + ".cluster"
		} else if i != primary {
			spec.ReplicaOf = cache.NodeID(cache.Nodes[primary].ClusterID)
		}
		if spec.ReplicaOf == "" && !cache.ClusterMode && set.upstream != "" {
			spec.ReplicaOf = set.upstream // the group's primary follows another region's
		}
		spec.Port = cache.ClientPort()
		serverlessSpec(cache, i, &spec) // serverless.go
		if pAddr != "" {
			spec.CertHosts = []string{pAddr, rAddr}
			if i == primary {
				spec.Binds = append(spec.Binds, pAddr)
			}
			if i == reader {
				spec.Binds = append(spec.Binds, rAddr)
			}
		}
		// A global datastore's secondary primary follows another region's:
		// it is not failed over here.
		spec.Failover = hasEndpoints(cache) && i == primary && spec.ReplicaOf == "" && cache.Settings.AutomaticFailover && len(cache.Nodes) > 1
		if err := c.seedNode(nctx, cache, i, spec.ID); err != nil {
			errs[i] = fmt.Errorf("reconcile: restore %s: %w", spec.ID, err)
			return
		}
		port, err := c.Engine.EnsureNode(nctx, spec)
		if err != nil {
			errs[i] = fmt.Errorf("reconcile: node %s: %w", spec.ID, err)
			return
		}
		ports[i] = port
		if a, ok := c.Engine.(NodeAddresser); ok {
			hosts[i] = a.NodeHost(spec.ID)
		}
		if err := c.restored(nctx, cache, i, spec.ID); err != nil {
			errs[i] = fmt.Errorf("reconcile: restore %s: %w", spec.ID, err)
			return
		}
		if _, err := c.Engine.ApplyACL(nctx, spec.ID, want.Users, kill); err != nil {
			errs[i] = fmt.Errorf("reconcile: acl on %s: %w", n.ClusterID, err)
		}
	}
	if len(cache.Nodes) == 0 {
		return ports, nil
	}
	var wg sync.WaitGroup
	first := false
	// A new cluster's nodes all start at once: formCluster makes the
	// replicas replicate once they run. Not a serverless cache's: its
	// reader takes the primary's address (ShareHost), which exists only
	// once the primary ran.
	if (!cache.ClusterMode || cache.Kind == keyward.KindServerless) && (cache.Nodes[primary].Port == 0 || !c.nodeUp(cache.NodeID(cache.Nodes[primary].ClusterID))) {
		// A new group, or a primary down: replicas need their primary
		// running first (after a failover, the promoted one).
		node(primary)
		first = true
	}
	inline := -1 // the last node runs on this goroutine, the others alongside
	for i := 0; i < len(cache.Nodes); i++ {
		if first && i == primary {
			continue
		}
		// Only a primary started above, before the loop, can hold back a
		// new replica; otherwise the primary runs in parallel and its
		// error is not ours to read.
		if first && errs[primary] != nil && cache.Nodes[i].Port == 0 {
			errs[i] = errs[primary]
			continue
		}
		if j := inline; j >= 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				node(j)
			}()
		}
		inline = i
	}
	if inline >= 0 {
		node(inline)
	}
	wg.Wait()
	for i, h := range hosts {
		if h != "" {
			cache.Nodes[i].Address = h // recorded by finishCache
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return ports, nil
}

// finishCache records what was applied and, once the delay has passed,
// completes creating/modifying. It changes nothing if the cache was changed
// meanwhile (another pass follows that change).
func (c *Controller) finishCache(ctx context.Context, seen *keyward.Cache, want Desired, ports []int, roles []keyward.CacheNode) (time.Duration, error) {
	key := keyward.Key{Resource: seen.Kind.Resource(), Scope: seen.Scope, ID: seen.ID}
	if next := recorded(seen, seen, want, ports, roles); sameCache(seen, next) && seen.Status != keyward.CacheCreating && seen.Status != keyward.CacheModifying {
		// Nothing to record (the periodic resync of a cache at rest): no
		// write transaction. Had the cache changed since it was read, that
		// change's own pass follows.
		c.cacheDone(key)
		return 0, nil
	}
	var after time.Duration
	var groups []string
	var applied bool
	err := c.update(ctx, func(tx keyward.Tx) error {
		after, groups, applied = 0, nil, false
		cur, err := tx.FindCacheByID(ctx, seen.Scope, seen.Kind, seen.ID)
		if err != nil {
			return err
		}
		if cur.Generation != seen.Generation {
			after = time.Millisecond // look again at the new generation
			return nil
		}
		next := recorded(cur, seen, want, ports, roles)
		if next.Status == keyward.CacheCreating || next.Status == keyward.CacheModifying {
			if after = c.wait(next.StatusSince); after <= 0 {
				groups = append(groups, next.PendingUserGroupsAdd...)
				groups = append(groups, next.PendingUserGroupsRemove...)
				next.Status, next.StatusSince = keyward.CacheAvailable, c.Now()
				next.PendingUserGroupsAdd, next.PendingUserGroupsRemove = nil, nil
			}
		}
		if sameCache(cur, next) {
			return nil
		}
		applied = cur.AppliedACL != next.AppliedACL
		return tx.UpdateCache(ctx, next)
	})
	for _, g := range groups {
		c.q.add(keyward.Key{Resource: keyward.ResourceUserGroup, Scope: seen.Scope, ID: g})
	}
	if err == nil && (applied || after == 0) {
		// Users and groups waiting for this cache may finish now.
		c.cacheDone(key)
	}
	return after, err
}

// recorded returns a copy of cur recording what a pass over seen applied:
// the node ports and addresses, the endpoint addresses, the roles learned
// from the nodes (nil: kept), and the ACLs' fingerprint and default
// identity.
func recorded(cur, seen *keyward.Cache, want Desired, ports []int, roles []keyward.CacheNode) *keyward.Cache {
	next := cur.Clone()
	for i := range next.Nodes {
		if i < len(ports) {
			next.Nodes[i].Port = ports[i]
			if i < len(seen.Nodes) && seen.Nodes[i].ClusterID == next.Nodes[i].ClusterID {
				next.Nodes[i].Address = seen.Nodes[i].Address
			}
		}
		if i < len(roles) {
			next.Nodes[i].Role, next.Nodes[i].Recovering = roles[i].Role, roles[i].Recovering
		}
	}
	if ports != nil {
		next.PrimaryAddress, next.ReaderAddress, next.ReaderNode = seen.PrimaryAddress, seen.ReaderAddress, seen.ReaderNode
	}
	next.AppliedACL, next.AppliedDefaultUser = want.Fingerprint, want.DefaultIdentity
	return next
}

func sameCache(a, b *keyward.Cache) bool {
	if a.Status != b.Status || a.AppliedACL != b.AppliedACL || a.AppliedDefaultUser != b.AppliedDefaultUser || len(a.Nodes) != len(b.Nodes) ||
		a.PrimaryAddress != b.PrimaryAddress || a.ReaderAddress != b.ReaderAddress || a.ReaderNode != b.ReaderNode {
		return false
	}
	for i := range a.Nodes {
		if a.Nodes[i] != b.Nodes[i] {
			return false
		}
	}
	return true
}

func (c *Controller) failCache(ctx context.Context, seen *keyward.Cache, cause error) error {
	c.Logger.Error("reconcile: cache creation failed", "cache", seen.ID, "err", cause)
	return c.update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, seen.Scope, seen.Kind, seen.ID)
		if err != nil || cur.Status != keyward.CacheCreating {
			return err
		}
		cur.Status, cur.StatusSince, cur.FailureMessage = keyward.CacheCreateFailed, c.Now(), cause.Error()
		return tx.UpdateCache(ctx, cur)
	})
}

// deleteCache stops every node, then deletes the cache; the groups it was
// attached to are looked at again (their ReplicationGroups change).
func (c *Controller) deleteCache(ctx context.Context, cache *keyward.Cache) (time.Duration, error) {
	if after := c.wait(cache.StatusSince); after > 0 {
		return after, nil
	}
	if c.Engine != nil {
		for _, n := range cache.Nodes {
			if err := c.Engine.StopNode(ctx, cache.NodeID(n.ClusterID)); err != nil {
				return 0, fmt.Errorf("reconcile: stop %s: %w", n.ClusterID, err)
			}
		}
	}
	err := c.update(ctx, func(tx keyward.Tx) error {
		return tx.DeleteCache(ctx, cache.Scope, cache.Kind, cache.ID)
	})
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		err = nil
	}
	if err == nil && c.Engine != nil {
		err = c.releaseEndpoints(cache)
	}
	for _, g := range cache.UserGroupIDs {
		c.q.add(keyward.Key{Resource: keyward.ResourceUserGroup, Scope: cache.Scope, ID: g})
	}
	if err == nil {
		c.cacheDone(keyward.Key{Resource: cache.Kind.Resource(), Scope: cache.Scope, ID: cache.ID})
	}
	return 0, err
}

// resyncData enqueues every cache so drift on the nodes (an ACL changed by
// hand, a node restarted) is repaired without any API call, and stops nodes
// that belong to no cache.
func (c *Controller) resyncData(ctx context.Context) { c.resyncDataWith(ctx, c.q.add) }

func (c *Controller) resyncDataWith(ctx context.Context, enqueue func(keyward.Key)) {
	// List nodes before reading caches: a cache is stored before its nodes
	// start and deleted after they stop, so a node listed first that has no
	// cache afterwards really is an orphan.
	var nodes []string
	if c.Engine != nil {
		nodes = c.Engine.NodeIDs()
	}
	var mcNodes []string
	if c.Memcached != nil {
		mcNodes = c.Memcached.MemcachedIDs()
	}
	var caches []*keyward.Cache
	since := c.epoch.Load()
	prepared := map[keyward.Key]*preparedPass{}
	err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		if caches, err = tx.FindAllCaches(ctx); err != nil {
			return err
		}
		// Plan every cache at rest here, reading each group and its
		// members once, instead of one transaction of point reads per
		// cache in its pass.
		memo := map[keyward.Scope]map[string]*planInput{}
		for _, cache := range caches {
			if cache.Status != keyward.CacheAvailable {
				continue
			}
			if memo[cache.Scope] == nil {
				memo[cache.Scope] = map[string]*planInput{}
			}
			// The pass gets its own copy: it records node addresses on
			// it while this resync still reads caches below.
			p := &preparedPass{cache: cache.Clone(), epoch: since}
			if p.want, err = c.desiredMemo(ctx, tx, cache, memo[cache.Scope]); err != nil {
				return err
			}
			if p.set, err = nodeConfig(ctx, tx, cache); err != nil {
				return err
			}
			if p.set.upstream, err = globalUpstream(ctx, tx, cache); err != nil {
				return err
			}
			prepared[keyward.Key{Resource: cache.Kind.Resource(), Scope: cache.Scope, ID: cache.ID}] = p
		}
		return nil
	})
	if err == nil {
		c.prepMu.Lock()
		c.prepared = prepared
		c.prepMu.Unlock()
	}
	if err != nil {
		if ctx.Err() == nil {
			c.Logger.Error("reconcile: data resync", "err", err)
		}
		return
	}
	c.backups(ctx, caches)
	known, err := c.clusterNodes(ctx, mcNodes)
	if err != nil {
		if ctx.Err() == nil {
			c.Logger.Error("reconcile: data resync", "err", err)
		}
		return
	}
	for _, cache := range caches {
		for _, n := range cache.Nodes {
			known[cache.NodeID(n.ClusterID)] = true
		}
		enqueue(keyward.Key{Resource: cache.Kind.Resource(), Scope: cache.Scope, ID: cache.ID})
	}
	for _, id := range nodes {
		if !known[id] {
			c.Logger.Info("reconcile: stopping orphan node", "node", id)
			if err := c.Engine.StopNode(ctx, id); err != nil {
				c.Logger.Warn("reconcile: stop orphan", "node", id, "err", err)
			}
		}
	}
}

// preparedPass is a cache's stored and desired state read by a drift
// resync for the cache's pass (see Controller.epoch).
type preparedPass struct {
	cache *keyward.Cache
	want  Desired
	set   nodeSettings
	epoch uint64
	// fresh: read after the key was handed out (Controller.fanOut), so
	// valid whatever the epoch.
	fresh bool
}

// takePrepared returns k's prepared state if nothing changed since it was
// read, and forgets it either way.
func (c *Controller) takePrepared(k keyward.Key) *preparedPass {
	c.prepMu.Lock()
	p := c.prepared[k]
	delete(c.prepared, k)
	c.prepMu.Unlock()
	if p == nil || !p.fresh && p.epoch != c.epoch.Load() {
		return nil
	}
	return p
}

// reportRefused logs each member of cache that Plan left out, once while
// its reason stays the same.
func (c *Controller) reportRefused(cache *keyward.Cache, want Desired) {
	for id, why := range want.Refused {
		key := cache.Scope.Account + "/" + cache.Scope.Region + "/" + cache.ID + "/" + id
		if old, ok := c.refused.Swap(key, why); ok && old == why {
			continue
		}
		c.Logger.Error("reconcile: user left off the cache's nodes: its access string cannot be applied", "cache", cache.ID, "user", id, "reason", why)
	}
}
