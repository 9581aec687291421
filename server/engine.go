package server

import (
	"context"
	"errors"
	"keyward/s3dir"
	"os"
	"os/exec"
	"slices"

	"keyward/engine"
	"keyward/fronts"
	"keyward/reconcile"
)

// engineAdapter lets the reconciler drive engine.Manager through the small
// interface it declares, keeping reconcile free of the engine package.
type engineAdapter struct {
	m *engine.Manager
	f *fronts.Manager // nil: no fronts (see fronts.go)
	b s3dir.Dir       // the buckets of exports and S3 restores
}

var _ reconcile.Engine = engineAdapter{}

func (a engineAdapter) EnsureNode(ctx context.Context, spec reconcile.NodeSpec) (int, error) {
	es := engine.NodeSpec{
		ID: spec.ID, Engine: string(spec.Engine), ReplicaOf: spec.ReplicaOf, TLS: spec.TLS, Cluster: spec.Cluster,
		ReplGroup: spec.ReplGroup, MaxMemory: spec.MaxMemory, MaxMemoryPolicy: spec.MaxMemoryPolicy, Config: spec.Config, BootConfig: spec.BootConfig,
		Port: spec.Port, Binds: spec.Binds, CertHosts: spec.CertHosts, Failover: spec.Failover, ShareHost: spec.ShareHost,
	}
	front := a.f != nil && spec.TLS && spec.Cache != nil
	if front {
		// The front owns the client port and the endpoint addresses; the
		// node listens on a free port of its own address behind it.
		es.Port, es.FrontPort, es.Binds = 0, spec.Port, nil
	}
	if front && spec.Cluster {
		// A Cluster node announces its front's port (CLUSTER SLOTS, MOVED),
		// so that cluster clients reach the fronts: it must be known first.
		port, err := a.frontPort(spec)
		if err != nil {
			return 0, err
		}
		es.AnnouncePort = port
	}
	// The port clients are given, which a node that served behind a
	// front takes back (below).
	recorded := 0
	if !front {
		recorded = a.recordedPort(spec)
	}
	if spec.Cluster && recorded != 0 {
		if n, ok := a.m.Node(spec.ID); ok && n.Port != recorded {
			// A Cluster node that served behind a front (the cache no
			// longer has in-transit encryption) announces the port it
			// takes back below from its restart on, so that the cluster
			// never names the private port it listens on meanwhile. The
			// next pass finds it on that port and announces its own.
			es.AnnouncePort = recorded
		}
	}
	if !front && a.f != nil && a.f.Has(spec.ID) {
		// The cache no longer has in-transit encryption: the front goes
		// first, freeing the port and addresses the node serves again.
		if err := a.f.Stop(ctx, spec.ID); err != nil {
			return 0, err
		}
	}
	n, err := a.m.Ensure(ctx, es)
	if errors.Is(err, engine.ErrEngineNotFound) || errors.Is(err, engine.ErrTLSUnsupported) {
		return 0, reconcile.Terminal(err)
	}
	if err != nil {
		return 0, err
	}
	if front {
		return a.ensureFront(ctx, spec, n)
	}
	if recorded != 0 && recorded != n.Port {
		// A node that served behind a front (see ensureFront) takes back
		// the port clients are given.
		return recorded, a.m.MovePortTo(ctx, spec.ID, recorded)
	}
	return n.Port, nil
}

// NodeHost reports the node's address (its own, or 127.0.0.1), which its
// front shares.
func (a engineAdapter) NodeHost(id string) string {
	if n, ok := a.m.Node(id); ok {
		return n.Host
	}
	return ""
}

// ReserveAddress and ReleaseAddress keep the endpoint addresses of
// replication groups (see engine.Manager.ReserveAddress).
func (a engineAdapter) ReserveAddress(owner string, port int) (string, error) {
	return a.m.ReserveAddress(owner, port)
}
func (a engineAdapter) ReleaseAddress(owner string) error { return a.m.ReleaseAddress(owner) }

// NodeUp reports whether the node's process runs and answers keyward.
func (a engineAdapter) NodeUp(id string) (up, known bool) { return NodeUp(a.m, id) }

// NodeRunning reports whether the node's process runs, answering or not.
func (a engineAdapter) NodeRunning(id string) (running, known bool) {
	n, ok := a.m.Node(id)
	if !ok {
		return false, false
	}
	return n.PID > 0, true
}

func (a engineAdapter) StopNode(ctx context.Context, id string) error {
	if a.f != nil {
		// The front first: it would only answer "node unavailable".
		if err := a.f.Stop(ctx, id); err != nil {
			return err
		}
	}
	err := a.m.Stop(ctx, id)
	if errors.Is(err, engine.ErrNodeNotFound) {
		return nil
	}
	return err
}

func (a engineAdapter) ApplyACL(ctx context.Context, id string, users []reconcile.ACLUser, kill []string) (bool, error) {
	eu := make([]engine.ACLUser, len(users))
	for i, u := range users {
		eu[i] = engine.ACLUser{Name: u.Name, Rules: u.Rules}
	}
	changed, err := a.m.ApplyACL(ctx, id, eu, kill)
	var refused *engine.RulesRefusedError
	if errors.As(err, &refused) {
		// The engine refused some users' rules (e.g. a module command):
		// they are left off the node, so denied, and the engine logged
		// them. Everything else was applied, so the cache has converged
		// on what the engine can enforce: no user or group waits on them.
		return changed, nil
	}
	if errors.Is(err, engine.ErrInvalidRules) {
		err = reconcile.Terminal(err)
	}
	return changed, err
}

func (a engineAdapter) NodeIDs() []string {
	nodes := a.m.Nodes()
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	if a.f != nil {
		// A front whose node is gone is an orphan too.
		for _, id := range a.f.IDs() {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// RestartNode restarts a Redis node's process in place for a reboot or a
// service update (engine.Manager.Restart: data, port and ACLs kept).
func (a engineAdapter) RestartNode(ctx context.Context, id string) error {
	_, err := a.m.Restart(ctx, id)
	return err
}

// mcFrontCommand runs a memcached node's front as "keyward mcfront DIR"
// (this executable), with a nearly empty environment: nothing of keyward's
// secrets reaches it. KEYWARD_RUN_MAIN lets a test binary stand in for
// keyward (cmd/keyward's tests).
func mcFrontCommand(dir string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, "mcfront", dir)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	for _, k := range []string{"KEYWARD_RUN_MAIN", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	return cmd
}

// memcachedAdapter lets the reconciler drive engine.Memcached.
type memcachedAdapter struct{ m *engine.Memcached }

var _ reconcile.MemcachedEngine = memcachedAdapter{}

func (a memcachedAdapter) EnsureMemcached(ctx context.Context, spec reconcile.MemcachedSpec) (int, error) {
	n, err := a.m.Ensure(ctx, engine.MemcachedSpec{ID: spec.ID, MemoryMB: spec.MemoryMB, Port: spec.Port, Cluster: spec.Cluster, TLS: spec.TLS, Args: spec.Args})
	if errors.Is(err, engine.ErrEngineNotFound) {
		return 0, reconcile.Terminal(err)
	}
	if err != nil {
		return 0, err
	}
	return n.Port, nil
}

func (a memcachedAdapter) EnsureMemcachedEndpoint(ctx context.Context, cluster string, port int, tls bool) (string, int, error) {
	return a.m.EnsureEndpoint(ctx, cluster, port, tls)
}

func (a memcachedAdapter) StopMemcachedEndpoint(ctx context.Context, cluster string) error {
	return a.m.StopEndpoint(ctx, cluster)
}

func (a memcachedAdapter) MemcachedEndpoints() []string { return a.m.Endpoints() }

func (a memcachedAdapter) SetMemcachedDiscovery(cluster string, version int64, nodeIDs []string) error {
	return a.m.SetDiscovery(cluster, version, nodeIDs)
}

func (a memcachedAdapter) MemcachedHost(id string) string {
	for _, n := range a.m.Nodes() {
		if n.ID == id {
			return n.Host
		}
	}
	return ""
}

func (a memcachedAdapter) RestartMemcached(ctx context.Context, id string) error {
	_, err := a.m.Restart(ctx, id)
	return err
}

func (a memcachedAdapter) StopMemcached(ctx context.Context, id string) error {
	err := a.m.Stop(ctx, id)
	if errors.Is(err, engine.ErrNodeNotFound) {
		return nil
	}
	return err
}

func (a memcachedAdapter) MemcachedIDs() []string {
	nodes := a.m.Nodes()
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return ids
}

// Do runs an admin command on a node (cluster wiring).
func (a engineAdapter) Do(ctx context.Context, id string, args ...string) (any, error) {
	return a.m.Do(ctx, id, args...)
}

// BusPort reports a cluster node's bus port.
func (a engineAdapter) BusPort(id string) int { return a.m.BusPort(id) }

// MigrateSlotKeys moves hash slots' keys between cluster nodes
// (resharding).
func (a engineAdapter) MigrateSlotKeys(ctx context.Context, src, dst string, slots []int, batch int) (int, error) {
	return a.m.MigrateSlotKeys(ctx, src, dst, slots, batch)
}

// DoPipeline runs admin commands on a node in one round trip.
func (a engineAdapter) DoPipeline(ctx context.Context, id string, cmds [][]string) ([]any, error) {
	return a.m.DoPipeline(ctx, id, cmds)
}

// NodeUp reports whether node id runs and answers keyward (known is false
// when this replica runs no engine or does not know the node).
func NodeUp(m *engine.Manager, id string) (up, known bool) {
	if m == nil {
		return false, false
	}
	n, ok := m.Node(id)
	if !ok {
		return false, false
	}
	return n.PID > 0 && !n.Unresponsive, true
}

// Follow makes a primary replicate from an outside source (online
// migration), or stop (addr "").
func (a engineAdapter) Follow(ctx context.Context, id, addr string) (bool, error) {
	return a.m.Follow(ctx, id, addr)
}

var _ reconcile.SourceFollower = engineAdapter{}

// ReplicaStream reads a node's replication stream as one of its replicas
// (cluster-mode global datastores).
func (a engineAdapter) ReplicaStream(ctx context.Context, id string, pos reconcile.ReplPosition, h reconcile.StreamHandler) error {
	return a.m.ReplicaStream(ctx, id, engine.ReplPosition(pos), engine.StreamHandler{
		FullSync: func(ctx context.Context, at engine.ReplPosition) error {
			return h.FullSync(ctx, reconcile.ReplPosition(at))
		},
		Keys: func(ctx context.Context, keys []engine.DumpedKey) error {
			out := make([]reconcile.DumpedKey, len(keys))
			for i, k := range keys {
				out[i] = reconcile.DumpedKey(k)
			}
			return h.Keys(ctx, out)
		},
		Commands: func(ctx context.Context, cmds [][]string, at engine.ReplPosition) error {
			return h.Commands(ctx, cmds, reconcile.ReplPosition(at))
		},
	})
}

var _ reconcile.ReplStreamer = engineAdapter{}
