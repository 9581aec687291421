package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"keyward"
)

// ClusterCommander is implemented by an Engine that runs Redis Cluster
// nodes: Do runs an admin command on a node, BusPort reports its cluster
// bus port.
type ClusterCommander interface {
	Do(ctx context.Context, id string, args ...string) (any, error)
	BusPort(id string) int
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, master string
	addr       string // ip:port, without the bus port
	epoch      string // config epoch
	flags      []string
	slots      int      // how many slots it serves
	ranges     [][2]int // the slots it serves
}

func (n clusterNode) has(flag string) bool { return slices.Contains(n.flags, flag) }

func parseClusterNodes(reply any) (map[string]clusterNode, error) {
	text, ok := reply.(string)
	if !ok {
		return nil, fmt.Errorf("reconcile: CLUSTER NODES answered %T", reply)
	}
	out := map[string]clusterNode{}
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{id: f[0], addr: addr, flags: strings.Split(f[2], ","), master: f[3], epoch: f[6]}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") {
				continue // a slot being migrated
			}
			lo, hi, _ := strings.Cut(s, "-")
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err2 != nil {
				b = a
			}
			if err1 == nil {
				n.slots += b - a + 1
				n.ranges = append(n.ranges, [2]int{a, b})
			}
		}
		out[n.id] = n
	}
	return out, nil
}

// clusterState is what formCluster saw of a formed cluster: per node (in
// cache.Nodes order) its engine id, cluster id and its own view (CLUSTER
// NODES), and the index of each shard's current primary.
type clusterState struct {
	ids, myid []string
	views     []map[string]clusterNode
	primary   map[int]int // shard -> node index
}

// role is node i's role as the node itself reports it.
func (st *clusterState) role(i int) string {
	if st.views[i][st.myid[i]].has("slave") {
		return "replica"
	}
	return "primary"
}

// formCluster wires a cluster-mode group's nodes into one Redis Cluster:
// every node meets the others, each shard's primary gets its slots, each
// replica replicates its shard's primary. Every step is checked first and
// done only if missing, so a pass over a formed cluster changes nothing;
// a node that Redis Cluster promoted after a failure is left as it is. It
// ports are the nodes' client ports, as applyNodes returned them. It
// reports whether the cluster is formed and healthy (cluster_state ok, all
// slots assigned, every replica in sync with its primary); false means
// "look again soon".
func (c *Controller) formCluster(ctx context.Context, cache *keyward.Cache, ports []int) (bool, *clusterState, error) {
	cmd, ok := c.Engine.(ClusterCommander)
	if !ok {
		return false, nil, Terminal(errors.New("reconcile: the engine cannot run cluster-mode nodes"))
	}
	st := &clusterState{ids: make([]string, len(cache.Nodes)), myid: make([]string, len(cache.Nodes)), views: make([]map[string]clusterNode, len(cache.Nodes))}
	ids, myid, views := st.ids, st.myid, st.views
	for i, n := range cache.Nodes {
		ids[i] = cache.NodeID(n.ClusterID)
	}
	// Every node is read at once, each in one round trip: a node busy
	// with its cluster bus handshakes then holds back only its own read.
	replies, err := onNodes(ctx, cmd, ids, func(int) [][]string { return [][]string{{"CLUSTER", "MYID"}, {"CLUSTER", "NODES"}} })
	if err != nil {
		return false, nil, err
	}
	for i, r := range replies {
		myid[i], _ = r[0].(string)
		if views[i], err = parseClusterNodes(r[1]); err != nil {
			return false, nil, err
		}
	}
	// Each shard's primary: the master that serves its slots (after a
	// failover, not necessarily its first node), else the master recorded
	// as its primary, else its first master.
	st.primary = shardPrimaries(cache, st)
	primary := st.primary
	// A new cluster's slots are assigned before its nodes meet: the
	// nodes then learn who serves what from the handshake itself, instead
	// of from the pings of the next seconds (a replica reports
	// cluster_state ok only once it knows all 16384 slots).
	if err := setEpochs(ctx, cmd, cache, st); err != nil {
		return false, nil, err
	}
	changed, err := assignSlots(ctx, cmd, cache, st)
	if err != nil {
		return false, nil, err
	}
	primary = st.primary // with the shards staged meanwhile
	// Meet: of each pair of nodes not knowing each other, one meets the
	// other (the handshake introduces both), so that the mesh is complete
	// at once instead of after rounds of gossip. A node's meetings go in
	// one round trip, every node's at once; an address it is shaking
	// hands with already is not met again.
	knows := func(i, j int) bool {
		n, ok := views[i][myid[j]]
		return ok && !n.has("handshake")
	}
	meets := make([][][]string, len(ids))
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			a, b := i, j
			switch {
			case knows(i, j) && knows(j, i):
				continue
			case knows(i, j):
				a, b = j, i // j forgot i (or is finishing its handshake)
			}
			if b >= len(ports) || ports[b] == 0 {
				return false, nil, fmt.Errorf("reconcile: node %s has no port yet", ids[b])
			}
			host, port := nodeHost(cache.Nodes[b]), strconv.Itoa(ports[b])
			if shakingHands(views[a], net.JoinHostPort(host, port)) {
				continue
			}
			meets[a] = append(meets[a], []string{"CLUSTER", "MEET", host, port, strconv.Itoa(cmd.BusPort(ids[b]))})
		}
	}
	met := slices.ContainsFunc(meets, func(m [][]string) bool { return len(m) > 0 })
	if met {
		return false, nil, sendMeets(ctx, cmd, ids, meets)
	}
	// Each replica replicates its shard's primary as soon as it knows it
	// (the handshake done), while the rest of the mesh completes.
	for i, n := range cache.Nodes {
		p, ok := primary[n.Shard]
		if !ok || p == i {
			continue
		}
		me := views[i][myid[i]]
		if me.has("slave") || me.slots > 0 {
			continue // replicating already, or promoted by a failover
		}
		if pn, known := views[i][myid[p]]; !known || pn.has("handshake") || pn.has("noaddr") {
			continue
		}
		if _, err := cmd.Do(ctx, ids[i], "CLUSTER", "REPLICATE", myid[p]); err != nil {
			return false, nil, err
		}
		changed = true
	}
	for i := range ids {
		for _, other := range myid {
			if n, ok := views[i][other]; !ok || n.has("handshake") || n.has("noaddr") {
				return false, nil, nil // still gossiping
			}
		}
	}
	if changed {
		return false, nil, nil
	}
	if cache.Status == keyward.CacheCreating {
		// A node learns another's slots from that node's own pings, the
		// next of which may be seconds away (Redis pings one random node
		// a second); a MEET to a node that knows the sender already is
		// taken as such a ping (and the handshake it starts is dropped
		// at its answer). So each primary whose slots a node does not
		// know yet meets that node again: the new cluster reports
		// cluster_state ok on every node as soon as its primaries may.
		told := make([][][]string, len(ids))
		for a := range ids {
			mine := views[a][myid[a]]
			if mine.slots == 0 {
				continue
			}
			for b := range ids {
				host, port := nodeHost(cache.Nodes[b]), strconv.Itoa(ports[b])
				if b == a || views[b][myid[a]].slots == mine.slots || shakingHands(views[a], net.JoinHostPort(host, port)) {
					continue
				}
				told[a] = append(told[a], []string{"CLUSTER", "MEET", host, port, strconv.Itoa(cmd.BusPort(ids[b]))})
			}
		}
		if err := sendMeets(ctx, cmd, ids, told); err != nil {
			return false, nil, err
		}
	}
	// Nodes that left the group (removed replicas and shards) are
	// forgotten, once they serve nothing.
	if err := forgetStrangers(ctx, cmd, st); err != nil {
		return false, nil, err
	}
	replies, err = onNodes(ctx, cmd, ids, func(i int) [][]string {
		if st.role(i) == "replica" {
			return [][]string{{"CLUSTER", "INFO"}, {"INFO", "replication"}}
		}
		return [][]string{{"CLUSTER", "INFO"}}
	})
	if err != nil {
		return false, nil, err
	}
	ready := make([]bool, len(ids))
	all := true
	for i, r := range replies {
		info, _ := r[0].(string)
		ready[i] = strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_assigned:16384")
		if st.role(i) == "replica" {
			repl, _ := r[1].(string)
			ready[i] = ready[i] && replicaSynced(repl)
		}
		all = all && ready[i]
	}
	// A staged shard's own primary takes its slots over once it is a
	// ready replica of the node holding them (see stagedShards).
	if took, err := takeOverStaged(ctx, cmd, cache, st, ready); err != nil || took {
		return false, nil, err
	}
	if !all {
		return false, nil, nil
	}
	if ok, err := serverlessTopology(ctx, cmd, cache, st); err != nil || !ok { // serverless.go
		return false, nil, err
	}
	return true, st, nil
}

// Staging. Redis Cluster keeps a master that starts in a cluster not yet
// ok in state fail for 2 s after its start (CLUSTER_WRITABLE_DELAY in
// cluster.c, so that a restarted master learns of a failover first); a
// replica has no such delay, and a master it becomes keeps the ok state
// it had. So while a new cluster forms, a shard with a replica first
// gets its slots on that replica's node (staging), its own primary
// replicates it and, once in sync and ok, takes the slots over with
// CLUSTER FAILOVER TAKEOVER (no vote: the cluster is new and empty); the
// staging node then follows it as the replica it was meant to be. The
// shard serves from its own primary, ok, without the 2 s wait. Roles are
// recorded only once the cluster is formed, so the staging leaves no
// trace (no failover event). A shard without a replica, or a restore
// seeding its first node with an RDB, waits the 2 s instead.

// setEpochs gives each node of a cluster being created that knows no
// other node yet its own config epoch (its index + 1), as redis-cli
// --cluster create does: the masters then do not start with colliding
// epochs, which Redis would resolve over seconds of pings, bumping epochs
// past those a TAKEOVER claims (see Staging).
func setEpochs(ctx context.Context, cmd ClusterCommander, cache *keyward.Cache, st *clusterState) error {
	if cache.Status != keyward.CacheCreating {
		return nil
	}
	var todo []string
	var epochs []string
	for i, view := range st.views {
		if me := view[st.myid[i]]; len(view) == 1 && me.epoch == "0" {
			todo, epochs = append(todo, st.ids[i]), append(epochs, strconv.Itoa(i+1))
		}
	}
	if len(todo) == 0 {
		return nil
	}
	_, err := onNodes(ctx, cmd, todo, func(k int) [][]string { return [][]string{{"CLUSTER", "SET-CONFIG-EPOCH", epochs[k]}} })
	return err
}

// stagedShards returns, for a cluster being created whose slots are not
// assigned yet, the node of each shard that holds its slots while the
// shard's primary catches up: its first replica.
func stagedShards(cache *keyward.Cache, st *clusterState) map[int]int {
	if !staging(cache) {
		return nil
	}
	staged := map[int]int{}
	for i, n := range cache.Nodes {
		if _, done := staged[n.Shard]; done || shardPrimary(cache, i) == i || st.role(i) != "primary" || st.views[i][st.myid[i]].slots > 0 {
			continue
		}
		staged[n.Shard] = i
	}
	return staged
}

// staging reports whether cache may be staged: a cluster being created,
// with no data seeded into its first node. Not a serverless cache: its
// replica is the reader at its own port and never takes the slots
// (serverless.go), so a hand-over would leave the Endpoint on the reader.
func staging(cache *keyward.Cache) bool {
	return cache.ClusterMode && cache.Status == keyward.CacheCreating && cache.RestoreFile == "" && cache.Global == nil && cache.Kind != keyward.KindServerless
}

// takeOverStaged makes each staged shard's own primary (shardPrimary)
// take its slots over from the staging node, once it is a replica of that
// node and ready (in sync, cluster_state ok). It reports whether it asked
// any.
func takeOverStaged(ctx context.Context, cmd ClusterCommander, cache *keyward.Cache, st *clusterState, ready []bool) (bool, error) {
	if !staging(cache) {
		return false, nil
	}
	var todo []string
	// Not while the masters' config epochs collide: Redis resolves a
	// collision by bumping one of them past the cluster's current epoch,
	// which could then outbid the epoch a TAKEOVER claims the slots with
	// and hand them back to the staging node.
	settled := func(view map[string]clusterNode) bool {
		seen := map[string]bool{}
		for _, n := range view {
			if n.has("master") {
				if seen[n.epoch] {
					return false
				}
				seen[n.epoch] = true
			}
		}
		return true
	}
	for s, holder := range st.primary {
		want := -1
		for i, n := range cache.Nodes {
			if n.Shard == s {
				want = shardPrimary(cache, i)
				break
			}
		}
		if want < 0 || want == holder {
			continue
		}
		me := st.views[want][st.myid[want]]
		if !me.has("slave") || me.master != st.myid[holder] || !ready[want] || !settled(st.views[want]) {
			continue
		}
		todo = append(todo, st.ids[want])
	}
	if len(todo) == 0 {
		return false, nil
	}
	_, err := onNodes(ctx, cmd, todo, func(int) [][]string { return [][]string{{"CLUSTER", "FAILOVER", "TAKEOVER"}} })
	return true, err
}

// sendMeets sends each node its CLUSTER MEETs (meets[i] for ids[i]), a
// node's in one round trip, every node's at once.
func sendMeets(ctx context.Context, cmd ClusterCommander, ids []string, meets [][][]string) error {
	var todo []string
	var index []int
	for i, m := range meets {
		if len(m) > 0 {
			todo, index = append(todo, ids[i]), append(index, i)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	_, err := onNodes(ctx, cmd, todo, func(k int) [][]string { return meets[index[k]] })
	return err
}

// shakingHands reports whether a node's view holds a handshake with the
// node at addr (ip:port) under way.
func shakingHands(view map[string]clusterNode, addr string) bool {
	for _, n := range view {
		if n.has("handshake") && n.addr == addr {
			return true
		}
	}
	return false
}

// shardPrimaries finds each shard's current primary from the nodes' own
// views: the master that serves slots, else (slots not assigned yet, or a
// new shard that gets its slots by migration) the master keyward recorded
// as the shard's primary, else the shard's first master.
func shardPrimaries(cache *keyward.Cache, st *clusterState) map[int]int {
	primary := map[int]int{}
	pick := func(ok func(i int) bool) {
		for i, n := range cache.Nodes {
			if _, done := primary[n.Shard]; !done && st.role(i) == "primary" && ok(i) {
				primary[n.Shard] = i
			}
		}
	}
	pick(func(i int) bool { return st.views[i][st.myid[i]].slots > 0 })
	pick(func(i int) bool { return cache.Nodes[i].Role == "primary" })
	pick(func(int) bool { return true })
	return primary
}

// assignSlots gives each shard's primary, or the node staging it
// (stagedShards), its slots (CLUSTER ADDSLOTSRANGE, as cache.Shards lays
// them out; st.primary then names that node) while the cluster is new:
// slots are assigned once, for the whole cluster; a shard added later gets
// its slots by migration (reshard). A shard is assigned only if no node
// knows an owner of any of its slots, so a pass after a crash halfway
// through assigns what is missing and nothing twice. It reports whether it
// assigned any.
func assignSlots(ctx context.Context, cmd ClusterCommander, cache *keyward.Cache, st *clusterState) (bool, error) {
	var owned [16384]bool
	assigned := false
	for _, view := range st.views {
		for _, n := range view {
			for _, r := range n.ranges {
				for s := r[0]; s <= r[1]; s++ {
					owned[s], assigned = true, true
				}
			}
		}
	}
	// Once the cluster serves slots, only a creation still under way
	// (a crash between two shards' assignments) assigns more, but for a
	// one-shard cluster whose node restarted cluster-enabled with its
	// data and claimed only its keys' slots (serverless.go).
	if assigned && cache.Status != keyward.CacheCreating {
		if p, ok := st.primary[0]; ok {
			return assignMissingSlots(ctx, cmd, cache, st, p)
		}
		return false, nil
	}
	changed := false
	staged := stagedShards(cache, st)
	for s, shard := range cache.Shards {
		i, ok := st.primary[s]
		if !ok || st.views[i][st.myid[i]].slots > 0 {
			continue
		}
		if j, ok := staged[s]; ok {
			i = j
		}
		ranges, err := keyward.ParseSlots(shard.Slots)
		if err != nil {
			return false, Terminal(err)
		}
		free := true
		for _, r := range ranges {
			for slot := r[0]; slot <= r[1] && free; slot++ {
				free = !owned[slot]
			}
		}
		if !free || len(ranges) == 0 {
			continue
		}
		args := []string{"CLUSTER", "ADDSLOTSRANGE"}
		for _, r := range ranges {
			args = append(args, strconv.Itoa(r[0]), strconv.Itoa(r[1]))
		}
		if _, err := cmd.Do(ctx, st.ids[i], args...); err != nil {
			return false, err
		}
		st.primary[s] = i
		changed = true
	}
	return changed, nil
}

// forgetStrangers makes every node forget the cluster members that are
// not the group's nodes any more and serve no slots.
func forgetStrangers(ctx context.Context, cmd ClusterCommander, st *clusterState) error {
	ours := map[string]bool{}
	for _, id := range st.myid {
		ours[id] = true
	}
	for i, view := range st.views {
		for id, n := range view {
			if ours[id] || n.has("handshake") || n.slots > 0 {
				continue
			}
			if _, err := cmd.Do(ctx, st.ids[i], "CLUSTER", "FORGET", id); err != nil && !strings.Contains(err.Error(), "Unknown node") && !strings.Contains(err.Error(), "my master") {
				return err
			}
		}
	}
	return nil
}

// inSync reports whether replica id has its primary's data.
func inSync(ctx context.Context, cmd ClusterCommander, id string) (bool, error) {
	r, err := cmd.Do(ctx, id, "INFO", "replication")
	if err != nil {
		return false, err
	}
	info, _ := r.(string)
	return replicaSynced(info), nil
}

// replicaSynced reports whether a replica's INFO replication says it has
// its primary's data: linked, and not in the middle of a full sync.
func replicaSynced(info string) bool {
	return strings.Contains(info, "master_link_status:up") && strings.Contains(info, "master_sync_in_progress:0")
}

// onNodes runs, on every node at once, the commands cmds gives for it,
// each node's in one round trip when the engine pipelines (SlotMover),
// and returns the replies in ids order. An error reply is an error.
func onNodes(ctx context.Context, cmd ClusterCommander, ids []string, cmds func(i int) [][]string) ([][]any, error) {
	out := make([][]any, len(ids))
	errs := make([]error, len(ids))
	pipe, _ := cmd.(SlotMover)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			c := cmds(i)
			if pipe == nil {
				for _, args := range c {
					r, err := cmd.Do(ctx, id, args...)
					if err != nil {
						errs[i] = err
						return
					}
					out[i] = append(out[i], r)
				}
				return
			}
			r, err := pipe.DoPipeline(ctx, id, c)
			if err == nil {
				for j, x := range r {
					if e, ok := x.(error); ok {
						err = fmt.Errorf("reconcile: node %s: %s: %w", id, c[j][0], e)
						break
					}
				}
			}
			out[i], errs[i] = r, err
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// shardPrimary returns the index of the primary of node i's shard as
// keyward recorded it (the roles learned from the nodes: after a failover
// not the shard's first node), else the shard's first node.
func shardPrimary(cache *keyward.Cache, i int) int {
	first := -1
	for j, n := range cache.Nodes {
		if n.Shard != cache.Nodes[i].Shard {
			continue
		}
		if n.Role == "primary" {
			return j
		}
		if first < 0 {
			first = j
		}
	}
	return first
}
