package api

import (
	"testing"

	"keyward"
)

// TestTransitModeChangeableVersions: ElastiCache changes in-transit
// encryption of a running group from Redis OSS 7.0.5 (and on every Valkey
// version); keyward's API offers only 7.0 (7.0.7 on ElastiCache), so the
// older versions are checked here.
func TestTransitModeChangeableVersions(t *testing.T) {
	for _, tc := range []struct {
		engine  keyward.Engine
		version string
		ok      bool
	}{
		{keyward.EngineRedis, "6.2", false}, {keyward.EngineRedis, "6.2.6", false}, {keyward.EngineRedis, "7.0.4", false},
		{keyward.EngineRedis, "7.0.5", true}, {keyward.EngineRedis, "7.0", true}, {keyward.EngineRedis, "7.1", true},
		{keyward.EngineValkey, "7.2", true}, {keyward.EngineValkey, "8.0", true},
	} {
		err := transitModeChangeable(&keyward.Cache{Engine: tc.engine, EngineVersion: tc.version})
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: %v, want allowed %v", tc.engine, tc.version, err, tc.ok)
		}
		if code := keyward.ErrorCode(err); err != nil && code != keyward.EINVALID {
			t.Errorf("%s %s: code %s", tc.engine, tc.version, code)
		}
	}
}
