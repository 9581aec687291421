package server

import (
	"context"
	"errors"

	"keyward/engine"
	"keyward/reconcile"
)

// engineAdapter lets the reconciler drive engine.Manager through the small
// interface it declares, keeping reconcile free of the engine package.
type engineAdapter struct{ m *engine.Manager }

var _ reconcile.Engine = engineAdapter{}

func (a engineAdapter) EnsureNode(ctx context.Context, spec reconcile.NodeSpec) (int, error) {
	n, err := a.m.Ensure(ctx, engine.NodeSpec{
		ID: spec.ID, Engine: string(spec.Engine), ReplicaOf: spec.ReplicaOf, TLS: spec.TLS,
		MaxMemory: spec.MaxMemory, MaxMemoryPolicy: spec.MaxMemoryPolicy, Config: spec.Config,
	})
	if errors.Is(err, engine.ErrEngineNotFound) || errors.Is(err, engine.ErrTLSUnsupported) {
		return 0, reconcile.Terminal(err)
	}
	if err != nil {
		return 0, err
	}
	return n.Port, nil
}

func (a engineAdapter) StopNode(ctx context.Context, id string) error {
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
	if errors.Is(err, engine.ErrInvalidRules) {
		// The engine refused a user's rules (e.g. an unknown command): no
		// retry can fix that until the user is changed.
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
	return ids
}
