package api

import (
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

// checkEngineVersion accepts the engine versions of ElastiCache's catalogue
// that keyward's nodes really run: the version reported must be what runs
// (Debian's redis-server is 7.0). A version ElastiCache does not offer
// answers as ElastiCache does ((I) message); one it offers but keyward
// cannot run is refused rather than reported falsely.
func checkEngineVersion(engine keyward.Engine, version string) error {
	if _, ok := catalog.LookupEngineVersion(string(engine), version); !ok {
		return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "Cannot find version %s for %s", version, engine)
	}
	if runs := defaultEngineVersion(engine); version != runs {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"Engine version %s is not available here: keyward's nodes run %s %s.", version, engine, runs)
	}
	return nil
}
