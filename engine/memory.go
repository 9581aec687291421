package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// maxMemoryPolicies are the engines' maxmemory-policy values.
var maxMemoryPolicies = []string{
	"volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu",
	"volatile-random", "allkeys-random", "volatile-ttl", "noeviction",
}

func (s NodeSpec) validateMemory() error {
	if s.MaxMemory < 0 {
		return fmt.Errorf("engine: node %s: negative maxmemory %d", s.ID, s.MaxMemory)
	}
	if s.MaxMemoryPolicy != "" && !slices.Contains(maxMemoryPolicies, s.MaxMemoryPolicy) {
		return fmt.Errorf("engine: node %s: unknown maxmemory-policy %q", s.ID, s.MaxMemoryPolicy)
	}
	return nil
}

// writeMemoryConfig renders the memory limit of spec into a configuration
// file through p, so that a (re)started node comes up with it.
func writeMemoryConfig(p func(args ...string), spec NodeSpec) {
	if spec.MaxMemory > 0 {
		p("maxmemory", strconv.FormatInt(spec.MaxMemory, 10))
	}
	if spec.MaxMemoryPolicy != "" {
		p("maxmemory-policy", spec.MaxMemoryPolicy)
	}
}

// applyMemory sets spec's memory limit on the running node n and records
// it, so that a restart keeps it. Tenants cannot undo it: CONFIG is in
// TenantDenials.
func (m *Manager) applyMemory(ctx context.Context, n *node, spec NodeSpec) error {
	policy := spec.MaxMemoryPolicy
	if policy == "" {
		policy = "noeviction"
	}
	err := m.withAdmin(ctx, n, func(c *respConn) error {
		for _, kv := range [][2]string{{"maxmemory", strconv.FormatInt(spec.MaxMemory, 10)}, {"maxmemory-policy", policy}} {
			if _, err := c.do(ctx, "CONFIG", "SET", kv[0], kv[1]); err != nil {
				return fmt.Errorf("CONFIG SET %s: %w", kv[0], err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("engine: node %s: %w", n.id, err)
	}
	m.setRecord(n, func(r *record) { r.Spec.MaxMemory, r.Spec.MaxMemoryPolicy = spec.MaxMemory, spec.MaxMemoryPolicy })
	return m.writeNodeFiles(n)
}
