// Package reconcile moves keyward's resources from their intermediate
// statuses ("creating", "modifying", "deleting") to their resting ones.
//
// It is level-triggered, as controller-runtime's reconcilers are: the queue
// holds resource keys, never events, and every pass re-reads the stored
// desired state. Request handlers only record an accepted change and enqueue
// the key; a periodic resync of every unsettled resource makes a lost
// notification (or a crash between commit and enqueue) harmless, so a user
// left "deleting" by a killed process finishes after restart.
package reconcile

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"keyward"
)

// Controller reconciles users and user groups. Set the fields, then call Run.
type Controller struct {
	Store keyward.Store

	// Delay holds every intermediate status at least this long after it was
	// entered, so tests and waiters can observe it (--transition-delay).
	Delay time.Duration

	// Resync is how often every unsettled resource is re-queued; default 5s.
	Resync time.Duration

	// Engine runs the cache nodes; nil runs no data plane (statuses still
	// move, as in a control-plane-only test).
	Engine Engine

	// Memcached runs the nodes of Memcached cache clusters; nil runs none.
	Memcached MemcachedEngine

	// DataResync is how often every cache is re-applied to its nodes to
	// repair drift; default 2s.
	DataResync time.Duration

	// IAMSecretHash returns the SHA-256 (hex) of IAM user user's internal
	// secret on cache c, which the cache's authenticating fronts log in
	// with after verifying the user's IAM token; "" when c has no fronts
	// (then IAM users cannot log in). nil: IAM users never can.
	IAMSecretHash func(c *keyward.Cache, user string) string

	// Workers is the number of keys reconciled in parallel; default 32.
	// A revocation reaches every cache of its groups at once, up to this
	// many caches (each cache's nodes in parallel).
	Workers int

	Logger *slog.Logger
	Now    func() time.Time

	once    sync.Once
	refused sync.Map // users Plan left out, reported (see reportRefused)
	// globalPrimaries maps a global datastore's primary group to the
	// primary node its secondaries were last queued for (see
	// globalPrimaryMoved).
	globalPrimaries sync.Map
	q               *queue
	w               *waiters

	// epoch counts the changes this controller hears of: notifications
	// (Enqueue, Kick, EnqueueAll) and its own writes. A drift resync reads
	// every cache's desired state in one transaction and hands it to the
	// passes it queues (prepared), which use it only while epoch has not
	// moved since that read; otherwise they read afresh.
	epoch    atomic.Uint64
	prepMu   sync.Mutex
	prepared map[keyward.Key]*preparedPass
	kick     chan struct{}
	errors   atomic.Uint64
	links    globalLinks // cluster-mode global datastores (globalcluster.go)

	fanMu sync.Mutex
	fan   map[keyward.Key]int // caches whose fanOut pass runs now
}

// Kick asks for a resync of every unsettled resource soon, e.g. because
// another replica committed a change. Calls coalesce; safe for concurrent use.
func (c *Controller) Kick() {
	c.init()
	c.epoch.Add(1)
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Errors returns how many reconcile passes have failed, for metrics.
func (c *Controller) Errors() uint64 { return c.errors.Load() }

func (c *Controller) init() {
	c.once.Do(func() {
		c.q = newQueue()
		c.w = newWaiters()
		c.kick = make(chan struct{}, 1)
		if c.Now == nil {
			c.Now = time.Now
		}
		if c.Logger == nil {
			c.Logger = slog.Default()
		}
		if c.Resync <= 0 {
			c.Resync = 5 * time.Second
		}
		if c.Workers <= 0 {
			c.Workers = 32
		}
		if c.DataResync <= 0 {
			c.DataResync = 2 * time.Second
		}
	})
}

// Enqueue asks for k to be reconciled now, even if it is backing off
// after a failure (an accepted change may fix it). Safe for concurrent
// use, also before Run.
func (c *Controller) Enqueue(k keyward.Key) {
	c.init()
	c.epoch.Add(1)
	c.q.kick(k)
}

// QueueDepth returns the number of keys waiting, for metrics.
func (c *Controller) QueueDepth() int {
	c.init()
	return c.q.len()
}

// Run reconciles until ctx is cancelled. It resyncs once at start, so work
// left unfinished by a previous process is picked up.
func (c *Controller) Run(ctx context.Context) error {
	c.init()
	var wg sync.WaitGroup
	for range c.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.work(ctx)
		}()
	}
	t := time.NewTicker(c.Resync)
	defer t.Stop()
	d := time.NewTicker(c.DataResync)
	defer d.Stop()
	c.resyncData(ctx)
	for {
		c.resync(ctx)
		select {
		case <-ctx.Done():
			c.q.close()
			wg.Wait()
			return nil
		case <-t.C:
		case <-c.kick:
		case <-d.C:
			c.resyncData(ctx)
		}
	}
}

func (c *Controller) resync(ctx context.Context) {
	var keys []keyward.Key
	err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		keys, err = tx.FindUnsettled(ctx)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			c.Logger.Error("reconcile: resync", "err", err)
		}
		return
	}
	for _, k := range keys {
		c.q.add(k)
	}
}

func (c *Controller) work(ctx context.Context) {
	for {
		k, urgent, ok := c.q.getUrgent()
		if !ok {
			return
		}
		if _, cache := cacheKindOf(k.Resource); cache && urgent {
			c.fanOut(ctx, append([]keyward.Key{k}, c.q.takeUrgent(isCacheKey, maxFanOut-1)...))
			continue
		}
		c.pass(ctx, k)
	}
}

// maxFanOut bounds how many kicked caches one worker reconciles at once.
const maxFanOut = 1024

func isCacheKey(k keyward.Key) bool {
	_, ok := cacheKindOf(k.Resource)
	return ok
}

// pass reconciles k once, handles the outcome (retry, backoff, a later
// look) and releases k in the queue.
func (c *Controller) pass(ctx context.Context, k keyward.Key) {
	after, err := c.Reconcile(ctx, k)
	if err != nil && ctx.Err() == nil {
		c.errors.Add(1)
	}
	switch {
	case err != nil && IsTerminal(err):
		// No retry can fix it, but resyncs and polls look again: let
		// them, no faster than the backoff.
		d := c.q.retry(k)
		c.Logger.Error("reconcile: giving up", "key", k.String(), "err", err, "next_look", d)
	case err != nil && ctx.Err() == nil:
		d := c.q.retry(k)
		c.Logger.Warn("reconcile: will retry", "key", k.String(), "after", d, "err", err)
	case err == nil:
		c.q.forget(k)
		if after > 0 {
			c.q.addAfter(k, after)
		}
	}
	c.q.done(k)
}

// fanOut reconciles caches kicked by accepted changes (a DeleteUser kicks
// every cache of the user's groups at once) all at the same time: their
// stored and desired states are read in one read transaction (each group
// and its members once), then every cache's pass runs in parallel, each
// with its nodes in parallel, so that a revocation reaches every node of
// every cache in one round trip each, whatever the number of workers, and
// the store is not re-read per cache.
//
// The states are read after the keys were handed out: a change committed
// later kicks its keys again (they run once more), so they are as fresh
// as the read of a pass of its own (unlike a resync's, see prepared).
//
// While they run, the users and groups that wait for them count them as
// pending without reading them (fanning), and each reports when its pass
// ends, whatever the outcome, so that the waiters look again then.
func (c *Controller) fanOut(ctx context.Context, keys []keyward.Key) {
	c.fanMu.Lock()
	if c.fan == nil {
		c.fan = map[keyward.Key]int{}
	}
	for _, k := range keys {
		c.fan[k]++
	}
	c.fanMu.Unlock()
	if len(keys) > 1 {
		c.prepareFresh(ctx, keys)
	}
	one := func(k keyward.Key) {
		c.pass(ctx, k)
		c.fanMu.Lock()
		if c.fan[k]--; c.fan[k] <= 0 {
			delete(c.fan, k)
		}
		c.fanMu.Unlock()
		c.cacheDone(k)
	}
	var wg sync.WaitGroup
	for _, k := range keys[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one(k)
		}()
	}
	one(keys[0])
	wg.Wait()
}

// fanning reports whether cache k's pass runs in a fanOut now.
func (c *Controller) fanning(k keyward.Key) bool {
	c.fanMu.Lock()
	defer c.fanMu.Unlock()
	return c.fan[k] > 0
}

// prepareFresh reads the passes of caches keys in one read transaction
// and leaves them for the passes (takePrepared). A cache that cannot be
// read here is left to read itself.
func (c *Controller) prepareFresh(ctx context.Context, keys []keyward.Key) {
	fresh := make(map[keyward.Key]*preparedPass, len(keys))
	err := c.Store.View(ctx, func(tx keyward.Tx) error {
		clear(fresh)
		memo := map[keyward.Scope]map[string]*planInput{}
		for _, k := range keys {
			kind, _ := cacheKindOf(k.Resource)
			cache, err := tx.FindCacheByID(ctx, k.Scope, kind, k.ID)
			if err != nil {
				continue
			}
			if memo[k.Scope] == nil {
				memo[k.Scope] = map[string]*planInput{}
			}
			p := &preparedPass{cache: cache, fresh: true}
			if p.want, err = c.desiredMemo(ctx, tx, cache, memo[k.Scope]); err != nil {
				continue
			}
			if p.set, err = nodeConfig(ctx, tx, cache); err != nil {
				continue
			}
			if p.set.upstream, err = globalUpstream(ctx, tx, cache); err != nil {
				continue
			}
			fresh[k] = p
		}
		return nil
	})
	if err != nil {
		return
	}
	c.prepMu.Lock()
	if c.prepared == nil {
		c.prepared = map[keyward.Key]*preparedPass{}
	}
	maps.Copy(c.prepared, fresh)
	c.prepMu.Unlock()
}

// Reconcile makes one pass over the resource k. It returns a positive
// duration when k must be looked at again after that long.
func (c *Controller) Reconcile(ctx context.Context, k keyward.Key) (time.Duration, error) {
	c.init()
	switch k.Resource {
	case keyward.ResourceUser:
		return c.reconcileUser(ctx, k)
	case keyward.ResourceUserGroup:
		return c.reconcileUserGroup(ctx, k)
	case keyward.ResourceReplicationGroup:
		return c.reconcileCache(ctx, k, keyward.KindReplicationGroup)
	case keyward.ResourceServerlessCache:
		return c.reconcileCache(ctx, k, keyward.KindServerless)
	case keyward.ResourceCacheCluster:
		return c.reconcileCluster(ctx, k)
	case keyward.ResourceSnapshot, keyward.ResourceServerlessSnapshot:
		return c.reconcileSnapshot(ctx, k)
	case keyward.ResourceGlobalReplicationGroup:
		return c.reconcileGlobal(ctx, k)
	}
	return 0, nil
}

// update is Store.Update counting the write in epoch (see prepared).
func (c *Controller) update(ctx context.Context, fn func(keyward.Tx) error) error {
	defer c.epoch.Add(1)
	c.epoch.Add(1)
	return c.Store.Update(ctx, fn)
}

// wait returns how long the status entered at since must still be held.
func (c *Controller) wait(since time.Time) time.Duration {
	return since.Add(c.Delay).Sub(c.Now())
}

// EnqueueAll re-queues every cache now, backoff or not, e.g. after a node
// restarted or recovered.
func (c *Controller) EnqueueAll(ctx context.Context) {
	c.init()
	c.epoch.Add(1)
	c.resyncDataWith(ctx, c.q.kick)
}

// reconcileUser completes a user's modifying or deleting once the change
// has reached every node of every cache of the groups it is in (modifying)
// or left (deleting). The check runs first in a read transaction; a user
// still waiting registers the caches it waits for and is queued again when
// the last of them has reported (see waiters), so nothing polls. Only a
// user whose caches have all converged takes the write transaction, which
// checks again before it completes the change.
//
// A user that concerns no cache (in no group, or leaving none: most
// deleted users) is completed at once in one write transaction, without
// the read transaction first (see finishUngrouped).
func (c *Controller) reconcileUser(ctx context.Context, k keyward.Key) (time.Duration, error) {
	if !c.w.waiting(k) {
		if after, done, err := c.finishUngrouped(ctx, k); done || err != nil {
			return after, err
		}
	}
	since := c.w.now()
	var pending []keyward.Key
	var wait time.Duration
	var ready bool
	err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		ready, pending, wait, err = c.userConverged(ctx, tx, k)
		return err
	})
	if err != nil || !ready {
		return c.await(k, since, pending, wait), err
	}
	since = c.w.now()
	var after time.Duration
	err = c.update(ctx, func(tx keyward.Tx) error {
		after = 0
		ready, pending, wait, err = c.userConverged(ctx, tx, k)
		if err != nil || !ready {
			return err
		}
		u, err := tx.FindUserByID(ctx, k.Scope, k.ID)
		if err != nil {
			return err
		}
		return c.settleUser(ctx, tx, u, &after)
	})
	if err == nil && !ready {
		after = c.await(k, since, pending, wait)
	} else if err == nil {
		c.w.drop(k)
	}
	return after, err
}

// finishUngrouped completes user k's modifying or deleting in one write
// transaction when the change concerns no cache (no groups to reach), as
// reconcileUser's write transaction would after its read found nothing to
// wait for. done is false, with nothing written, when the user concerns
// caches: then reconcileUser checks them in a read transaction first, so
// that the writer is not held while the fleet is read.
func (c *Controller) finishUngrouped(ctx context.Context, k keyward.Key) (after time.Duration, done bool, err error) {
	err = c.update(ctx, func(tx keyward.Tx) error {
		after, done = 0, true
		u, err := tx.FindUserByID(ctx, k.Scope, k.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if len(userCaches(u)) > 0 {
			done = false
			return nil
		}
		return c.settleUser(ctx, tx, u, &after)
	})
	if err == nil && done {
		c.w.drop(k)
	}
	return after, done, err
}

// userCaches returns the groups whose caches user u's unsettled change
// must reach: the groups it is in (modifying) or leaving (deleting).
func userCaches(u *keyward.User) []string {
	if u.Status == keyward.UserDeleting {
		return u.LeavingGroups
	}
	return u.GroupIDs
}

// settleUser completes user u's change once nothing is left to wait for:
// after the status's Delay (setting after), modifying becomes active and
// deleting removes the user. An active user is left as it is.
func (c *Controller) settleUser(ctx context.Context, tx keyward.Tx, u *keyward.User, after *time.Duration) error {
	if u.Status == keyward.UserActive {
		return nil
	}
	if *after = c.wait(u.StatusSince); *after > 0 {
		return nil
	}
	switch u.Status {
	case keyward.UserModifying:
		u.Status, u.StatusSince = keyward.UserActive, c.Now()
		return tx.UpdateUser(ctx, u)
	case keyward.UserDeleting:
		// DeleteUser already took the user out of every group when it
		// was accepted; DeleteUser here drops anything left with it.
		return tx.DeleteUser(ctx, u.Scope, u.ID)
	}
	return nil
}

// userConverged reports whether user k is unsettled and its change has
// reached every cache it concerns (ready), or else which caches it waits
// for (pending, with the soonest retry among them, see groupConverged).
func (c *Controller) userConverged(ctx context.Context, tx keyward.Tx, k keyward.Key) (ready bool, pending []keyward.Key, wait time.Duration, err error) {
	u, err := tx.FindUserByID(ctx, k.Scope, k.ID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return false, nil, 0, nil
	} else if err != nil {
		return false, nil, 0, err
	}
	if u.Status == keyward.UserActive {
		return false, nil, 0, nil
	}
	memo := map[string]*planInput{}
	for _, gid := range userCaches(u) {
		g, err := tx.FindUserGroupByID(ctx, k.Scope, gid)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			continue
		} else if err != nil {
			return false, nil, 0, err
		}
		p, w, err := c.groupConverged(ctx, tx, g, memo)
		if err != nil {
			return false, nil, 0, err
		}
		pending = append(pending, p...)
		if w > 0 && (wait == 0 || w < wait) {
			wait = w
		}
	}
	return len(pending) == 0, pending, wait, nil
}

// await makes waiter wait for the reports of pending caches and returns
// when to look again regardless: when the soonest retry of a failing cache
// among them is due (wait), else never (0: the reports, or the periodic
// resync, queue it). A report that came in meanwhile queues it at once.
func (c *Controller) await(waiter keyward.Key, since uint64, pending []keyward.Key, wait time.Duration) time.Duration {
	if !c.w.wait(waiter, since, pending) {
		c.q.add(waiter) // being processed: queued again when done
		return 0
	}
	return wait
}

// cacheDone reports the end of a pass over cache k: the users and groups
// that waited only for it are queued.
func (c *Controller) cacheDone(k keyward.Key) {
	for _, w := range c.w.report(k) {
		c.q.add(w)
	}
}

func (c *Controller) reconcileUserGroup(ctx context.Context, k keyward.Key) (time.Duration, error) {
	// First, without the writer: is the group waiting for caches?
	since := c.w.now()
	var pending []keyward.Key
	var wait time.Duration
	var idle bool
	err := c.Store.View(ctx, func(tx keyward.Tx) error {
		pending, wait, idle = nil, 0, false
		g, err := tx.FindUserGroupByID(ctx, k.Scope, k.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			idle = true
			return nil
		} else if err != nil {
			return err
		}
		if g.Status == keyward.UserGroupDeleting {
			return nil
		}
		// Caches may still need the group (a member was modified): this
		// enqueues them.
		pending, wait, err = c.groupConverged(ctx, tx, g, map[string]*planInput{})
		idle = g.Status == keyward.UserGroupActive
		return err
	})
	if err != nil || idle || len(pending) > 0 {
		if idle {
			c.w.drop(k)
			return 0, err
		}
		return c.await(k, since, pending, wait), err
	}
	since = c.w.now()
	var after time.Duration
	var settled bool
	err = c.update(ctx, func(tx keyward.Tx) error {
		after, settled, pending, wait = 0, false, nil, 0
		g, err := tx.FindUserGroupByID(ctx, k.Scope, k.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if g.Status == keyward.UserGroupActive || g.Status == keyward.UserGroupCreating || g.Status == keyward.UserGroupModifying {
			if pending, wait, err = c.groupConverged(ctx, tx, g, map[string]*planInput{}); err != nil || len(pending) > 0 || g.Status == keyward.UserGroupActive {
				return err
			}
		}
		if after = c.wait(g.StatusSince); after > 0 {
			return nil
		}
		switch g.Status {
		case keyward.UserGroupCreating:
			g.Status, g.StatusSince = keyward.UserGroupActive, c.Now()
			return tx.UpdateUserGroup(ctx, g)
		case keyward.UserGroupModifying:
			if err := applyPending(ctx, tx, g); err != nil {
				return err
			}
			g.Status, g.StatusSince, settled = keyward.UserGroupActive, c.Now(), true
			return tx.UpdateUserGroup(ctx, g)
		case keyward.UserGroupDeleting:
			return tx.DeleteUserGroup(ctx, k.Scope, k.ID)
		}
		return nil
	})
	if err == nil && len(pending) > 0 {
		after = c.await(k, since, pending, wait)
	}
	if settled {
		// Users leaving this group may now be able to finish.
		c.enqueueUnsettled(ctx, k.Scope, keyward.ResourceUser)
	}
	return after, err
}

// enqueueUnsettled queues the unsettled resources of scope sc (of the given
// kinds; users and user groups if none).
func (c *Controller) enqueueUnsettled(ctx context.Context, sc keyward.Scope, kinds ...keyward.Resource) {
	if len(kinds) == 0 {
		kinds = []keyward.Resource{keyward.ResourceUser, keyward.ResourceUserGroup}
	}
	var keys []keyward.Key
	err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
		keys, err = tx.FindUnsettled(ctx)
		return err
	})
	if err != nil {
		return
	}
	for _, k := range keys {
		if slices.Contains(kinds, k.Resource) && k.Scope == sc {
			c.q.add(k)
		}
	}
}

// applyPending applies a group's accepted membership change. A user added by
// the change but deleted since is left out; DeleteUser normally removes such
// a user from the pending list itself, so this is a second guard.
func applyPending(ctx context.Context, tx keyward.Tx, g *keyward.UserGroup) error {
	live := map[string]*keyward.User{}
	for _, id := range slices.Concat(g.UserIDs, g.PendingAdd) {
		u, err := tx.FindUserByID(ctx, g.Scope, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		if u.Status != keyward.UserDeleting {
			live[id] = u
		}
	}
	g.ApplyPending(func(id string) bool { return live[id] != nil })
	members := make([]*keyward.User, 0, len(g.UserIDs))
	for _, id := range g.UserIDs {
		if u := live[id]; u != nil {
			members = append(members, u)
		}
	}
	g.MinimumEngineVersion = keyward.GroupMinimumEngineVersion(g.Engine, members)
	return nil
}
