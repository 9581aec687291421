package redistest

import (
	"os"
	"os/exec"
	"testing"
)

// Memcached returns the path of the memcached binary (KEYWARD_TEST_MEMCACHED,
// default "memcached" on PATH), or skips the test as Binary does: fails it
// under KEYWARD_REQUIRE_INTEGRATION=1.
func Memcached(tb testing.TB) string {
	tb.Helper()
	name := os.Getenv("KEYWARD_TEST_MEMCACHED")
	if name == "" {
		name = "memcached"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KEYWARD_REQUIRE_INTEGRATION") == "1" {
			tb.Fatalf("redistest: %s not found and KEYWARD_REQUIRE_INTEGRATION=1: %v", name, err)
		}
		tb.Skipf("redistest: %s not found (apt-get install memcached, or set KEYWARD_TEST_MEMCACHED); set KEYWARD_REQUIRE_INTEGRATION=1 to make this an error", name)
	}
	return path
}
