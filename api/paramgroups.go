package api

import (
	"context"
	"maps"
	"slices"
	"strings"

	"keyward"
	"keyward/catalog"
	"keyward/ecapi"
)

// Cache parameter groups: user groups are stored documents holding the
// values the user set; the default.<family> (and, for Redis OSS 3.2 and
// later and Valkey, default.<family>.cluster.on) groups are built in, the
// same in every scope, and cannot be changed or deleted.

// maxParameterGroups is ElastiCache's default quota of parameter groups
// per region; maxModifyParameters its limit per ModifyCacheParameterGroup.
const (
	maxParameterGroups  = 150
	maxModifyParameters = 20
)

// paramGroup is a parameter group as the API shows it.
type paramGroup struct {
	name, family, description string
	values                    map[string]string // user-set values
	builtIn, clusterOn        bool
}

// defaultParamGroups lists the built-in groups, by name.
func defaultParamGroups() []paramGroup {
	var out []paramGroup
	for _, f := range catalog.Families() {
		out = append(out, paramGroup{name: "default." + f.Name, family: f.Name, description: "Default parameter group for " + f.Name, builtIn: true})
		if f.Engine != catalog.Memcached && f.Name != "redis2.6" && f.Name != "redis2.8" {
			out = append(out, paramGroup{name: "default." + f.Name + ".cluster.on", family: f.Name, description: "Customized default parameter group for " + f.Name + " with cluster mode on", builtIn: true, clusterOn: true})
		}
	}
	slices.SortFunc(out, func(a, b paramGroup) int { return strings.Compare(a.name, b.name) })
	return out
}

func storedParamGroup(g *keyward.CacheParameterGroup) paramGroup {
	return paramGroup{name: g.ID, family: g.Family, description: g.Description, values: g.Values}
}

func paramGroupNotFound(name string) error {
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceCacheParameterGroup, "CacheParameterGroup %s not found.", name)
}

// findParamGroup returns the built-in or stored group called name.
func findParamGroup(ctx context.Context, tx keyward.Tx, sc keyward.Scope, name string) (paramGroup, *keyward.CacheParameterGroup, error) {
	name = strings.ToLower(name)
	for _, d := range defaultParamGroups() {
		if d.name == name {
			return d, nil, nil
		}
	}
	g, err := keyward.CacheParameterGroups.Get(ctx, tx, sc, name)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return paramGroup{}, nil, paramGroupNotFound(name)
	} else if err != nil {
		return paramGroup{}, nil, err
	}
	return storedParamGroup(g), g, nil
}

func (g paramGroup) toAPI(sc keyward.Scope) *ecapi.CacheParameterGroup {
	return &ecapi.CacheParameterGroup{
		CacheParameterGroupName: ptr(g.name), CacheParameterGroupFamily: ptr(g.family), Description: ptr(g.description),
		IsGlobal: ptr(false), ARN: ptr(sc.ARN(keyward.ARNParameterGroup, g.name)),
	}
}

// CreateCacheParameterGroup creates a group of a family, with the family's
// defaults.
func (s *Service) CreateCacheParameterGroup(ctx context.Context, in *ecapi.CreateCacheParameterGroupMessage) (*ecapi.CreateCacheParameterGroupResult, error) {
	out, err := s.createCacheParameterGroup(ctx, in)
	return out, apiError(err)
}

func (s *Service) createCacheParameterGroup(ctx context.Context, in *ecapi.CreateCacheParameterGroupMessage) (*ecapi.CreateCacheParameterGroupResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	name, err := keyward.NormalizeGroupName(keyward.ResourceCacheParameterGroup, deref(in.CacheParameterGroupName))
	if err != nil {
		return nil, err
	}
	f, err := lookupFamily(deref(in.CacheParameterGroupFamily))
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(deref(in.Description)) == "" {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceCacheParameterGroup, "The parameter Description must be provided and must not be blank.")
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	g := &keyward.CacheParameterGroup{Scope: sc, ID: name, Family: f.Name, Description: deref(in.Description)}
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		n, err := keyward.CacheParameterGroups.Count(ctx, tx, sc)
		if err != nil {
			return err
		}
		if n >= maxParameterGroups {
			return keyward.Errorf(keyward.EQUOTA, keyward.ResourceCacheParameterGroup, "You have reached the maximum of %d cache parameter groups.", maxParameterGroups)
		}
		if err := keyward.CacheParameterGroups.Create(ctx, tx, g); keyward.ErrorCode(err) == keyward.EEXISTS {
			return keyward.Errorf(keyward.EEXISTS, keyward.ResourceCacheParameterGroup, "Parameter group %s already exists.", name)
		} else if err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNParameterGroup, ID: name}, tags)
	})
	if err != nil {
		return nil, err
	}
	return &ecapi.CreateCacheParameterGroupResult{CacheParameterGroup: storedParamGroup(g).toAPI(sc)}, nil
}

// DescribeCacheParameterGroups lists the built-in and the caller's groups
// by name, or the one named.
func (s *Service) DescribeCacheParameterGroups(ctx context.Context, in *ecapi.DescribeCacheParameterGroupsMessage) (*ecapi.CacheParameterGroupsMessage, error) {
	out, err := s.describeCacheParameterGroups(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeCacheParameterGroups(ctx context.Context, in *ecapi.DescribeCacheParameterGroupsMessage) (*ecapi.CacheParameterGroupsMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	p, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "%s", keyward.ErrorMessage(err))
	}
	var groups []paramGroup
	err = s.Store.View(ctx, func(tx keyward.Tx) error {
		if in.CacheParameterGroupName != nil {
			g, _, err := findParamGroup(ctx, tx, sc, *in.CacheParameterGroupName)
			groups = []paramGroup{g}
			return err
		}
		stored, err := keyward.CacheParameterGroups.Find(ctx, tx, keyward.DocQuery{Scope: sc})
		if err != nil {
			return err
		}
		groups = defaultParamGroups()
		for _, g := range stored {
			groups = append(groups, storedParamGroup(g))
		}
		slices.SortFunc(groups, func(a, b paramGroup) int { return strings.Compare(a.name, b.name) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &ecapi.CacheParameterGroupsMessage{CacheParameterGroups: []ecapi.CacheParameterGroup{}}
	for _, g := range groups {
		if g.name <= p.after {
			continue
		}
		if len(out.CacheParameterGroups) == p.max {
			out.Marker = ptr(encodeMarker(*out.CacheParameterGroups[p.max-1].CacheParameterGroupName))
			break
		}
		out.CacheParameterGroups = append(out.CacheParameterGroups, *g.toAPI(sc))
	}
	return out, nil
}

// DescribeCacheParameters lists a group's parameters, with the user's
// values (Source "user") and the family's defaults (Source "system").
func (s *Service) DescribeCacheParameters(ctx context.Context, in *ecapi.DescribeCacheParametersMessage) (*ecapi.CacheParameterGroupDetails, error) {
	out, err := s.describeCacheParameters(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeCacheParameters(ctx context.Context, in *ecapi.DescribeCacheParametersMessage) (*ecapi.CacheParameterGroupDetails, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	p, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "%s", keyward.ErrorMessage(err))
	}
	source := deref(in.Source)
	switch source {
	case "", "user", "system", "engine-default":
	default:
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid source %s: valid sources are user, system and engine-default.", source)
	}
	var g paramGroup
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		g, _, err = findParamGroup(ctx, tx, sc, deref(in.CacheParameterGroupName))
		return err
	})
	if err != nil {
		return nil, err
	}
	f, err := lookupFamily(g.family)
	if err != nil {
		return nil, err
	}
	defaults, _ := catalog.DefaultParameters(f.Name, g.clusterOn)
	var shown []ecapi.Parameter
	for _, q := range defaults {
		value, src := q.Default, "system"
		if v, ok := g.values[q.Name]; ok {
			value, src = v, "user"
		}
		if source == "" || source == src {
			shown = append(shown, parameterToAPI(q, value, src))
		}
	}
	items, next, err := pageOf(shown, func(p ecapi.Parameter) string { return *p.ParameterName }, p)
	if err != nil {
		return nil, err
	}
	out := &ecapi.CacheParameterGroupDetails{Parameters: nonNilParams(items), Marker: next}
	if p.after == "" && (source == "" || source == "system") {
		out.CacheNodeTypeSpecificParameters = nodeTypeSpecific(f)
	}
	return out, nil
}

func nonNilParams(p []ecapi.Parameter) []ecapi.Parameter {
	if p == nil {
		return []ecapi.Parameter{}
	}
	return p
}

// userParamGroup loads a stored group for a change: built-in groups cannot
// be changed.
func userParamGroup(ctx context.Context, tx keyward.Tx, sc keyward.Scope, name, verb string) (*keyward.CacheParameterGroup, error) {
	g, stored, err := findParamGroup(ctx, tx, sc, name)
	if err != nil {
		return nil, err
	}
	if g.builtIn {
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheParameterGroup, "The default parameter group %s cannot be %s.", g.name, verb)
	}
	return stored, nil
}

// checkParameterNames returns the family's parameters named in nv, or
// InvalidParameterValue for a name the family does not have.
func checkParameterNames(family string, nv []ecapi.ParameterNameValue) (map[string]catalog.Parameter, error) {
	f, err := lookupFamily(family)
	if err != nil {
		return nil, err
	}
	out := map[string]catalog.Parameter{}
	for _, x := range nv {
		name := deref(x.ParameterName)
		i := slices.IndexFunc(f.Parameters, func(p catalog.Parameter) bool { return p.Name == name })
		if i < 0 {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceCacheParameterGroup, "Unknown parameter %s for parameter group family %s.", name, family)
		}
		out[name] = f.Parameters[i]
	}
	return out, nil
}

// ModifyCacheParameterGroup sets up to 20 parameters of a user group, each
// modifiable and within its allowed values.
func (s *Service) ModifyCacheParameterGroup(ctx context.Context, in *ecapi.ModifyCacheParameterGroupMessage) (*ecapi.CacheParameterGroupNameMessage, error) {
	out, err := s.changeParamGroup(ctx, deref(in.CacheParameterGroupName), "modified", func(g *keyward.CacheParameterGroup) error {
		if len(in.ParameterNameValues) == 0 {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceCacheParameterGroup, "The parameter ParameterNameValues must be provided and must not be empty.")
		}
		if len(in.ParameterNameValues) > maxModifyParameters {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceCacheParameterGroup, "A maximum of %d parameters can be modified in a single request.", maxModifyParameters)
		}
		params, err := checkParameterNames(g.Family, in.ParameterNameValues)
		if err != nil {
			return err
		}
		values := maps.Clone(g.Values)
		if values == nil {
			values = map[string]string{}
		}
		for _, x := range in.ParameterNameValues {
			name, value := deref(x.ParameterName), deref(x.ParameterValue)
			q := params[name]
			if !q.IsModifiable {
				return keyward.Errorf(keyward.EINVALID, keyward.ResourceCacheParameterGroup, "Parameter %s is not modifiable.", name)
			}
			if x.ParameterValue == nil || !q.Allowed(value) {
				return keyward.Errorf(keyward.EINVALID, keyward.ResourceCacheParameterGroup, "Invalid value %q for parameter %s; allowed values: %s.", truncate(value, 64), name, q.AllowedValues)
			}
			values[name] = value
		}
		g.Values = values
		return nil
	})
	return out, apiError(err)
}

// ResetCacheParameterGroup returns all, or the named, parameters of a user
// group to the family's defaults.
func (s *Service) ResetCacheParameterGroup(ctx context.Context, in *ecapi.ResetCacheParameterGroupMessage) (*ecapi.CacheParameterGroupNameMessage, error) {
	out, err := s.changeParamGroup(ctx, deref(in.CacheParameterGroupName), "reset", func(g *keyward.CacheParameterGroup) error {
		all := deref(in.ResetAllParameters)
		if all == (len(in.ParameterNameValues) > 0) {
			return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceCacheParameterGroup, "Either ResetAllParameters or ParameterNameValues must be given, but not both.")
		}
		if all {
			g.Values = nil
			return nil
		}
		if _, err := checkParameterNames(g.Family, in.ParameterNameValues); err != nil {
			return err
		}
		values := maps.Clone(g.Values)
		for _, x := range in.ParameterNameValues {
			delete(values, deref(x.ParameterName))
		}
		g.Values = values
		return nil
	})
	return out, apiError(err)
}

func (s *Service) changeParamGroup(ctx context.Context, name, verb string, change func(*keyward.CacheParameterGroup) error) (*ecapi.CacheParameterGroupNameMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	var g *keyward.CacheParameterGroup
	var users []keyward.Key
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		if g, err = userParamGroup(ctx, tx, sc, name, verb); err != nil {
			return err
		}
		if err := change(g); err != nil {
			return err
		}
		if users, err = keyward.CachesUsing(ctx, tx, sc, g.ID); err != nil {
			return err
		}
		// Memcached clusters run every value of their group (memcachedRuns).
		if strings.HasPrefix(g.Family, "memcached") && len(users) > 0 {
			if _, unsupported := catalog.MemcachedArgs(g.Values); len(unsupported) > 0 {
				return combination("keyward cannot run the parameters %s on memcached nodes, and parameter group %s is in use.", strings.Join(unsupported, ", "), g.ID)
			}
		}
		return keyward.CacheParameterGroups.Update(ctx, tx, g)
	})
	if err != nil {
		return nil, err
	}
	// Every cache using the group gets the new values on its nodes.
	s.notify(users...)
	return &ecapi.CacheParameterGroupNameMessage{CacheParameterGroupName: ptr(g.ID)}, nil
}

// DeleteCacheParameterGroup deletes a user group and its tags.
func (s *Service) DeleteCacheParameterGroup(ctx context.Context, in *ecapi.DeleteCacheParameterGroupMessage) error {
	sc, err := s.scope(ctx)
	if err != nil {
		return apiError(err)
	}
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		g, err := userParamGroup(ctx, tx, sc, deref(in.CacheParameterGroupName), "deleted")
		if err != nil {
			return err
		}
		return keyward.CacheParameterGroups.Delete(ctx, tx, sc, g.ID)
	})
	return apiError(err)
}

// truncate shortens what an error message echoes back.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
