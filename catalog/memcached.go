package catalog

import (
	"slices"
	"strings"
)

// memcachedFlags maps ElastiCache's modifiable Memcached parameters to the
// memcached (1.6) command-line arguments that run a value, checked against
// memcached 1.6.18's `stats settings`. A value the function does not take
// (false) cannot be run. Parameters that size ElastiCache's own service
// (memcached_connections_overhead) run nothing on the engine.
var memcachedFlags = map[string]func(v string) ([]string, bool){
	"binding_protocol":               oneOf("-B", "ascii", "auto", "binary"),
	"cas_disabled":                   flagIf("-C"),
	"chunk_size":                     withValue("-n"),
	"chunk_size_growth_factor":       withValue("-f"),
	"error_on_memory_exhausted":      flagIf("-M"),
	"max_item_size":                  withValue("-I"),
	"maximize_core_file_limit":       flagIf("-r"),
	"disable_flush_all":              flagIf("-F"),
	"maxconns_fast":                  extendedSwitch("maxconns_fast"),
	"lru_crawler":                    extendedSwitch("lru_crawler"),
	"lru_maintainer":                 extendedSwitch("lru_maintainer"),
	"slab_reassign":                  extendedSwitch("slab_reassign"),
	"hash_algorithm":                 extendedOneOf("hash_algorithm", "jenkins", "murmur3"),
	"idle_timeout":                   extendedValue("idle_timeout"),
	"slab_automove":                  extendedOneOf("slab_automove", "0", "1", "2"),
	"memcached_connections_overhead": func(string) ([]string, bool) { return nil, true },
}

// MemcachedArgs returns the memcached arguments that run a parameter
// group's values (name → value, the ones the user set), in name order, and
// the names of the values keyward cannot run (sorted): a group setting any
// of those is not applied to a Memcached node.
func MemcachedArgs(values map[string]string) (args, unsupported []string) {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f, ok := memcachedFlags[n]
		if !ok {
			unsupported = append(unsupported, n)
			continue
		}
		a, ok := f(values[n])
		if !ok {
			unsupported = append(unsupported, n)
			continue
		}
		args = append(args, a...)
	}
	return args, unsupported
}

func withValue(flag string) func(string) ([]string, bool) {
	return func(v string) ([]string, bool) { return []string{flag, v}, v != "" && !strings.HasPrefix(v, "-") }
}

func oneOf(flag string, allowed ...string) func(string) ([]string, bool) {
	return func(v string) ([]string, bool) { return []string{flag, v}, slices.Contains(allowed, v) }
}

// flagIf is a boolean parameter ("0"/"1") that a flag turns on.
func flagIf(flag string) func(string) ([]string, bool) {
	return func(v string) ([]string, bool) {
		switch v {
		case "1":
			return []string{flag}, true
		case "0":
			return nil, true
		}
		return nil, false
	}
}

// extendedSwitch is a boolean parameter run as -o name or -o no_name.
func extendedSwitch(name string) func(string) ([]string, bool) {
	return func(v string) ([]string, bool) {
		switch v {
		case "1":
			return []string{"-o", name}, true
		case "0":
			return []string{"-o", "no_" + name}, true
		}
		return nil, false
	}
}

func extendedOneOf(name string, allowed ...string) func(string) ([]string, bool) {
	return func(v string) ([]string, bool) { return []string{"-o", name + "=" + v}, slices.Contains(allowed, v) }
}

func extendedValue(name string) func(string) ([]string, bool) {
	return func(v string) ([]string, bool) {
		return []string{"-o", name + "=" + v}, v != "" && !strings.ContainsAny(v, ", =")
	}
}
