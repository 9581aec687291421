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
