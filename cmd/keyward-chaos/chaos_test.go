package main

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyward/internal/redistest"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// keywardBinary builds keyward once for every test of the package.
func keywardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyward-chaos-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		// Under -race keyward is built with it too: its packages are then
		// mostly in the build cache already, and a data race in keyward
		// under faults fails the campaign.
		buildBin, buildErr = buildKeyward(context.Background(), dir, raceEnabled)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildBin != "" {
		os.RemoveAll(strings.TrimSuffix(buildBin, "/keyward"))
	}
	os.Exit(code)
}

func testConfig(t *testing.T) *config {
	return &config{
		keyward: keywardBinary(t), seed: uint64(time.Now().UnixNano()),
		convergeTimeout: 10 * time.Second, rssGrowthLimit: 0.5, log: testLog{t},
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestChaosShort runs every campaign in a short form: crash 3 rounds,
// nodes one kill -9 and one SIGSTOP, soak 5 s, secrets in full. Any
// violated invariant fails the test.
func TestChaosShort(t *testing.T) {
	redistest.Binary(t)
	short := map[string]func(*config){
		"crash":   func(c *config) { c.rounds, c.clients = 3, 4 },
		"nodes":   func(c *config) { c.rounds = 2 },
		"soak":    func(c *config) { c.duration, c.clients = 5*time.Second, 4 },
		"secrets": func(c *config) {},
	}
	for _, name := range campaignOrder {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			short[name](cfg)
			start := time.Now()
			rep := campaigns[name](t.Context(), cfg)
			t.Logf("seed %d, %v\n%s", cfg.seed, time.Since(start).Round(time.Millisecond), rep.Markdown())
			for _, v := range rep.Violations() {
				t.Errorf("violation: %s", v)
			}
		})
	}
}

// TestCheckerDetectsFaults makes sure the checks are not vacuous: a lost
// write, a stale ACL user planted on a node, and a password the nodes do
// not have must each be reported.
func TestCheckerDetectsFaults(t *testing.T) {
	redistest.Binary(t)
	cfg := testConfig(t)
	rep := newReport("selftest")
	e, err := setup(t.Context(), cfg, rep, nil, "--log-level", "warn")
	if err != nil {
		t.Fatal(err)
	}
	defer e.teardown()
	m := newModel("t", limits{users: 8, defaults: 2, groups: 2, caches: 1, maxNodes: 1})
	w := &workload{m: m, st: newStats(), rep: rep}
	c, hc := e.client()
	defer hc.CloseIdleConnections()
	var stop atomic.Bool
	rng := rand.New(rand.NewPCG(1, 2))
	// Load until a replication group with a user group and a member exists.
	deadline := time.Now().Add(20 * time.Second)
	for {
		time.AfterFunc(500*time.Millisecond, func() { stop.Store(true) })
		w.worker(t.Context(), c, rng, &stop)
		stop.Store(false)
		cv := e.converge(t.Context(), m, "setup", time.Now())
		if !cv.converged || len(rep.Violations()) > 0 {
			t.Fatalf("setup did not converge: %v", rep.Violations())
		}
		m.mu.Lock()
		ready := false
		for _, rc := range m.liveCaches() {
			if g := m.groups[rc.group]; g != nil && len(g.members) > 1 {
				ready = true
			}
		}
		m.mu.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no replication group with a populated user group after 20s")
		}
	}
	s, err := readSnapshot(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}

	// A lost write: the model holds a user keyward never heard of.
	m.mu.Lock()
	m.addUser(&mUser{id: "tghost", name: "tghost", access: "on ~* +@all", pws: []string{"GhostPassword-0001"}})
	lost := m.compare(s, true)
	delete(m.users, "tghost")
	delete(m.liveU, "tghost")
	m.mu.Unlock()
	if len(lost) != 1 || lost[0].kind != mmLost {
		t.Errorf("a lost user was reported as %v", lost)
	}

	// A stale ACL user on a node, and a member whose password changed in
	// the model only (its real password is then a stale AUTH, the model's
	// a refused one).
	m.mu.Lock()
	var cache *mCache
	var member *mUser
	for _, rc := range m.liveCaches() {
		if g := m.groups[rc.group]; g != nil && len(g.members) > 1 {
			cache = rc
			for uid := range g.members {
				if u := m.users[uid]; !u.isDefault() {
					member = u
				}
			}
		}
	}
	oldPws := member.pws
	member.pws = []string{"ModelOnlyPassword-01"}
	m.creds = append(m.creds, cred{user: member.id, name: member.name, pw: "ModelOnlyPassword-01"})
	m.mu.Unlock()
	addr := nodeAddrs(s.caches[cache.id])[0]
	admin := adminNodeClient(e.kw.dataDir, addr, e.tls)
	defer admin.Close()
	// keyward repairs drift every 2 s: plant again if a repair came first.
	var acl aclResult
	for range 5 {
		if err := admin.Do(t.Context(), "ACL", "SETUSER", "planted", "on", ">planted-password-01", "~*", "+@all").Err(); err != nil {
			t.Fatal(err)
		}
		if acl = m.checkACL(t.Context(), s, e.tls, e.kw.dataDir); acl.staleEntries > 0 {
			break
		}
	}
	if acl.staleEntries == 0 || acl.staleAuths == 0 || acl.missingAuths == 0 || acl.ok() {
		t.Errorf("planted faults not all detected: %s; %v", acl.summary(), acl.details)
	}
	m.mu.Lock()
	member.pws = oldPws
	m.mu.Unlock()
	if v := rep.Violations(); len(v) > 0 {
		t.Errorf("violations: %v", v)
	}
	// keyward repairs the drift (its statuses rightly stay settled: the
	// drift was made behind its back); the check must then pass again.
	e.rep = newReport("repair")
	cv := e.converge(t.Context(), m, "after repair", time.Now())
	if !cv.converged {
		t.Errorf("not converged after the drift repair: %s", cv.acl.summary())
	}
	e.rep = rep
}

// TestExitCode: a campaign with a violation makes the command exit 1.
func TestExitCode(t *testing.T) {
	saved := campaigns["crash"]
	defer func() { campaigns["crash"] = saved }()
	campaigns["crash"] = func(context.Context, *config) *Report {
		r := newReport("crash")
		r.violate("planted")
		return r
	}
	out := t.TempDir() + "/report.md"
	if code := run(t.Context(), []string{"crash", "--quiet", "--out", out}, io.Discard, io.Discard); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), "FAIL") || !strings.Contains(string(b), "planted") {
		t.Errorf("report: %s %v", b, err)
	}
	if code := run(t.Context(), []string{"nosuch"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("unknown campaign: exit code %d, want 2", code)
	}
}

// raceEnabled is set by race_test.go when the tests run with -race.
var raceEnabled bool
