package fronts

import (
	"slices"
	"testing"
)

// A front gets one P unless KEYWARD_FRONT_GOMAXPROCS says otherwise, and
// never keyward's own GOMAXPROCS.
func TestFrontEnvGOMAXPROCS(t *testing.T) {
	t.Setenv("GOMAXPROCS", "8")
	t.Setenv("KEYWARD_FRONT_GOMAXPROCS", "")
	if env := frontEnv(); !slices.Contains(env, "GOMAXPROCS=1") || slices.Contains(env, "GOMAXPROCS=8") {
		t.Fatalf("front environment %q: want GOMAXPROCS=1 only", env)
	}
	t.Setenv("KEYWARD_FRONT_GOMAXPROCS", "3")
	if env := frontEnv(); !slices.Contains(env, "GOMAXPROCS=3") || slices.Contains(env, "GOMAXPROCS=1") {
		t.Fatalf("front environment %q: want GOMAXPROCS=3 only", env)
	}
}
