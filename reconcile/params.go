package reconcile

import (
	"context"
	"slices"
	"strings"

	"keyward"
	"keyward/catalog"
)

// Parameters of a cache's parameter group that reach its nodes. Only the
// values the user set are applied, and only those that change immediately
// on ElastiCache: requires-reboot parameters wait for a reboot, which
// keyward does not offer yet. Parameters that configure ElastiCache itself
// rather than the engine, or that keyward manages, are not engine
// directives and are never passed on.
var notDirectives = []string{
	"close-on-replica-write", "close-on-slave-write", "reserved-memory", "reserved-memory-percent",
	"rename-commands", "acl-pubsub-default", "cluster-enabled", "databases", "maxclients",
	"appendonly", "appendfsync",
}

// notDirectivePrefixes: cluster settings (keyward's groups are cluster-mode
// disabled), ElastiCache's split client-output-buffer-limit parameters and
// the Valkey search module's settings.
var notDirectivePrefixes = []string{"cluster-", "client-output-buffer-limit-", "search-"}

func isDirective(p catalog.Parameter) bool {
	if !p.IsModifiable || p.ChangeType != "immediate" || slices.Contains(notDirectives, p.Name) {
		return false
	}
	return !slices.ContainsFunc(notDirectivePrefixes, func(pre string) bool { return strings.HasPrefix(p.Name, pre) })
}

// nodeConfig returns the engine directives of c's parameter group and the
// maxmemory-policy it sets ("" when it sets none).
func nodeConfig(ctx context.Context, tx keyward.Tx, c *keyward.Cache) (map[string]string, string, error) {
	name := c.Settings.CacheParameterGroupName
	if name == "" || keyward.IsBuiltInParameterGroup(name) {
		return nil, "", nil
	}
	g, err := keyward.CacheParameterGroups.Get(ctx, tx, c.Scope, name)
	if err != nil {
		return nil, "", err
	}
	f, ok := catalog.LookupFamily(g.Family)
	if !ok {
		return nil, "", nil
	}
	var cfg map[string]string
	policy := ""
	for _, p := range f.Parameters {
		v, set := g.Values[p.Name]
		switch {
		case !set:
		case p.Name == "maxmemory-policy":
			policy = v
		case isDirective(p):
			if cfg == nil {
				cfg = map[string]string{}
			}
			cfg[p.Name] = v
		}
	}
	return cfg, policy, nil
}

// nodeSettings are what a cache's parameter group sets on each node.
type nodeSettings struct {
	config map[string]string
	policy string
	// upstream is the node the cache's primary node replicates from, in
	// another region (a global datastore's secondary, see global.go).
	upstream string
}

func (s nodeSettings) apply(spec *NodeSpec) {
	spec.Config = s.config
	if s.policy != "" && spec.MaxMemory > 0 {
		spec.MaxMemoryPolicy = s.policy
	}
}
