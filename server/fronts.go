package server

import (
	"context"
	"fmt"
	"strings"

	"keyward"
	"keyward/ecapi"
	"keyward/engine"
	"keyward/front"
	"keyward/fronts"
	"keyward/iamauth"
	"keyward/reconcile"
)

// openFronts opens the fronts of eng's nodes (unless Config.NoFronts).
func (s *Server) openFronts(ctx context.Context, eng *engine.Manager) error {
	if s.Config.NoFronts {
		return nil
	}
	f := &fronts.Manager{
		DataDir: s.Config.DataDir, Credentials: s.Config.Credentials,
		CAFile: eng.CAFile(), CertFiles: eng.NodeCertFiles,
		InProcess: s.Config.FrontsInProcess,
		Logger:    s.Config.Logger.With("component", "fronts"),
	}
	if err := f.Open(ctx); err != nil {
		return fmt.Errorf("server: fronts: %w", err)
	}
	s.mu.Lock()
	s.fronts = f
	s.mu.Unlock()
	return nil
}

// frontsOf returns the fronts opened with eng.
func (s *Server) frontsOf(*engine.Manager) *fronts.Manager {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fronts
}

// closeFronts closes the fronts, stopping every one first when stop is set.
func (s *Server) closeFronts(stop bool) {
	s.mu.Lock()
	f := s.fronts
	s.fronts = nil
	s.mu.Unlock()
	if f == nil {
		return
	}
	if stop {
		for _, id := range f.IDs() {
			if err := f.Stop(context.Background(), id); err != nil {
				s.Config.Logger.Warn("server: stop front", "node", id, "err", err)
			}
		}
	}
	f.Close()
}

// cacheIdentity is what IAM users' internal secrets on c derive from: its
// ARN, unique across accounts and regions.
func cacheIdentity(c *keyward.Cache) string {
	typ := keyward.ARNReplicationGroup
	if c.Kind == keyward.KindServerless {
		typ = keyward.ARNServerlessCache
	}
	return c.Scope.ARN(typ, c.ID)
}

// iamSecretHash gives the reconciler IAM users' secret hashes on caches
// that have fronts (TLS ones).
func iamSecretHash(f *fronts.Manager) func(*keyward.Cache, string) string {
	if f == nil {
		return nil
	}
	return func(c *keyward.Cache, user string) string {
		if !c.TransitEncryption {
			return ""
		}
		return front.SecretHash(f.Key(), cacheIdentity(c), user)
	}
}

// frontPort is the port node spec.ID's front has or will have: the port
// the API already reports for the node, if any, so that an endpoint never
// moves (also when the node itself serves it, being made by a keyward
// without fronts: ensureFront hands it over), else a new one.
func (a engineAdapter) frontPort(spec reconcile.NodeSpec) (int, error) {
	recorded := a.recordedPort(spec)
	if recorded == 0 && a.m.OwnAddresses() {
		// A new node on an address of its own: its front takes the
		// cache's port there (engine.NodeSpec.FrontPort keeps it free).
		recorded = spec.Port
	}
	return a.f.Reserve(spec.ID, recorded)
}

// ensureFront runs the front of node n and returns its port, the one
// clients are given. A node that holds that port itself (made by a keyward
// without fronts) is first moved to a new port, without a restart: its
// open connections stay, new ones reach the front.
func (a engineAdapter) ensureFront(ctx context.Context, spec reconcile.NodeSpec, n *engine.Node) (int, error) {
	port, err := a.frontPort(spec)
	if err != nil {
		return 0, err
	}
	if n.Port == port {
		if _, err := a.m.MovePort(ctx, spec.ID); err != nil {
			return 0, err
		}
		moved, ok := a.m.Node(spec.ID)
		if !ok {
			return 0, engine.ErrNodeNotFound
		}
		n = moved
	}
	// The node's private socket: no TLS on that hop, and the front checks
	// who serves it. A node of an older keyward has none until it restarts:
	// its front reaches it over TLS meanwhile.
	backend, process := n.Addr, ""
	if n.Socket != "" {
		backend, process = "unix:"+n.Socket, n.ConfFile
	}
	c := spec.Cache
	return a.f.Ensure(ctx, fronts.Spec{
		ID: spec.ID, Backend: backend, BackendProcess: process, CacheID: cacheIdentity(c),
		// The front listens where clients are sent: the node's address at
		// the cache's port, and the endpoint addresses the node serves.
		Host: frontHost(n), Binds: strings.Join(spec.Binds, " "),
		// Mode preferred: the endpoint serves plain-text clients too.
		Plaintext: c.Settings.TransitEncryptionMode == ecapi.TransitEncryptionModePreferred,
		Resource:  iamauth.Resource{Name: c.ID, Serverless: c.Kind == keyward.KindServerless, AccountID: c.Scope.Account, Region: c.Scope.Region},
	})
}

// frontHost is the address a front listens on: its node's own; "" (the
// fronts' default, 127.0.0.1) where nodes share 127.0.0.1, so that the
// fronts of an earlier keyward keep their configuration.
func frontHost(n *engine.Node) string {
	if n.Host == "127.0.0.1" {
		return ""
	}
	return n.Host
}

// recordedPort is the port the API reports for node spec.ID, 0 if none
// yet (or the node serves no cache of the API's, as in some tests).
func (engineAdapter) recordedPort(spec reconcile.NodeSpec) int {
	if spec.Cache == nil {
		return 0
	}
	for _, cn := range spec.Cache.Nodes {
		if spec.Cache.NodeID(cn.ClusterID) == spec.ID {
			return cn.Port
		}
	}
	return 0
}
