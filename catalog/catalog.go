package catalog

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Engine names as the API spells them.
const (
	Redis     = "redis"
	Valkey    = "valkey"
	Memcached = "memcached"
)

// NodeType is one ElastiCache cache node type.
type NodeType struct {
	Name string
	// Current is false for the previous generation (t1, m1, m2, m3, c1, r3).
	Current bool
	// RedisMaxMemory and ValkeyMaxMemory are the maxmemory ElastiCache sets
	// on a node of this type, in bytes; 0 when the engine does not offer it.
	RedisMaxMemory  int64
	ValkeyMaxMemory int64
	// MemcachedMaxCacheMemoryMiB and MemcachedThreads are Memcached's
	// max_cache_memory (MiB) and num_threads; 0 when not offered.
	MemcachedMaxCacheMemoryMiB int64
	MemcachedThreads           int
}

// MaxMemory returns the memory ElastiCache gives a node of this type
// running engine, in bytes, and false when the engine does not offer it.
func (t NodeType) MaxMemory(engine string) (int64, bool) {
	var n int64
	switch strings.ToLower(engine) {
	case Redis:
		n = t.RedisMaxMemory
	case Valkey:
		n = t.ValkeyMaxMemory
	case Memcached:
		n = t.MemcachedMaxCacheMemoryMiB << 20
	}
	return n, n > 0
}

// DataTiering reports whether the type is a data-tiering (r6gd) type.
func (t NodeType) DataTiering() bool {
	family, _, _ := strings.Cut(strings.TrimPrefix(t.Name, "cache."), ".")
	return strings.HasSuffix(family, "gd")
}

// NodeTypes returns every node type, ordered by family and size.
func NodeTypes() []NodeType { return slices.Clone(nodeTypes) }

// LookupNodeType returns the node type called name.
func LookupNodeType(name string) (NodeType, bool) {
	for _, t := range nodeTypes {
		if t.Name == name {
			return t, true
		}
	}
	return NodeType{}, false
}

// MaxMemory returns the maxmemory of nodeType for engine, and false when
// keyward does not know the type or the engine does not offer it.
func MaxMemory(engine, nodeType string) (int64, bool) {
	t, ok := LookupNodeType(nodeType)
	if !ok {
		return 0, false
	}
	return t.MaxMemory(engine)
}

// ScaleModifications returns the node types a cache of engine on nodeType
// may move to, as ListAllowedNodeTypeModifications lists them: current
// generation types of the engine with more memory (up) and with less (down),
// each ordered by memory. Data-tiering types scale only among themselves.
// The rule is keyward's reading of ElastiCache's scaling documentation, not
// a published table. ok is false for an unknown type or engine.
func ScaleModifications(engine, nodeType string) (up, down []string, ok bool) {
	cur, ok := LookupNodeType(nodeType)
	if !ok {
		return nil, nil, false
	}
	mem, ok := cur.MaxMemory(engine)
	if !ok {
		return nil, nil, false
	}
	type cand struct {
		name string
		mem  int64
	}
	var ups, downs []cand
	for _, t := range nodeTypes {
		m, offered := t.MaxMemory(engine)
		if !offered || !t.Current || t.Name == cur.Name || t.DataTiering() != cur.DataTiering() {
			continue
		}
		switch {
		case m > mem:
			ups = append(ups, cand{t.Name, m})
		case m < mem:
			downs = append(downs, cand{t.Name, m})
		}
	}
	byMem := func(a, b cand) int { return cmp.Or(cmp.Compare(a.mem, b.mem), cmp.Compare(a.name, b.name)) }
	slices.SortStableFunc(ups, byMem)
	slices.SortStableFunc(downs, byMem)
	for _, c := range ups {
		up = append(up, c.name)
	}
	for _, c := range downs {
		down = append(down, c.name)
	}
	return up, down, true
}

// EngineVersion is one entry of DescribeCacheEngineVersions.
type EngineVersion struct {
	Engine                        string
	EngineVersion                 string
	CacheParameterGroupFamily     string
	CacheEngineDescription        string
	CacheEngineVersionDescription string
	// Default marks ElastiCache's default version of the engine (what its
	// DefaultOnly returns). keyward's DefaultOnly answers the version its
	// nodes run instead (package api, runningVersions).
	Default bool
}

// EngineVersions returns every engine version, in the order
// DescribeCacheEngineVersions lists them (by engine, then version).
func EngineVersions() []EngineVersion { return slices.Clone(engineVersions) }

// LookupEngineVersion returns the entry for engine at version, exactly as
// listed (for example "7.1", "6.2", "5.0.6", "1.6.22").
func LookupEngineVersion(engine, version string) (EngineVersion, bool) {
	for _, v := range engineVersions {
		if v.Engine == strings.ToLower(engine) && v.EngineVersion == version {
			return v, true
		}
	}
	return EngineVersion{}, false
}

// DefaultEngineVersion returns the engine's default version entry.
func DefaultEngineVersion(engine string) (EngineVersion, bool) {
	for _, v := range engineVersions {
		if v.Engine == strings.ToLower(engine) && v.Default {
			return v, true
		}
	}
	return EngineVersion{}, false
}

// Parameter is one parameter of a family, as DescribeEngineDefaultParameters
// reports it (Source "system" for the defaults).
type Parameter struct {
	Name                 string
	DataType             string // string, integer, boolean or float
	Default              string
	AllowedValues        string // ElastiCache's form: "yes,no", "1-75", "0-"; empty: any
	IsModifiable         bool
	ChangeType           string // immediate or requires-reboot
	MinimumEngineVersion string
	// Note says what the documentation adds, or what keyward inferred.
	Note string
}

// Family is a cache parameter group family and its parameters.
type Family struct {
	Name       string
	Engine     string
	Parameters []Parameter // ordered by name
}

// Families returns every family.
func Families() []Family { return slices.Clone(families) }

// LookupFamily returns the family called name (for example "redis7").
func LookupFamily(name string) (Family, bool) {
	for _, f := range families {
		if f.Name == name {
			f.Parameters = slices.Clone(f.Parameters)
			return f, true
		}
	}
	return Family{}, false
}

// DefaultParameters returns the parameters of family's default group:
// default.<family>, or default.<family>.cluster.on when clusterOn, which
// differs in cluster-enabled alone.
func DefaultParameters(family string, clusterOn bool) ([]Parameter, bool) {
	f, ok := LookupFamily(family)
	if !ok {
		return nil, false
	}
	for i := range f.Parameters {
		if f.Parameters[i].Name == "cluster-enabled" && clusterOn {
			f.Parameters[i].Default = "yes"
		}
	}
	return f.Parameters, true
}

// Allowed reports whether value is one of p's allowed values: a listed
// literal, or a number within a listed range ("1-75", "0-" for no upper
// bound). Everything is allowed when AllowedValues is empty.
func (p Parameter) Allowed(value string) bool {
	if p.AllowedValues == "" {
		return true
	}
	numeric := p.DataType == "integer" || p.DataType == "float"
	var x float64
	if numeric {
		var err error
		if p.DataType == "integer" {
			var n int64
			n, err = strconv.ParseInt(value, 10, 64)
			x = float64(n)
		} else {
			x, err = strconv.ParseFloat(value, 64)
		}
		if err != nil {
			return false
		}
	}
	for _, tok := range strings.Split(p.AllowedValues, ",") {
		if tok == value {
			return true
		}
		if !numeric {
			continue
		}
		lo, hi, ok := splitRange(tok)
		if ok && x >= lo && x <= hi {
			return true
		}
	}
	return false
}

// splitRange parses "a-b" or "a-" (a and b numbers, either may be negative).
func splitRange(tok string) (lo, hi float64, ok bool) {
	// The separator is the first '-' after the first character, so that a
	// leading minus sign belongs to the lower bound.
	i := strings.IndexByte(tok[min(1, len(tok)):], '-')
	if i < 0 {
		return 0, 0, false
	}
	i++
	lo, err := strconv.ParseFloat(tok[:i], 64)
	if err != nil {
		return 0, 0, false
	}
	if tok[i+1:] == "" {
		return lo, 1 << 62, true
	}
	hi, err = strconv.ParseFloat(tok[i+1:], 64)
	return lo, hi, err == nil
}

// AppliedAtBoot reports whether a parameter group's value of p reaches a
// Redis node only when the node's process starts: a modifiable
// requires-reboot parameter (databases, acl-pubsub-default). Cluster
// settings are not: keyward decides them when the cache is created.
func (p Parameter) AppliedAtBoot() bool {
	return p.IsModifiable && p.ChangeType == "requires-reboot" && !strings.HasPrefix(p.Name, "cluster-")
}

// BootValues returns the values, among a parameter group's values (name →
// value), of the family's parameters applied at boot (AppliedAtBoot); nil
// when there are none.
func (f Family) BootValues(values map[string]string) map[string]string {
	var out map[string]string
	for _, p := range f.Parameters {
		if v, ok := values[p.Name]; ok && p.AppliedAtBoot() {
			if out == nil {
				out = map[string]string{}
			}
			out[p.Name] = v
		}
	}
	return out
}

// BootFingerprint is a stable text for a set of boot values, "" for none:
// a node records the one it started with, and is pending-reboot while its
// parameter group's differs.
func BootFingerprint(values map[string]string) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + strconv.Quote(values[k]) + ";")
	}
	return b.String()
}
