package api

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"keyward"
	"keyward/catalog"
)

// checkNodeType refuses a node type that ElastiCache does not offer for
// engine, with ElastiCache's error: keyward sizes every node's maxmemory
// from its type, so an unknown type would be a node without a limit.
func checkNodeType(engine keyward.Engine, nodeType string) error {
	if _, ok := catalog.MaxMemory(string(engine), nodeType); !ok {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Invalid Cache Node Type: %s.", nodeType)
	}
	return nil
}

// servedVersions are, for each engine, the versions of ElastiCache's
// catalogue that keyward's nodes really serve. The first is the version
// the nodes run (Debian's redis-server is of the 7.0 line), which a create
// that names none gets. Redis OSS 7.1 is served by the same binary:
// ElastiCache documents its 7.1 as compatible with Redis OSS 7.0, its
// changes being I/O threading and memory-access performance, so every
// command, ACL rule and reply is 7.0's ((C), supported-engine-versions).
// Older lines (6.2 and before) and later valkey ones behave differently
// and are refused rather than reported falsely.
var servedVersions = map[keyward.Engine][]string{
	keyward.EngineRedis:     {"7.0", "7.1"},
	keyward.EngineValkey:    {"7.2"},
	keyward.EngineMemcached: {memcachedVersion},
}

// checkEngineVersion accepts the engine versions of ElastiCache's catalogue
// that keyward's nodes serve (servedVersions). A version ElastiCache does
// not offer answers as ElastiCache does ((I) message); one it offers but
// keyward cannot run is refused rather than reported falsely.
func checkEngineVersion(engine keyward.Engine, version string) error {
	if _, ok := catalog.LookupEngineVersion(string(engine), version); !ok {
		return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "Cannot find version %s for %s", version, engine)
	}
	if !slices.Contains(servedVersions[engine], version) {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"Engine version %s is not available here: keyward's nodes serve %s %s.", version, engine, strings.Join(servedVersions[engine], " and "))
	}
	return nil
}

// checkUpgrade accepts moving a cache of engine from version from to
// version to: a version the nodes serve (checkEngineVersion) and not an
// older one, as ElastiCache upgrades in place but never downgrades ((I)
// message; Terraform replaces a cache whose version goes down rather than
// modifying it).
func checkUpgrade(engine keyward.Engine, from, to string) error {
	if err := checkEngineVersion(engine, to); err != nil {
		return err
	}
	if compareVersions(to, from) < 0 {
		return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"Cannot downgrade the engine version from %s to %s.", from, to)
	}
	return nil
}

// compareVersions orders dotted versions ("7.0" < "7.1" < "7.10"),
// numerically part by part; a missing part counts as 0.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}
