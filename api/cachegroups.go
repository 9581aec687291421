package api

import (
	"context"
	"slices"
	"strings"

	"keyward"
	"keyward/catalog"
)

// familyOf returns the parameter group family of an engine version: the
// catalogue's entry for it, or for its major.minor prefix ("7.0.15" → 7.0),
// or "" when the catalogue does not know the version.
func familyOf(engine keyward.Engine, version string) string {
	if v, ok := catalog.LookupEngineVersion(string(engine), version); ok {
		return v.CacheParameterGroupFamily
	}
	parts := strings.Split(version, ".")
	if len(parts) > 2 {
		if v, ok := catalog.LookupEngineVersion(string(engine), parts[0]+"."+parts[1]); ok {
			return v.CacheParameterGroupFamily
		}
	}
	if len(parts) == 2 && parts[1] == "x" { // "6.x": the newest 6
		fam := ""
		for _, v := range catalog.EngineVersions() {
			if v.Engine == string(engine) && strings.HasPrefix(v.EngineVersion, parts[0]+".") {
				fam = v.CacheParameterGroupFamily
			}
		}
		return fam
	}
	return ""
}

// bootFingerprints returns, for each parameter group the caches use, the
// fingerprint of its values applied at boot (catalog.BootFingerprint): a
// node whose BootParams differ is pending-reboot.
func bootFingerprints(ctx context.Context, tx keyward.Tx, sc keyward.Scope, caches []*keyward.Cache) (map[string]string, error) {
	out := map[string]string{}
	for _, c := range caches {
		name := c.Settings.CacheParameterGroupName
		if _, seen := out[name]; seen || name == "" || keyward.IsBuiltInParameterGroup(name) {
			continue
		}
		g, err := keyward.CacheParameterGroups.Get(ctx, tx, sc, name)
		if err != nil {
			return nil, err
		}
		f, _ := catalog.LookupFamily(g.Family)
		out[name] = catalog.BootFingerprint(f.BootValues(g.Values))
	}
	return out, nil
}

// pendingReboot reports whether node n of c has not yet started with its
// parameter group's requires-reboot values.
func pendingReboot(c *keyward.Cache, n keyward.CacheNode, boot map[string]string) bool {
	if c.ClusterMode || n.Port == 0 {
		return false
	}
	return n.BootParams != boot[c.Settings.CacheParameterGroupName]
}

// clusterPendingReboot returns the nodes of a standalone cluster that last
// started with other requires-reboot values than its parameter group's
// (boot, from bootFingerprints): they apply when each reboots.
func clusterPendingReboot(cl *keyward.CacheCluster, boot map[string]string) []string {
	name := cl.Settings.CacheParameterGroupName
	if name == "" || keyward.IsBuiltInParameterGroup(name) {
		return nil
	}
	var ids []string
	for _, n := range cl.Nodes {
		if n.Port != 0 && !n.Removing && n.BootParams != boot[name] {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

// useParameterGroup checks that a cache of c's engine and version may use
// the parameter group called name: it exists, it is of the version's
// family, and its cluster-enabled matches the group's cluster mode. It
// returns the lower-cased name.
func useParameterGroup(ctx context.Context, tx keyward.Tx, sc keyward.Scope, c *keyward.Cache, name string) (string, error) {
	g, _, err := findParamGroup(ctx, tx, sc, name)
	if err != nil {
		return "", err
	}
	if f := familyOf(c.Engine, c.EngineVersion); f != "" && f != g.family {
		return "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceCacheParameterGroup, "The parameter group %s is of family %s, and %s %s needs family %s.", g.name, g.family, c.Engine, c.EngineVersion, f)
	}
	clusterOn := g.clusterOn || g.values["cluster-enabled"] == "yes"
	if clusterOn && !c.ClusterMode {
		return "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceCacheParameterGroup, "Parameter group %s has cluster-enabled yes; it cannot be used by a cluster-mode-disabled replication group.", g.name)
	}
	if !clusterOn && c.ClusterMode {
		return "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceCacheParameterGroup, "Parameter group %s has cluster-enabled no; a replication group with cluster mode enabled needs one with cluster-enabled yes.", g.name)
	}
	return g.name, nil
}

// useSubnetGroup checks that the subnet group exists and returns its name.
func useSubnetGroup(ctx context.Context, tx keyward.Tx, sc keyward.Scope, name string) (string, error) {
	g, err := findSubnetGroup(ctx, tx, sc, name)
	if err != nil {
		return "", err
	}
	return g.ID, nil
}

// checkCacheGroups checks, inside the request's transaction, the parameter
// and subnet groups c's settings name, and stores their lower-cased names:
// a user's group becomes a reference of the cache (keyward.Cache groupRefs).
func checkCacheGroups(ctx context.Context, tx keyward.Tx, sc keyward.Scope, c *keyward.Cache) error {
	st := &c.Settings
	// The implicit default of a version the catalogue does not list is
	// kept as reported, not looked up.
	if n := st.CacheParameterGroupName; n != "" && !(n == defaultParameterGroup(c.Engine, c.EngineVersion) && familyOf(c.Engine, c.EngineVersion) == "") {
		name, err := useParameterGroup(ctx, tx, sc, c, st.CacheParameterGroupName)
		if err != nil {
			return err
		}
		st.CacheParameterGroupName = name
	}
	if st.CacheSubnetGroupName != "" {
		name, err := useSubnetGroup(ctx, tx, sc, st.CacheSubnetGroupName)
		if err != nil {
			return err
		}
		st.CacheSubnetGroupName = name
		if name != keyward.DefaultSubnetGroup && len(st.PreferredAZs) == 0 {
			g, err := findSubnetGroup(ctx, tx, sc, name)
			if err != nil {
				return err
			}
			st.PreferredAZs = spreadAZs(g, c.NumNodes)
		}
	}
	return nil
}

// spreadAZs places n nodes over the zones of a subnet group's subnets in
// turn, as ElastiCache spreads a group's nodes when no zones are asked for.
func spreadAZs(g *keyward.CacheSubnetGroup, n int) []string {
	var zones []string
	for _, id := range g.SubnetIDs {
		if z := subnetAZ(g.Scope, id); !slices.Contains(zones, z) {
			zones = append(zones, z)
		}
	}
	slices.Sort(zones)
	if len(zones) == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = zones[i%len(zones)]
	}
	return out
}
