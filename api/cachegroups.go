package api

import (
	"context"
	"strings"

	"keyward"
	"keyward/catalog"
	"keyward/ecapi"
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

// shownParameterGroup is the group a cache reports: its own, or the
// family's default.
func shownParameterGroup(c *keyward.Cache) string {
	if c.CacheParameterGroupName != "" {
		return c.CacheParameterGroupName
	}
	if f := familyOf(c.Engine, c.EngineVersion); f != "" {
		return "default." + f
	}
	return ""
}

func shownSubnetGroup(c *keyward.Cache) string {
	if c.CacheSubnetGroupName != "" {
		return c.CacheSubnetGroupName
	}
	return keyward.DefaultSubnetGroup
}

// parameterGroupStatus is a member cluster's CacheParameterGroup.
func parameterGroupStatus(c *keyward.Cache) *ecapi.CacheParameterGroupStatus {
	name := shownParameterGroup(c)
	if name == "" {
		return nil
	}
	return &ecapi.CacheParameterGroupStatus{CacheParameterGroupName: ptr(name), ParameterApplyStatus: ptr("in-sync"), CacheNodeIdsToReboot: []string{}}
}

// useParameterGroup checks that a cache of c's engine and version may use
// the parameter group called name: it exists, it is of the version's
// family, and it does not turn cluster mode on (keyward's replication
// groups are cluster-mode disabled). It returns the lower-cased name.
func useParameterGroup(ctx context.Context, tx keyward.Tx, sc keyward.Scope, c *keyward.Cache, name string) (string, error) {
	g, _, err := findParamGroup(ctx, tx, sc, name)
	if err != nil {
		return "", err
	}
	if f := familyOf(c.Engine, c.EngineVersion); f != "" && f != g.family {
		return "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceCacheParameterGroup, "The parameter group %s is of family %s, and %s %s needs family %s.", g.name, g.family, c.Engine, c.EngineVersion, f)
	}
	clusterOn := g.clusterOn || g.values["cluster-enabled"] == "yes"
	if clusterOn {
		return "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceCacheParameterGroup, "Parameter group %s has cluster-enabled yes; keyward supports cluster-mode-disabled replication groups only.", g.name)
	}
	if g.builtIn {
		return "", nil // the default: nothing to refer to
	}
	return g.name, nil
}

// useSubnetGroup checks that the subnet group exists and returns its name.
func useSubnetGroup(ctx context.Context, tx keyward.Tx, sc keyward.Scope, name string) (string, error) {
	g, err := findSubnetGroup(ctx, tx, sc, name)
	if err != nil {
		return "", err
	}
	if g.ID == keyward.DefaultSubnetGroup {
		return "", nil
	}
	return g.ID, nil
}
