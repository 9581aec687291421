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

// Cluster-mode global datastores. Redis Cluster nodes refuse REPLICAOF,
// and a secondary cluster cannot join the primary's Redis Cluster as its
// replicas either: its clients would be sent (MOVED, CLUSTER SLOTS) to the
// primary region's nodes, which take writes, and the primary's failovers
// could promote a node of the secondary region. So keyward replicates a
// cluster itself, shard by shard: a link per secondary shard reads the
// replication stream of the primary cluster's shard primary serving the
// same slots, as one of its replicas (engine.Manager.ReplicaStream: PSYNC,
// the RDB, then the command stream), and applies it to the secondary
// shard's primary through keyward's admin connection (the RDB's keys with
// RESTORE ... REPLACE after a FLUSHALL, then every propagated write
// command as it was propagated, MULTI/EXEC included); the secondary
// shard's own replicas follow it as in any cluster. A link that drops
// resumes with PSYNC <replid> <offset> (a partial resynchronisation when
// the primary's backlog still has what was missed, else a full one); a
// command the secondary refuses means the two diverged, and the link
// starts again with a full resynchronisation. This is real replication
// (every write, in order, with the offset a Redis replica would report),
// and it keeps the secondary an ordinary Redis Cluster with its own
// configuration endpoint, its own ACLs and its own failovers.
//
// The secondary has the primary's slot layout (it is created with the
// primary's node groups and slots, and the node-group operations change
// every member alike); a link runs only while the two layouts agree and
// neither group is resharding. During a resharding each member moves its
// own slots (MoveSlots), the links pause, and they resume with a full
// resynchronisation once both layouts agree again: the secondary then
// holds every key of the primary in its new layout.
//
// Writes to a secondary are refused to tenants: ElastiCache's secondary
// nodes are replicas and answer "READONLY You can't write against a read
// only replica."; a Redis Cluster primary cannot be made a read-only
// replica, so keyward denies the write commands in the ACL of every
// tenant user of a secondary (-@write, appended last), and clients get
// NOPERM ("this user has no permissions to run the 'set' command")
// instead of READONLY. Reads are served as usual.
//
// A failover (FailoverGlobalReplicationGroup) loses no acknowledged write:
// the old primary turns read-only first (its role is secondary at once),
// the new primary keeps applying the old one's streams, read-only, until
// it has applied every shard's stream up to the old primary's offset;
// only then is it promoted (writes allowed, its links stopped), and the
// old primary starts following it with a full resynchronisation.

// ReplPosition is where a link stands in a shard primary's replication
// history (engine.ReplPosition); zero: a full resynchronisation.
type ReplPosition struct {
	ReplID string
	Offset int64
}

// StreamHandler receives a replication stream (engine.StreamHandler).
type StreamHandler struct {
	FullSync func(ctx context.Context, at ReplPosition) error
	Keys     func(ctx context.Context, keys []DumpedKey) error
	Commands func(ctx context.Context, cmds [][]string, at ReplPosition) error
}

// ReplStreamer is implemented by an Engine that reads a node's replication
// stream as one of its replicas (engine.Manager.ReplicaStream).
type ReplStreamer interface {
	ReplicaStream(ctx context.Context, id string, pos ReplPosition, h StreamHandler) error
}

// globalLinks are the running links of a controller.
type globalLinks struct {
	mu sync.Mutex
	m  map[linkKey]*link
}

type linkKey struct {
	cache keyward.Key // the secondary
	shard int
}

// link replicates one shard.
type link struct {
	key      linkKey
	src, dst string // engine node ids
	cancel   context.CancelFunc
	done     chan struct{}

	mu     sync.Mutex
	pos    ReplPosition // applied
	synced bool         // holds the source's data (a full sync ended, or a partial one resumed)
}

func (l *link) state() (ReplPosition, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pos, l.synced
}

// globalSource returns the cache a cluster-mode member replicates from:
// the primary for a secondary; during a failover (GlobalGroup.Promoting),
// the former primary for the new one, and nothing for the former one
// until the new one is promoted. nil: none (it takes writes, or it is
// being promoted away from).
func globalSource(ctx context.Context, tx keyward.Tx, cache *keyward.Cache) (*keyward.GlobalGroup, *keyward.Cache, error) {
	if cache.Global == nil || !cache.ClusterMode {
		return nil, nil, nil
	}
	g, err := keyward.GlobalGroups.Get(ctx, tx, keyward.GlobalScope(cache.Scope.Account), cache.Global.ID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	i := g.Member(cache.Scope.Region, cache.ID)
	if i < 0 || g.Members[i].Status == keyward.MemberDisassociating {
		return g, nil, nil
	}
	var region string
	switch pm, ok := g.Primary(); {
	case cache.Global.Role == keyward.GlobalRoleSecondary && g.Promoting == cache.Scope.Region:
		return g, nil, nil // the former primary, until the new one takes over
	case cache.Global.Role == keyward.GlobalRoleSecondary && ok:
		region = pm.Region
	case cache.Global.Role == keyward.GlobalRolePrimary && g.Promoting != "" && g.Promoting != cache.Scope.Region:
		region = g.Promoting
	default:
		return g, nil, nil
	}
	j := slices.IndexFunc(g.Members, func(m keyward.GlobalMember) bool { return m.Region == region })
	if j < 0 {
		return g, nil, nil
	}
	src, err := tx.FindCacheByID(ctx, keyward.Scope{Account: g.Scope.Account, Region: region}, keyward.KindReplicationGroup, g.Members[j].ReplicationGroupID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return g, nil, nil
	}
	return g, src, err
}

// readOnlyMember reports whether tenants may not write to cache: a
// cluster-mode secondary, or a new primary still being promoted.
func readOnlyMember(ctx context.Context, tx keyward.Tx, cache *keyward.Cache) (bool, error) {
	if cache.Global == nil || !cache.ClusterMode {
		return false, nil
	}
	if cache.Global.Role == keyward.GlobalRoleSecondary {
		return true, nil
	}
	_, src, err := globalSource(ctx, tx, cache)
	return src != nil, err
}

// globalPlan is the ACL plan d of cache (err: its planning failed), made
// read-only for a cluster-mode member that must not take writes; every
// plan of a cache goes through it, so that the fingerprints the caches'
// and their user groups' passes compare agree.
func globalPlan(ctx context.Context, tx keyward.Tx, cache *keyward.Cache, d Desired, err error) (Desired, error) {
	if err != nil || cache.Global == nil || !cache.ClusterMode {
		return d, err
	}
	ro, err := readOnlyMember(ctx, tx, cache)
	if ro && err == nil {
		readOnly(&d)
	}
	return d, err
}

// readOnly denies every write command to want's users (appended last, so
// that it overrides their access strings) and fingerprints the result.
func readOnly(want *Desired) {
	users := make([]ACLUser, len(want.Users))
	for i, u := range want.Users {
		users[i] = ACLUser{Name: u.Name, Rules: append(slices.Clone(u.Rules), "-@write")}
	}
	want.Users = users
	want.Fingerprint = fingerprint(*want)
}

// layoutsAgree reports whether a link may run between src and dst: the
// same node groups with the same slots, neither resharding, every shard
// with a primary node.
func layoutsAgree(src, dst *keyward.Cache) bool {
	if len(src.Shards) != len(dst.Shards) || src.Resharding != nil || dst.Resharding != nil ||
		src.Status == keyward.CacheDeleting || src.Status == keyward.CacheCreating {
		return false
	}
	for i := range src.Shards {
		if src.Shards[i].Removing || dst.Shards[i].Removing || src.Shards[i].Slots != dst.Shards[i].Slots {
			return false
		}
	}
	return true
}

// currentPrimary is the index of the node of shard sh that its cache last
// recorded as primary (the shard's first node before any was).
func currentPrimary(c *keyward.Cache, sh int) int {
	first := -1
	for i, n := range c.Nodes {
		if n.Shard != sh {
			continue
		}
		if n.Role == "primary" {
			return i
		}
		if first < 0 {
			first = i
		}
	}
	return first
}

// globalClusterLinks runs the links of a cluster-mode member (stops them
// when it has no source) and reports whether it must be looked at again
// before it settles: a creating or modifying secondary is not available
// before every shard holds its source's data.
func (c *Controller) globalClusterLinks(ctx context.Context, cache *keyward.Cache) (bool, error) {
	key := keyward.Key{Resource: cache.Kind.Resource(), Scope: cache.Scope, ID: cache.ID}
	if !cache.ClusterMode || cache.Kind != keyward.KindReplicationGroup {
		return false, nil
	}
	var src *keyward.Cache
	if cache.Global != nil {
		err := c.Store.View(ctx, func(tx keyward.Tx) (err error) {
			_, src, err = globalSource(ctx, tx, cache)
			return err
		})
		if err != nil {
			return false, err
		}
	}
	if src == nil {
		c.links.stopCache(key)
		return false, nil
	}
	streamer, ok := c.Engine.(ReplStreamer)
	if !ok {
		return false, Terminal(errors.New("reconcile: the engine cannot read replication streams"))
	}
	settling := cache.Status == keyward.CacheCreating || cache.Status == keyward.CacheModifying
	if !layoutsAgree(src, cache) {
		c.links.stopCache(key)
		return settling, nil
	}
	if c.links.has(keyward.Key{Resource: src.Kind.Resource(), Scope: src.Scope, ID: src.ID}) {
		// The source still applies streams of its own (a new primary
		// until its pass after the promotion stops them): a link to it
		// now could close a loop, in which this one's FLUSHALL of a full
		// resynchronisation would come back to the source.
		c.links.stopCache(key)
		return true, nil
	}
	synced := true
	for sh := range cache.Shards {
		s, d := currentPrimary(src, sh), currentPrimary(cache, sh)
		if s < 0 || d < 0 {
			return settling, nil
		}
		l := c.links.ensure(ctx, c, streamer, linkKey{key, sh}, src.NodeID(src.Nodes[s].ClusterID), cache.NodeID(cache.Nodes[d].ClusterID))
		if _, ok := l.state(); !ok {
			synced = false
		}
	}
	return settling && !synced, nil
}

// ensure returns the link k from src to dst, starting it (or restarting
// it, when its nodes changed) as needed.
func (ls *globalLinks) ensure(ctx context.Context, c *Controller, streamer ReplStreamer, k linkKey, src, dst string) *link {
	ls.mu.Lock()
	old := ls.m[k]
	if old != nil && old.src == src && old.dst == dst {
		select {
		case <-old.done:
		default:
			ls.mu.Unlock()
			return old
		}
	}
	delete(ls.m, k)
	ls.mu.Unlock()
	// The old link is stopped without the lock: it may be forgetting
	// itself (forget takes the lock).
	l := &link{key: k, src: src, dst: dst, done: make(chan struct{})}
	if old != nil {
		old.cancel()
		<-old.done
		if old.dst == dst {
			// The same destination: the position stays valid (the source's
			// new primary continues the old one's history, or answers with a
			// full resynchronisation).
			l.pos, _ = old.state()
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	ls.mu.Lock()
	if ls.m == nil {
		ls.m = map[linkKey]*link{}
	}
	if cur := ls.m[k]; cur != nil {
		// Another pass started it meanwhile (passes of one cache do not
		// overlap, so this is only a safeguard).
		ls.mu.Unlock()
		cancel()
		return cur
	}
	ls.m[k] = l
	ls.mu.Unlock()
	go c.runLink(lctx, streamer, l)
	return l
}

// stopCache stops every link of a cache.
func (ls *globalLinks) stopCache(key keyward.Key) {
	ls.mu.Lock()
	var stop []*link
	for k, l := range ls.m {
		if k.cache == key {
			stop = append(stop, l)
			delete(ls.m, k)
		}
	}
	ls.mu.Unlock()
	for _, l := range stop {
		l.cancel()
		<-l.done
	}
}

// forget drops l, which ended on its own.
func (ls *globalLinks) forget(l *link) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m[l.key] == l {
		delete(ls.m, l.key)
	}
}

// linkWanted reports whether l's secondary still replicates from l's
// source (it is not deleted, detached or promoted), so that a link whose
// cache went away ends without a pass of that cache.
func (c *Controller) linkWanted(ctx context.Context, l *link) bool {
	wanted := true
	err := c.Store.View(ctx, func(tx keyward.Tx) error {
		cache, err := tx.FindCacheByID(ctx, l.key.cache.Scope, keyward.KindReplicationGroup, l.key.cache.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			wanted = false
			return nil
		} else if err != nil {
			return err
		}
		_, src, err := globalSource(ctx, tx, cache)
		// A resharding pauses the link (it restarts, with a full
		// resynchronisation, once the layouts agree again).
		wanted = err != nil || src != nil && cache.Status != keyward.CacheDeleting && layoutsAgree(src, cache)
		return err
	})
	return wanted || err != nil
}

// has reports whether cache has links.
func (ls *globalLinks) has(cache keyward.Key) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for k := range ls.m {
		if k.cache == cache {
			return true
		}
	}
	return false
}

// get returns the running link k, or nil.
func (ls *globalLinks) get(k linkKey) *link {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.m[k]
}

// errDiverged marks a command the secondary refused: the link starts again
// with a full resynchronisation.
var errDiverged = errors.New("reconcile: the secondary refused a replicated command")

// runLink streams l until its context ends, reconnecting after failures.
func (c *Controller) runLink(ctx context.Context, streamer ReplStreamer, l *link) {
	defer close(l.done)
	cmd, _ := c.Engine.(ClusterCommander)
	mover, _ := c.Engine.(SlotMover)
	kl, _ := c.Engine.(KeyLoader)
	if cmd == nil || mover == nil || kl == nil {
		c.Logger.Error("reconcile: global link: the engine cannot apply replication streams")
		return
	}
	h := StreamHandler{
		FullSync: func(ctx context.Context, at ReplPosition) error {
			l.mu.Lock()
			l.synced, l.pos = false, ReplPosition{}
			l.mu.Unlock()
			fctx, cancel := context.WithTimeout(ctx, nodeTimeout)
			defer cancel()
			_, err := cmd.Do(fctx, l.dst, "FLUSHALL")
			return err
		},
		Keys: func(ctx context.Context, keys []DumpedKey) error {
			return kl.RestoreKeys(ctx, l.dst, keys)
		},
		Commands: func(ctx context.Context, cmds [][]string, at ReplPosition) error {
			if len(cmds) > 0 {
				actx, cancel := context.WithTimeout(ctx, 2*nodeTimeout)
				replies, err := mover.DoPipeline(actx, l.dst, cmds)
				cancel()
				if err != nil {
					// Some of the batch may have been applied, and
					// commands are not all idempotent (INCR): start over.
					return fmt.Errorf("%w: %v", errDiverged, err)
				}
				for i, r := range replies {
					if e, ok := r.(error); ok {
						return fmt.Errorf("%w: %s on %s: %v", errDiverged, cmds[i][0], l.dst, e)
					}
				}
			}
			l.mu.Lock()
			l.pos, l.synced = at, true
			l.mu.Unlock()
			return nil
		},
	}
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		pos, _ := l.state()
		start := time.Now()
		err := streamer.ReplicaStream(ctx, l.src, pos, h)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errDiverged) {
			l.mu.Lock()
			l.pos, l.synced = ReplPosition{}, false
			l.mu.Unlock()
		}
		if !c.linkWanted(ctx, l) {
			c.links.forget(l)
			return
		}
		if time.Since(start) > 5*time.Second {
			backoff = 50 * time.Millisecond
		}
		c.Logger.Warn("reconcile: global link interrupted", "secondary", l.key.cache.ID, "shard", l.key.shard, "from", l.src, "err", err, "retry", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// linksCaughtUp reports whether every link of the cluster-mode member
// cache has applied its source's stream up to the source's current
// offset (the source refuses tenants' writes by then: its offset only
// moves with its own pings).
func (c *Controller) linksCaughtUp(ctx context.Context, cache *keyward.Cache) bool {
	cmd, ok := c.Engine.(ClusterCommander)
	if !ok {
		return true
	}
	key := keyward.Key{Resource: cache.Kind.Resource(), Scope: cache.Scope, ID: cache.ID}
	for sh := range cache.Shards {
		l := c.links.get(linkKey{key, sh})
		if l == nil {
			return false
		}
		pos, synced := l.state()
		if !synced {
			return false
		}
		r, err := cmd.Do(ctx, l.src, "INFO", "replication")
		if err != nil {
			return false
		}
		f := infoFields(r)
		off, err := strconv.ParseInt(f["master_repl_offset"], 10, 64)
		if err != nil || f["master_replid"] != pos.ReplID || pos.Offset < off {
			return false
		}
	}
	return true
}

func infoFields(reply any) map[string]string {
	text, _ := reply.(string)
	out := map[string]string{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}
