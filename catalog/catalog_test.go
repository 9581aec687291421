package catalog

import (
	"slices"
	"strings"
	"testing"
)

func TestNodeTypeMaxMemory(t *testing.T) {
	for _, c := range []struct {
		engine, nodeType string
		want             int64
		ok               bool
	}{
		// Values from ElastiCache's node-type specific parameter tables.
		{Redis, "cache.t4g.micro", 536870912, true},
		{Redis, "cache.r7g.large", 14037181030, true},
		{Redis, "cache.m4.xlarge", 15328501760, true},
		{Redis, "cache.t1.micro", 142606336, true},
		{Valkey, "cache.r8g.large", 15222495510, true},
		{Valkey, "cache.t1.micro", 0, false}, // previous generation: not in Valkey's table
		{Redis, "cache.r8g.large", 0, false}, // not in Redis OSS's table
		{Memcached, "cache.m5.large", 6537 << 20, true},
		{"REDIS", "cache.t3.small", 1471026299, true},
		{Redis, "cache.t4g.huge", 0, false},
		{"mysql", "cache.t4g.micro", 0, false},
	} {
		got, ok := MaxMemory(c.engine, c.nodeType)
		if got != c.want || ok != c.ok {
			t.Errorf("MaxMemory(%s, %s) = %d, %v; want %d, %v", c.engine, c.nodeType, got, ok, c.want, c.ok)
		}
	}
}

func TestNodeTypesWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, nt := range NodeTypes() {
		if seen[nt.Name] {
			t.Errorf("%s listed twice", nt.Name)
		}
		seen[nt.Name] = true
		_, r := nt.MaxMemory(Redis)
		_, v := nt.MaxMemory(Valkey)
		_, m := nt.MaxMemory(Memcached)
		if !r && !v && !m {
			t.Errorf("%s is offered by no engine", nt.Name)
		}
		if (nt.MemcachedMaxCacheMemoryMiB > 0) != (nt.MemcachedThreads > 0) {
			t.Errorf("%s: memcached memory and threads disagree", nt.Name)
		}
	}
	if len(seen) < 100 {
		t.Errorf("only %d node types", len(seen))
	}
}

func TestScaleModifications(t *testing.T) {
	up, down, ok := ScaleModifications(Redis, "cache.t4g.small")
	if !ok {
		t.Fatal("t4g.small unknown")
	}
	if !slices.Contains(up, "cache.r7g.large") || slices.Contains(up, "cache.t4g.small") || slices.Contains(up, "cache.t4g.micro") {
		t.Errorf("up = %v", up)
	}
	if !slices.Contains(down, "cache.t4g.micro") || slices.Contains(down, "cache.m1.small") {
		t.Errorf("down = %v (previous generation types are no targets)", down)
	}
	for _, n := range append(slices.Clone(up), down...) {
		if nt, _ := LookupNodeType(n); nt.DataTiering() {
			t.Errorf("%s: a data-tiering type is no target for a memory-only type", n)
		}
	}
	mem := func(n string) int64 { m, _ := MaxMemory(Redis, n); return m }
	for i := 1; i < len(up); i++ {
		if mem(up[i-1]) > mem(up[i]) {
			t.Errorf("up not ordered by memory at %s, %s", up[i-1], up[i])
		}
	}
	upT, downT, _ := ScaleModifications(Redis, "cache.r6gd.xlarge")
	if len(downT) != 0 || !slices.Contains(upT, "cache.r6gd.2xlarge") || slices.Contains(upT, "cache.r7g.2xlarge") {
		t.Errorf("r6gd.xlarge: up %v down %v", upT, downT)
	}
	if _, _, ok := ScaleModifications(Valkey, "cache.m1.small"); ok {
		t.Error("valkey on m1.small accepted")
	}
}

func TestEngineVersions(t *testing.T) {
	defaults := map[string]int{}
	for _, v := range EngineVersions() {
		f, ok := LookupFamily(v.CacheParameterGroupFamily)
		if !ok || f.Engine != v.Engine {
			t.Errorf("%s %s: family %s unknown or of another engine", v.Engine, v.EngineVersion, v.CacheParameterGroupFamily)
		}
		if v.Default {
			defaults[v.Engine]++
		}
	}
	for _, e := range []string{Redis, Valkey, Memcached} {
		if defaults[e] != 1 {
			t.Errorf("%s has %d default versions, want 1", e, defaults[e])
		}
	}
	if v, ok := LookupEngineVersion("Redis", "7.1"); !ok || v.CacheParameterGroupFamily != "redis7" {
		t.Errorf("redis 7.1 = %+v, %v", v, ok)
	}
	if v, ok := LookupEngineVersion(Valkey, "8.0"); !ok || v.CacheParameterGroupFamily != "valkey8" {
		t.Errorf("valkey 8.0 = %+v, %v", v, ok)
	}
	if _, ok := LookupEngineVersion(Redis, "9.9"); ok {
		t.Error("redis 9.9 found")
	}
}

func param(t *testing.T, family, name string) (Parameter, bool) {
	t.Helper()
	f, ok := LookupFamily(family)
	if !ok {
		t.Fatalf("family %s missing", family)
	}
	for _, p := range f.Parameters {
		if p.Name == name {
			return p, true
		}
	}
	return Parameter{}, false
}

func TestFamilies(t *testing.T) {
	for _, f := range Families() {
		if len(f.Parameters) == 0 {
			t.Errorf("%s has no parameters", f.Name)
		}
		if !slices.IsSortedFunc(f.Parameters, func(a, b Parameter) int { return cmpString(a.Name, b.Name) }) {
			t.Errorf("%s parameters not sorted", f.Name)
		}
		for _, p := range f.Parameters {
			if !p.Allowed(p.Default) && p.Default != "" && !strings.Contains(p.Note, "outside its values") {
				t.Errorf("%s %s: default %q not within %q", f.Name, p.Name, p.Default, p.AllowedValues)
			}
		}
	}
	// The documented changes, replayed.
	for _, c := range []struct {
		family, name string
		present      bool
	}{
		{"redis7", "hash-max-listpack-entries", true},
		{"redis7", "hash-max-ziplist-entries", false},
		{"redis7", "min-replicas-to-write", true},
		{"redis7", "min-slaves-to-write", false},
		{"redis6.x", "acl-pubsub-default", true},
		{"redis6.x", "lua-replicate-commands", false},
		{"redis5.0", "lua-replicate-commands", true},
		{"valkey7", "cluster-preferred-endpoint-type", true},
		{"valkey8", "lazyfree-lazy-eviction", false},
		{"valkey8", "extended-redis-compatibility", true},
		{"valkey9", "cluster-databases", true},
		{"memcached1.6", "no_modern", true},
		{"memcached1.6", "modern", false},
		{"memcached1.4", "modern", true},
	} {
		if _, ok := param(t, c.family, c.name); ok != c.present {
			t.Errorf("%s %s present = %v, want %v", c.family, c.name, ok, c.present)
		}
	}
	if p, _ := param(t, "redis7", "activerehashing"); p.IsModifiable {
		t.Error("redis7 activerehashing is modifiable; the documentation says no")
	}
	if p, _ := param(t, "valkey8", "repl-backlog-size"); p.Default != "10485760" {
		t.Errorf("valkey8 repl-backlog-size default %s", p.Default)
	}
	if p, _ := param(t, "redis7", "maxmemory-policy"); p.Default != "volatile-lru" || p.ChangeType != "immediate" || !p.Allowed("allkeys-lfu") || p.Allowed("lru") {
		t.Errorf("redis7 maxmemory-policy = %+v", p)
	}
	ps, _ := DefaultParameters("redis7", true)
	for _, p := range ps {
		if p.Name == "cluster-enabled" && p.Default != "yes" {
			t.Errorf("default.redis7.cluster.on cluster-enabled = %s", p.Default)
		}
	}
	if p, _ := param(t, "redis7", "cluster-enabled"); p.Default != "no" {
		t.Errorf("redis7 cluster-enabled = %s (DefaultParameters must not change the table)", p.Default)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestAllowed(t *testing.T) {
	for _, c := range []struct {
		typ, allowed, v string
		want            bool
	}{
		{"integer", "1-75", "1", true},
		{"integer", "1-75", "75", true},
		{"integer", "1-75", "76", false},
		{"integer", "1-75", "x", false},
		{"integer", "0-", "123456789012", true},
		{"integer", "0-", "-1", false},
		{"integer", "0,20-", "0", true},
		{"integer", "0,20-", "10", false},
		{"integer", "0,20-", "20", true},
		{"integer", "-5,-4,-3,-2,-1,1-", "-3", true},
		{"integer", "-5,-4,-3,-2,-1,1-", "0", false},
		{"integer", "-5,-4,-3,-2,-1,1-", "7", true},
		{"float", "1-2", "1.25", true},
		{"float", "1-2", "2.5", false},
		{"string", "yes,no", "yes", true},
		{"string", "yes,no", "YES", false},
		{"string", "", "anything", true},
	} {
		p := Parameter{DataType: c.typ, AllowedValues: c.allowed}
		if got := p.Allowed(c.v); got != c.want {
			t.Errorf("%s %q Allowed(%q) = %v", c.typ, c.allowed, c.v, got)
		}
	}
}
