package reconcile

import (
	"context"
	"errors"
	"fmt"
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
		n := clusterNode{id: f[0], flags: strings.Split(f[2], ","), master: f[3]}
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
	st := &clusterState{ids: make([]string, len(cache.Nodes)), myid: make([]string, len(cache.Nodes))}
	ids, myid := st.ids, st.myid
	for i, n := range cache.Nodes {
		ids[i] = cache.NodeID(n.ClusterID)
		r, err := cmd.Do(ctx, ids[i], "CLUSTER", "MYID")
		if err != nil {
			return false, nil, err
		}
		myid[i], _ = r.(string)
	}
	views := make([]map[string]clusterNode, len(ids))
	st.views = views
	for i, id := range ids {
		r, err := cmd.Do(ctx, id, "CLUSTER", "NODES")
		if err != nil {
			return false, nil, err
		}
		if views[i], err = parseClusterNodes(r); err != nil {
			return false, nil, err
		}
	}
	// Meet: every node meets every node it does not know yet, so that the
	// mesh is complete at once instead of after rounds of gossip.
	met := false
	for i := range ids {
		for j := range ids {
			if i == j {
				continue
			}
			if _, known := views[i][myid[j]]; known {
				continue
			}
			if j >= len(ports) || ports[j] == 0 {
				return false, nil, fmt.Errorf("reconcile: node %s has no port yet", ids[j])
			}
			if _, err := cmd.Do(ctx, ids[i], "CLUSTER", "MEET", nodeHost(cache.Nodes[j]), strconv.Itoa(ports[j]), strconv.Itoa(cmd.BusPort(ids[j]))); err != nil {
				return false, nil, err
			}
			met = true
		}
	}
	if met {
		return false, nil, nil
	}
	for i := range ids {
		for _, other := range myid {
			if n, ok := views[i][other]; !ok || n.has("handshake") || n.has("noaddr") {
				return false, nil, nil // still gossiping
			}
		}
	}
	// Nodes that left the group (removed replicas and shards) are
	// forgotten, once they serve nothing.
	if err := forgetStrangers(ctx, cmd, st); err != nil {
		return false, nil, err
	}
	// Each shard's primary: the master that serves its slots (after a
	// failover, not necessarily its first node), else its first master.
	st.primary = shardPrimaries(cache, st)
	primary := st.primary
	assigned := 0
	for _, n := range views[0] {
		assigned += n.slots
	}
	changed := false
	if p, ok := primary[0]; ok && assigned > 0 {
		// A one-shard cluster whose node claimed only its keys' slots.
		var err error
		if changed, err = assignMissingSlots(ctx, cmd, cache, st, p); err != nil {
			return false, nil, err
		}
	}
	for s, i := range primary {
		if assigned > 0 || s >= len(cache.Shards) {
			break // slots are assigned once, for the whole cluster
		}
		ranges, err := keyward.ParseSlots(cache.Shards[s].Slots)
		if err != nil {
			return false, nil, Terminal(err)
		}
		args := []string{"CLUSTER", "ADDSLOTSRANGE"}
		for _, r := range ranges {
			args = append(args, strconv.Itoa(r[0]), strconv.Itoa(r[1]))
		}
		if _, err := cmd.Do(ctx, ids[i], args...); err != nil {
			return false, nil, err
		}
		changed = true
	}
	for i, n := range cache.Nodes {
		p := primary[n.Shard]
		if p == i {
			continue
		}
		me := views[i][myid[i]]
		if me.has("slave") || me.slots > 0 {
			continue // replicating already, or promoted by a failover
		}
		if _, err := cmd.Do(ctx, ids[i], "CLUSTER", "REPLICATE", myid[p]); err != nil {
			return false, nil, err
		}
		changed = true
	}
	if changed {
		return false, nil, nil
	}
	for i, id := range ids {
		r, err := cmd.Do(ctx, id, "CLUSTER", "INFO")
		if err != nil {
			return false, nil, err
		}
		info, _ := r.(string)
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_assigned:16384") {
			return false, nil, nil
		}
		if st.role(i) == "replica" {
			if ok, err := inSync(ctx, cmd, id); err != nil || !ok {
				return false, nil, err
			}
		}
	}
	if ok, err := serverlessTopology(ctx, cmd, cache, st); err != nil || !ok { // serverless.go
		return false, nil, err
	}
	return true, st, nil
}

// shardPrimaries finds each shard's current primary.
func shardPrimaries(cache *keyward.Cache, st *clusterState) map[int]int {
	primary := map[int]int{}
	for i, n := range cache.Nodes {
		if _, ok := primary[n.Shard]; !ok && st.role(i) == "primary" && st.views[i][st.myid[i]].slots > 0 {
			primary[n.Shard] = i
		}
	}
	for i, n := range cache.Nodes {
		if _, ok := primary[n.Shard]; !ok && st.role(i) == "primary" {
			primary[n.Shard] = i
		}
	}
	return primary
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

// inSync reports whether replica id has its primary's data: linked, and
// not in the middle of a full sync.
func inSync(ctx context.Context, cmd ClusterCommander, id string) (bool, error) {
	r, err := cmd.Do(ctx, id, "INFO", "replication")
	if err != nil {
		return false, err
	}
	info, _ := r.(string)
	return strings.Contains(info, "master_link_status:up") && strings.Contains(info, "master_sync_in_progress:0"), nil
}

// shardPrimary returns the index of the primary of node i's shard: the
// shard's first node.
func shardPrimary(cache *keyward.Cache, i int) int {
	for j, n := range cache.Nodes {
		if n.Shard == cache.Nodes[i].Shard {
			return j
		}
	}
	return i
}

// startPrimaries runs node on every shard's primary, in parallel.
func startPrimaries(cache *keyward.Cache, node func(int)) {
	var wg sync.WaitGroup
	for i := range cache.Nodes {
		if shardPrimary(cache, i) == i {
			wg.Go(func() { node(i) })
		}
	}
	wg.Wait()
}
