// Package redistest finds the engine binary that integration tests run.
//
// Tests that need a real server call Binary first: when the binary is
// missing the test is skipped with a message saying how to install it,
// unless KEYWARD_REQUIRE_INTEGRATION=1 (set by scripts/test.sh and CI), in
// which case it fails, so that a run cannot pass by skipping.
package redistest

import (
	"os"
	"os/exec"
	"testing"
)

// Binary returns the path of the server binary named by KEYWARD_TEST_ENGINE
// (default "redis-server"), looked up on PATH, or skips (fails) the test.
func Binary(tb testing.TB) string {
	tb.Helper()
	name := os.Getenv("KEYWARD_TEST_ENGINE")
	if name == "" {
		name = "redis-server"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KEYWARD_REQUIRE_INTEGRATION") == "1" {
			tb.Fatalf("redistest: %s not found and KEYWARD_REQUIRE_INTEGRATION=1: %v", name, err)
		}
		tb.Skipf("redistest: %s not found (install it, e.g. apt-get install redis-server, or set KEYWARD_TEST_ENGINE); set KEYWARD_REQUIRE_INTEGRATION=1 to make this an error", name)
	}
	return path
}
