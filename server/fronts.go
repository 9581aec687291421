package server

import (
	"context"
	"fmt"
	"strings"

	"keyward"
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

// ensureFront runs the front of node n and returns its port, the one
// clients are given. A node that already serves clients on its own port
// (made by a keyward without fronts) keeps it: an upgrade never moves an
// endpoint, and such a cache's IAM users cannot log in until it is made
// anew.
func (a engineAdapter) ensureFront(ctx context.Context, spec reconcile.NodeSpec, n *engine.Node) (int, error) {
	c := spec.Cache
	for _, cn := range c.Nodes {
		if c.NodeID(cn.ClusterID) == spec.ID && cn.Port != 0 && cn.Port == n.Port && !a.f.Has(spec.ID) {
			return n.Port, nil
		}
	}
	return a.f.Ensure(ctx, fronts.Spec{
		ID: spec.ID, Backend: n.Addr, CacheID: cacheIdentity(c),
		// The front listens where clients are sent: the node's address and
		// the cache's port, plus the endpoint addresses the node serves.
		Host: frontHost(n), WantPort: frontPort(spec, n), Binds: strings.Join(spec.Binds, " "),
		Resource: iamauth.Resource{Name: c.ID, Serverless: c.Kind == keyward.KindServerless, AccountID: c.Scope.Account, Region: c.Scope.Region},
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

// frontPort is the port a new front asks for: the cache's, on the node's
// own address; any free one where nodes share 127.0.0.1.
func frontPort(spec reconcile.NodeSpec, n *engine.Node) int {
	if n.Host == "127.0.0.1" {
		return 0
	}
	return spec.Port
}
