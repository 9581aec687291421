package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
)

// config is what every campaign is given.
type config struct {
	duration        time.Duration // crash: total time; soak: load time
	rounds          int           // crash: kill rounds; nodes: fault rounds (0: campaign default)
	seed            uint64
	keyward         string // prebuilt keyward binary; "" builds ./cmd/keyward
	clients         int    // soak: concurrent clients; crash: workers
	convergeTimeout time.Duration
	keep            bool      // keep the temporary directory when something failed
	log             io.Writer // progress; nil discards
	rssGrowthLimit  float64   // soak: allowed growth of the median RSS (fraction)
	race            bool      // build keyward with the race detector
}

func (c *config) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, "keyward-chaos: "+format+"\n", args...)
	}
}

// env is one campaign's keyward: temporary directory, process, clients.
type env struct {
	cfg  *config
	rep  *Report
	root string
	kw   *kwProc
	tls  *tls.Config
	// akid and secret sign requests (keyward checks them only when started
	// with credentials).
	akid, secret string
	admin        string

	mu     sync.Mutex
	paused map[int]bool // pids SIGSTOPped by us, SIGCONTed at teardown
}

func setup(ctx context.Context, cfg *config, rep *Report, procEnv []string, args ...string) (*env, error) {
	root, err := os.MkdirTemp("", "keyward-chaos-"+rep.Campaign+"-")
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, rep: rep, root: root, akid: "AKIDCHAOS", secret: "chaos-secret", paused: map[int]bool{}}
	bin := cfg.keyward
	if bin == "" {
		if bin, err = buildKeyward(ctx, root, cfg.race); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
	}
	if e.kw, err = newKwProc(bin, root, procEnv, args...); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	if _, err := e.kw.start(ctx); err != nil {
		e.teardown()
		return nil, err
	}
	if e.tls, err = e.kw.tlsConfig(); err != nil {
		e.teardown()
		return nil, err
	}
	if e.admin, err = e.kw.adminSecret(); err != nil {
		e.teardown()
		return nil, err
	}
	cfg.logf("%s: keyward %s, data in %s", rep.Campaign, e.kw.url(), e.kw.dataDir)
	return e, nil
}

// client returns a fresh SDK client (own connections) for keyward.
func (e *env) client() (*elasticache.Client, *http.Client) {
	return e.kw.client(e.akid, e.secret, nil)
}

// teardown deletes every cache through the API (so keyward stops its
// nodes), stops keyward, then checks that no process of this campaign is
// left (killing any as a last resort, which is a violation) and removes
// the temporary directory.
func (e *env) teardown() {
	e.mu.Lock()
	for pid := range e.paused {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if !e.kw.running() && e.kw.started() {
		if _, err := e.kw.start(ctx); err != nil {
			e.rep.violate("teardown: restart keyward to delete caches: %v", err)
		}
	}
	if e.kw.running() {
		if err := e.deleteAllCaches(ctx); err != nil {
			e.rep.violate("teardown: %v", err)
		}
		e.kw.stop()
	}
	if log, err := os.ReadFile(e.kw.logPath); err == nil {
		if i := strings.Index(string(log), "WARNING: DATA RACE"); i >= 0 {
			e.rep.violate("keyward (built with -race) reported a data race: %s", firstLines(string(log[i:]), 30))
		}
		if i := strings.Index(string(log), "panic:"); i >= 0 {
			e.rep.violate("keyward panicked: %s", firstLines(string(log[i:]), 30))
		}
	}
	if recs, _ := readNodeRecs(e.kw.dataDir); len(recs) > 0 {
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		e.rep.violate("teardown: node directories left after every cache was deleted: %v", ids)
	}
	if left := killLeftovers(e.root); len(left) > 0 {
		e.rep.violate("teardown: processes left running after every cache was deleted and keyward stopped (killed now): %s", strings.Join(left, "; "))
	}
	if e.cfg.keep && len(e.rep.Violations()) > 0 {
		e.rep.note("temporary directory kept: %s", e.root)
		return
	}
	os.RemoveAll(e.root)
}

func (e *env) deleteAllCaches(ctx context.Context) error {
	c, hc := e.client()
	defer hc.CloseIdleConnections()
	for {
		out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("list caches: %w", err)
			}
			time.Sleep(50 * time.Millisecond) // a transient failure: ask again
			continue
		}
		if len(out.ReplicationGroups) == 0 {
			return nil
		}
		var states []string
		for _, rg := range out.ReplicationGroups {
			st := aws.ToString(rg.Status)
			states = append(states, aws.ToString(rg.ReplicationGroupId)+"="+st)
			if st == "available" || st == "create-failed" {
				c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: rg.ReplicationGroupId})
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("caches not deleted in time: %v", states)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// convergence is the outcome of one check of keyward against the model.
type convergence struct {
	took       time.Duration // from the start of the check until settled and every node matched
	converged  bool
	unanswered int                 // unanswered operations resolved
	mismatches map[string][]string // kind -> distinct messages
	acl        aclResult           // the last ACL check
	early      bool                // statuses settled while nodes did not match yet
}

func (cv *convergence) add(ms []mismatch) {
	for _, x := range ms {
		if !slices.Contains(cv.mismatches[x.kind], x.msg) {
			cv.mismatches[x.kind] = append(cv.mismatches[x.kind], x.msg)
		}
	}
}

// converge checks keyward against the model: at once (every acknowledged
// write must show, every unanswered one be applied wholly or not at all),
// then until every status has settled and every node's ACLs match the
// model, within cfg.convergeTimeout of start. Violations go to the report.
func (e *env) converge(ctx context.Context, m *model, label string, start time.Time) convergence {
	cv := convergence{mismatches: map[string][]string{}}
	c, hc := e.client()
	defer hc.CloseIdleConnections()
	deadline := start.Add(e.cfg.convergeTimeout)
	var s *snapshot
	var err error
	for s, err = readSnapshot(ctx, c); err != nil; s, err = readSnapshot(ctx, c) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			e.rep.violate("%s: cannot read keyward's state: %v", label, err)
			return cv
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.mu.Lock()
	n, half := m.resolve(s)
	cv.unanswered = n
	cv.add(half)
	cv.add(m.compare(s, false))
	m.mu.Unlock()

	// A snapshot is judged only when everything in it is at rest and the
	// groups did not change while the users were read (a change applied
	// between the two reads would show as a disagreement). A mismatch in
	// such a snapshot is final; it is still re-read until the deadline, and
	// reported only if no later snapshot is clean.
	var unsettled int
	var final []mismatch
	for {
		if s != nil {
			var settled bool
			if settled, unsettled = s.settled(); settled && s.stable {
				m.mu.Lock()
				final = m.compare(s, true)
				m.mu.Unlock()
				if len(final) == 0 {
					cv.acl = m.checkACL(ctx, s, e.tls, e.kw.dataDir)
					if cv.acl.ok() {
						cv.took, cv.converged = time.Since(start), true
						break
					}
					// A probe that failed (a node too slow to answer the
					// checker) proves nothing either way: only a seen
					// mismatch makes the statuses early.
					if cv.acl.mismatched() {
						cv.early = true
					}
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
		if s, err = readSnapshot(ctx, c); err != nil {
			s = nil
		}
	}
	if !cv.converged {
		cv.add(final)
	}
	m.mu.Lock()
	m.resolved = map[string]bool{}
	m.mu.Unlock()

	for _, kind := range slices.Sorted(maps.Keys(cv.mismatches)) {
		for _, msg := range cv.mismatches[kind] {
			e.rep.violate("%s: %s: %s", label, kind, msg)
		}
	}
	switch {
	case cv.took == 0 && len(final) > 0:
		// reported above
	case cv.took == 0 && s != nil && unsettled > 0:
		e.rep.violate("%s: %d resources still not settled after %v: %s", label, unsettled, e.cfg.convergeTimeout, unsettledList(s))
	case cv.took == 0:
		e.rep.violate("%s: nodes did not match the model within %v: %s; %s", label, e.cfg.convergeTimeout, cv.acl.summary(), firstN(slices.Concat(cv.acl.probeErrs, cv.acl.details), 8))
	}
	if cv.early && cv.took > 0 {
		e.rep.violate("%s: every status had settled while nodes did not match yet (reported done before done): %s", label, firstN(cv.acl.details, 5))
	}
	return cv
}

func unsettledList(s *snapshot) string {
	var out []string
	for id, u := range s.users {
		if st := aws.ToString(u.Status); st != "active" {
			out = append(out, "user "+id+" "+st)
		}
	}
	for id, g := range s.groups {
		if st := aws.ToString(g.Status); st != "active" {
			out = append(out, "group "+id+" "+st)
		}
	}
	for id, rg := range s.caches {
		if st := aws.ToString(rg.Status); st != "available" {
			out = append(out, "replication group "+id+" "+st)
		}
	}
	slices.Sort(out)
	return firstN(out, 10)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func firstN(xs []string, n int) string {
	if len(xs) > n {
		return strings.Join(xs[:n], "; ") + fmt.Sprintf("; ... (%d more)", len(xs)-n)
	}
	return strings.Join(xs, "; ")
}

// pause SIGSTOPs pid, remembering it so teardown always resumes it.
func (e *env) pause(pid int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.paused[pid] = true
	return syscall.Kill(pid, syscall.SIGSTOP)
}

func (e *env) resume(pid int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.paused, pid)
	return syscall.Kill(pid, syscall.SIGCONT)
}

func dataFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // a node directory removed meanwhile
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}
