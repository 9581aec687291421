package catalog

import (
	"slices"
	"testing"
)

func TestMemcachedArgs(t *testing.T) {
	args, unsupported := MemcachedArgs(map[string]string{
		"max_item_size": "2097152", "cas_disabled": "1", "error_on_memory_exhausted": "0", "lru_crawler": "0",
		"hash_algorithm": "jenkins", "idle_timeout": "30", "memcached_connections_overhead": "200",
		"slab_chunk_max": "262144", "binding_protocol": "telnet",
	})
	want := []string{"-C", "-o", "hash_algorithm=jenkins", "-o", "idle_timeout=30", "-o", "no_lru_crawler", "-I", "2097152"}
	if !slices.Equal(args, want) {
		t.Errorf("args %q, want %q", args, want)
	}
	if !slices.Equal(unsupported, []string{"binding_protocol", "slab_chunk_max"}) {
		t.Errorf("unsupported %q", unsupported)
	}
	// The table names modifiable parameters of the family (no typo), and
	// takes each one's default value.
	f, _ := LookupFamily("memcached1.6")
	byName := map[string]Parameter{}
	for _, p := range f.Parameters {
		byName[p.Name] = p
	}
	for name, run := range memcachedFlags {
		p, ok := byName[name]
		if !ok || !p.IsModifiable {
			t.Errorf("%s is not a modifiable memcached1.6 parameter", name)
			continue
		}
		if _, ok := run(p.Default); !ok {
			t.Errorf("%s: its default %q is refused", name, p.Default)
		}
	}
}
