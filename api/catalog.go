package api

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"keyward"
	"keyward/catalog"
	"keyward/ecapi"
)

// The read-only catalogue operations answer from package catalog:
// ElastiCache's published engine versions, parameter families and node
// types, the same in every account and region.

// pageOf returns the items of a fixed, ordered list that follow the marked
// one: markers of these lists carry the key of the last item shown.
func pageOf[T any](items []T, key func(T) string, p page) (out []T, next *string, err error) {
	start := 0
	if p.after != "" {
		i := slices.IndexFunc(items, func(x T) bool { return key(x) == p.after })
		if i < 0 {
			return nil, nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid marker.")
		}
		start = i + 1
	}
	out = items[start:]
	if len(out) > p.max {
		out = out[:p.max]
		next = ptr(encodeMarker(key(out[len(out)-1])))
	}
	return out, next, nil
}

// runningVersions are the entries DefaultOnly answers: for each engine,
// the version keyward's nodes run, which is what a create that names no
// version gets (checkEngineVersion also accepts redis 7.1, which the same
// nodes serve: servedVersions). ElastiCache's other defaults (valkey 8.2,
// memcached 1.6.22) are versions keyward cannot run, so a stack that feeds
// the default into a create would fail; the full list stays ElastiCache's. memcached 1.6.18
// (Debian's) is not in ElastiCache's list: its entry is keyward's, in the
// family of its minor version.
func runningVersions() []catalog.EngineVersion {
	var out []catalog.EngineVersion
	for _, ev := range []struct {
		engine  keyward.Engine
		version string
	}{ // the catalogue's order
		{keyward.EngineRedis, defaultEngineVersion(keyward.EngineRedis)},
		{keyward.EngineValkey, defaultEngineVersion(keyward.EngineValkey)},
		{keyward.EngineMemcached, memcachedVersion},
	} {
		v, ok := catalog.LookupEngineVersion(string(ev.engine), ev.version)
		if !ok {
			minor := ev.version[:strings.LastIndex(ev.version, ".")]
			for _, c := range catalog.EngineVersions() {
				if c.Engine == string(ev.engine) && strings.HasPrefix(c.EngineVersion, minor+".") {
					v = c // the family and engine description of the minor version
				}
			}
			v.Engine, v.EngineVersion = string(ev.engine), ev.version
			v.CacheEngineVersionDescription = string(ev.engine) + " version " + ev.version
		}
		v.Default = true
		out = append(out, v)
	}
	return out
}

// DescribeCacheEngineVersions lists ElastiCache's engine versions, filtered
// by Engine, EngineVersion and CacheParameterGroupFamily; with DefaultOnly,
// the versions keyward's nodes run (runningVersions), filtered the same way.
func (s *Service) DescribeCacheEngineVersions(ctx context.Context, in *ecapi.DescribeCacheEngineVersionsMessage) (*ecapi.CacheEngineVersionMessage, error) {
	if _, err := s.scope(ctx); err != nil {
		return nil, apiError(err)
	}
	p, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, apiError(err)
	}
	all := catalog.EngineVersions()
	if deref(in.DefaultOnly) {
		all = runningVersions()
	}
	var match []catalog.EngineVersion
	for _, v := range all {
		if (in.Engine != nil && !strings.EqualFold(*in.Engine, v.Engine)) ||
			(in.EngineVersion != nil && *in.EngineVersion != v.EngineVersion) ||
			(in.CacheParameterGroupFamily != nil && *in.CacheParameterGroupFamily != v.CacheParameterGroupFamily) {
			continue
		}
		match = append(match, v)
	}
	items, next, err := pageOf(match, func(v catalog.EngineVersion) string { return v.Engine + "/" + v.EngineVersion }, p)
	if err != nil {
		return nil, apiError(err)
	}
	out := &ecapi.CacheEngineVersionMessage{CacheEngineVersions: []ecapi.CacheEngineVersion{}, Marker: next}
	for _, v := range items {
		out.CacheEngineVersions = append(out.CacheEngineVersions, ecapi.CacheEngineVersion{
			Engine: ptr(v.Engine), EngineVersion: ptr(v.EngineVersion), CacheParameterGroupFamily: ptr(v.CacheParameterGroupFamily),
			CacheEngineDescription: ptr(v.CacheEngineDescription), CacheEngineVersionDescription: ptr(v.CacheEngineVersionDescription),
		})
	}
	return out, nil
}

// lookupFamily returns the family or ElastiCache's InvalidParameterValue.
func lookupFamily(name string) (catalog.Family, error) {
	f, ok := catalog.LookupFamily(name)
	if !ok {
		return f, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid parameter group family: %s.", name)
	}
	return f, nil
}

// parameterToAPI converts a catalogue parameter with its value and source.
func parameterToAPI(p catalog.Parameter, value, source string) ecapi.Parameter {
	out := ecapi.Parameter{
		ParameterName: ptr(p.Name), Source: ptr(source), DataType: ptr(p.DataType), IsModifiable: ptr(p.IsModifiable),
		MinimumEngineVersion: ptr(p.MinimumEngineVersion), ChangeType: ptr(p.ChangeType),
	}
	if value != "" {
		out.ParameterValue = ptr(value)
	}
	if p.AllowedValues != "" {
		out.AllowedValues = ptr(p.AllowedValues)
	}
	return out
}

// nodeTypeSpecific returns the parameters whose value depends on the node
// type, with every type's value for the family's engine.
func nodeTypeSpecific(f catalog.Family) []ecapi.CacheNodeTypeSpecificParameter {
	minVersion := "2.6.13"
	names := []string{"maxmemory"}
	if f.Engine == catalog.Memcached {
		minVersion, names = "1.4.5", []string{"max_cache_memory", "num_threads"}
	}
	var out []ecapi.CacheNodeTypeSpecificParameter
	for _, name := range names {
		p := ecapi.CacheNodeTypeSpecificParameter{
			ParameterName: ptr(name), Source: ptr("system"), DataType: ptr("integer"), IsModifiable: ptr(false),
			MinimumEngineVersion: ptr(minVersion), ChangeType: ptr("requires-reboot"),
			CacheNodeTypeSpecificValues: []ecapi.CacheNodeTypeSpecificValue{},
		}
		for _, t := range catalog.NodeTypes() {
			v := int64(0)
			switch name {
			case "maxmemory":
				v, _ = t.MaxMemory(f.Engine)
			case "max_cache_memory":
				v = t.MemcachedMaxCacheMemoryMiB
			case "num_threads":
				v = int64(t.MemcachedThreads)
			}
			if v > 0 {
				p.CacheNodeTypeSpecificValues = append(p.CacheNodeTypeSpecificValues, ecapi.CacheNodeTypeSpecificValue{
					CacheNodeType: ptr(t.Name), Value: ptr(strconv.FormatInt(v, 10)),
				})
			}
		}
		out = append(out, p)
	}
	return out
}

// DescribeEngineDefaultParameters lists a family's default parameters, by
// name; the node-type specific ones come with the first page.
func (s *Service) DescribeEngineDefaultParameters(ctx context.Context, in *ecapi.DescribeEngineDefaultParametersMessage) (*ecapi.DescribeEngineDefaultParametersResult, error) {
	if _, err := s.scope(ctx); err != nil {
		return nil, apiError(err)
	}
	p, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, apiError(err)
	}
	f, err := lookupFamily(deref(in.CacheParameterGroupFamily))
	if err != nil {
		return nil, apiError(err)
	}
	items, next, err := pageOf(f.Parameters, func(p catalog.Parameter) string { return p.Name }, p)
	if err != nil {
		return nil, apiError(err)
	}
	d := &ecapi.EngineDefaults{CacheParameterGroupFamily: ptr(f.Name), Marker: next, Parameters: []ecapi.Parameter{}}
	for _, q := range items {
		d.Parameters = append(d.Parameters, parameterToAPI(q, q.Default, "system"))
	}
	if p.after == "" {
		d.CacheNodeTypeSpecificParameters = nodeTypeSpecific(f)
	}
	return &ecapi.DescribeEngineDefaultParametersResult{EngineDefaults: d}, nil
}

// ListAllowedNodeTypeModifications lists the node types a replication
// group (or the group of a member cluster) can scale to.
func (s *Service) ListAllowedNodeTypeModifications(ctx context.Context, in *ecapi.ListAllowedNodeTypeModificationsMessage) (*ecapi.AllowedNodeTypeModificationsMessage, error) {
	out, err := s.listAllowedNodeTypeModifications(ctx, in)
	return out, apiError(err)
}

func (s *Service) listAllowedNodeTypeModifications(ctx context.Context, in *ecapi.ListAllowedNodeTypeModificationsMessage) (*ecapi.AllowedNodeTypeModificationsMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	rgID, clusterID := strings.ToLower(deref(in.ReplicationGroupId)), strings.ToLower(deref(in.CacheClusterId))
	if (rgID == "") == (clusterID == "") {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, "Either CacheClusterId or ReplicationGroupId must be provided, but not both.")
	}
	var c *keyward.Cache
	err = s.Store.View(ctx, func(tx keyward.Tx) error {
		if rgID != "" {
			c, err = tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, rgID)
			if keyward.ErrorCode(err) == keyward.ENOTFOUND {
				return notFound(keyward.KindReplicationGroup, rgID)
			}
			return err
		}
		caches, err := tx.FindCaches(ctx, sc, keyward.KindReplicationGroup, keyward.CacheFilter{})
		if err != nil {
			return err
		}
		for _, x := range caches {
			if slices.ContainsFunc(x.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == clusterID }) {
				c = x
				return nil
			}
		}
		return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceCacheCluster, "CacheCluster %s not found.", clusterID)
	})
	if err != nil {
		return nil, err
	}
	up, down, _ := catalog.ScaleModifications(string(c.Engine), c.CacheNodeType)
	return &ecapi.AllowedNodeTypeModificationsMessage{ScaleUpModifications: nonNil(up), ScaleDownModifications: nonNil(down)}, nil
}

// reportedEngineVersion is the patch version ElastiCache shows where a
// running node's version is reported (DescribeCacheClusters, snapshots,
// global groups): a group created with "7.0" shows "7.0.7", the patch its
// nodes run. keyward stores the catalogue's major.minor entry; the patch is
// the one that entry's CacheEngineVersionDescription names ("redis version
// 7.0.7"), so the answer is always a version ElastiCache's catalogue offers.
// The local redis-server (Debian's 7.0.15) is a later patch of the same
// minor line, which ElastiCache does not list: reporting it would name a
// version no ElastiCache client can ask for. Versions already carrying a
// patch (memcached's) are returned as they are.
func reportedEngineVersion(engine keyward.Engine, version string) string {
	v, ok := catalog.LookupEngineVersion(string(engine), version)
	if !ok {
		return version
	}
	patch, found := strings.CutPrefix(v.CacheEngineVersionDescription, string(engine)+" version ")
	if !found || !strings.HasPrefix(patch, version+".") {
		return version
	}
	return patch
}
