package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/engine"
)

// recorder keeps every response (status line, headers, body) a client got.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	resp [][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.add(resp, body)
	return resp, err
}

func (r *recorder) add(resp *http.Response, body []byte) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", resp.Status)
	resp.Header.Write(&b)
	b.Write(body)
	r.mu.Lock()
	r.resp = append(r.resp, b.Bytes())
	r.mu.Unlock()
}

// secretsRun holds the plaintexts the campaign sent and where they must
// never show.
type secretsRun struct {
	e      *env
	c      *elasticache.Client
	rec    *recorder
	rep    *Report
	rng    *rand.Rand
	plain  map[string]string // plaintext -> what it is
	checks []string          // table rows
}

func (s *secretsRun) secret(what string, v string) string {
	s.plain[v] = what
	return v
}

// runSecrets is the secrets campaign: with known plaintext passwords, AUTH
// tokens and the SigV4 secret key, keyward's debug log, every file under its
// data directory, the processes' command lines and every API response must
// not contain any of them; SigV4 must refuse unsigned, wrongly signed,
// tampered and stale requests with the right codes; tenant users must not
// be able to escalate on the nodes.
func runSecrets(ctx context.Context, cfg *config) *Report {
	rep := newReport("secrets")
	rng := rand.New(rand.NewPCG(cfg.seed, 0x5ec2e7))
	secretKey := "SecretKey" + randToken(rng)[2:]
	akid := "AKIDCHAOS" + strconv.Itoa(100000+rng.IntN(900000))
	e, err := setup(ctx, cfg, rep, []string{"KEYWARD_SECRET_ACCESS_KEY=" + secretKey},
		"--access-key-id", akid, "--account-id", "123456789012", "--log-level", "debug")
	if err != nil {
		rep.violate("setup: %v", err)
		return rep
	}
	e.akid, e.secret = akid, secretKey
	defer e.teardown()
	rec := &recorder{base: &http.Transport{}}
	c, hc := e.kw.client(akid, secretKey, rec)
	defer hc.CloseIdleConnections()
	s := &secretsRun{e: e, c: c, rec: rec, rep: rep, rng: rng, plain: map[string]string{}}
	s.plain[secretKey] = "SigV4 secret access key"

	rep.printf("keyward run with SigV4 credentials and `--log-level debug`; users, a user group, replication groups with RBAC, an AUTH token (SET, ROTATE, SET) and open access, passwords rotated, invalid requests carrying secrets, a restart. Seed %d.\n\n", cfg.seed)
	if err := s.workload(ctx); err != nil {
		rep.violate("workload: %v", err)
		return rep
	}
	s.escalation(ctx)
	s.sigv4(ctx)

	// Look for every plaintext while everything runs (node files exist),
	// then again with keyward stopped (its last writes on disk).
	hits := s.grep("running")
	e.kw.stop()
	hits += s.grep("stopped")
	if _, err := e.kw.start(ctx); err != nil {
		rep.violate("restart for teardown: %v", err)
	}
	rep.printf("\n| check | result |\n|---|---|\n")
	for _, row := range s.checks {
		rep.printf("%s\n", row)
	}
	rep.printf("\n%d plaintext secrets searched for (raw and URL-encoded); **%d hits**.\n", len(s.plain), hits)
	return rep
}

func (s *secretsRun) row(check, result string, ok bool) {
	mark := "ok"
	if !ok {
		mark = "**VIOLATION**"
		s.rep.violate("%s: %s", check, result)
	}
	s.checks = append(s.checks, fmt.Sprintf("| %s | %s (%s) |", check, result, mark))
}

func (s *secretsRun) waitRG(ctx context.Context, id string) (types.ReplicationGroup, error) {
	var rg types.ReplicationGroup
	err := waitFor(ctx, 30*time.Second, id+" available", func() (bool, error) {
		out, err := s.c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if err != nil {
			return false, err
		}
		rg = out.ReplicationGroups[0]
		return aws.ToString(rg.Status) == "available", nil
	})
	return rg, err
}

func (s *secretsRun) waitUserActive(ctx context.Context, id string) error {
	return waitFor(ctx, 20*time.Second, id+" active", func() (bool, error) {
		out, err := s.c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String(id)})
		if err != nil {
			return false, err
		}
		return aws.ToString(out.Users[0].Status) == "active", nil
	})
}

func (s *secretsRun) workload(ctx context.Context) error {
	c, rng := s.c, s.rng
	pw := func(what string) string { return s.secret(what, randPassword(rng)) }
	alice1, alice2, alice3 := pw("password of s-alice"), pw("password of s-alice"), pw("new password of s-alice")
	bob1, bob2 := pw("password of s-bob"), pw("new password of s-bob (AuthenticationMode)")
	dflt, root := pw("password of s-default"), pw("password of s-root")
	users := []struct {
		id, name, access string
		pws              []string
	}{
		{"s-alice", "s-alice", "on ~app:* -@all +get +set +ping", []string{alice1, alice2}},
		{"s-bob", "s-bob", "on ~* +@read +ping", []string{bob1}},
		{"s-default", "default", "on ~* -@all +ping", []string{dflt}},
		{"s-root", "s-root", "on ~* &* +@all", []string{root}},
	}
	for _, u := range users {
		if _, err := c.CreateUser(ctx, &elasticache.CreateUserInput{
			UserId: aws.String(u.id), UserName: aws.String(u.name), Engine: aws.String("redis"),
			AccessString: aws.String(u.access), Passwords: u.pws,
			Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("chaos")}},
		}); err != nil {
			return fmt.Errorf("CreateUser %s: %w", u.id, err)
		}
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("s-group"), Engine: aws.String("redis"), UserIds: []string{"s-default", "s-alice", "s-bob", "s-root"}}); err != nil {
		return err
	}
	if err := waitFor(ctx, 20*time.Second, "s-group active", func() (bool, error) {
		out, err := c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("s-group")})
		return err == nil && aws.ToString(out.UserGroups[0].Status) == "active", err
	}); err != nil {
		return err
	}
	tok1, tok2, tok3 := s.secret("AUTH token (first)", randToken(rng)), s.secret("AUTH token (rotated in)", randToken(rng)), s.secret("AUTH token (set)", randToken(rng))
	for _, in := range []*elasticache.CreateReplicationGroupInput{
		{ReplicationGroupId: aws.String("s-rbac"), NumCacheClusters: aws.Int32(2), UserGroupIds: []string{"s-group"}},
		{ReplicationGroupId: aws.String("s-token"), NumCacheClusters: aws.Int32(1), AuthToken: aws.String(tok1)},
		{ReplicationGroupId: aws.String("s-open"), NumCacheClusters: aws.Int32(1)},
	} {
		in.ReplicationGroupDescription = aws.String("chaos secrets")
		in.TransitEncryptionEnabled = aws.Bool(true)
		if _, err := c.CreateReplicationGroup(ctx, in); err != nil {
			return fmt.Errorf("CreateReplicationGroup %s: %w", aws.ToString(in.ReplicationGroupId), err)
		}
	}
	rbac, err := s.waitRG(ctx, "s-rbac")
	if err != nil {
		return err
	}
	if _, err := s.waitRG(ctx, "s-token"); err != nil {
		return err
	}
	// Rotate passwords (both ways of giving them) and the token.
	if _, err := c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("s-alice"), Passwords: []string{alice3}}); err != nil {
		return err
	}
	if _, err := c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("s-bob"), AuthenticationMode: &types.AuthenticationMode{Type: types.InputAuthenticationTypePassword, Passwords: []string{bob2}}}); err != nil {
		return err
	}
	for _, step := range []struct {
		tok      string
		strategy types.AuthTokenUpdateStrategyType
	}{{tok2, types.AuthTokenUpdateStrategyTypeRotate}, {tok3, types.AuthTokenUpdateStrategyTypeSet}} {
		if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
			ReplicationGroupId: aws.String("s-token"), AuthToken: aws.String(step.tok), AuthTokenUpdateStrategy: step.strategy, ApplyImmediately: aws.Bool(true),
		}); err != nil {
			return err
		}
		if _, err := s.waitRG(ctx, "s-token"); err != nil {
			return err
		}
	}
	for _, id := range []string{"s-alice", "s-bob"} {
		if err := s.waitUserActive(ctx, id); err != nil {
			return err
		}
	}
	// Requests that carry a secret and are refused: the secret must not be
	// echoed in the error or logged.
	bad := s.secret("refused password (has @)", "Bad@"+randPassword(rng))
	badTok := s.secret("refused AUTH token (has %)", "Tok%"+randToken(rng))
	unknown := pw("password for an unknown user")
	refusals := []struct {
		what string
		call func() error
	}{
		{"CreateUser with an invalid password", func() error {
			_, err := c.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String("s-bad"), UserName: aws.String("s-bad"), Engine: aws.String("redis"), AccessString: aws.String("on ~* +@all"), Passwords: []string{bad}})
			return err
		}},
		{"ModifyUser of an unknown user with a password", func() error {
			_, err := c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("s-nobody"), Passwords: []string{unknown}})
			return err
		}},
		{"CreateReplicationGroup with an invalid AUTH token", func() error {
			_, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("s-badtok"), ReplicationGroupDescription: aws.String("x"), TransitEncryptionEnabled: aws.Bool(true), AuthToken: aws.String(badTok)})
			return err
		}},
		{"ModifyReplicationGroup with a token and DELETE", func() error {
			_, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("s-token"), AuthToken: aws.String(tok1), AuthTokenUpdateStrategy: types.AuthTokenUpdateStrategyTypeDelete})
			return err
		}},
	}
	for _, r := range refusals {
		if err := r.call(); err == nil {
			s.rep.violate("%s was accepted", r.what)
		}
	}
	// Every call a client makes: descriptions, tags, clusters.
	c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{})
	c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{})
	c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{})
	c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{ShowCacheNodeInfo: aws.Bool(true)})
	c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String("arn:aws:elasticache:us-east-1:123456789012:user:s-alice")})

	// Every current secret works on the nodes, every old one is refused.
	nodes := nodeAddrs(rbac)
	tokRG, _ := s.waitRG(ctx, "s-token")
	tokNode := nodeAddrs(tokRG)[0]
	type probe struct {
		addr, user, pw string
		want           bool
	}
	probes := []probe{
		{tokNode, "default", tok3, true}, {tokNode, "default", tok1, false}, {tokNode, "default", tok2, false},
	}
	for _, n := range nodes {
		probes = append(probes,
			probe{n, "s-alice", alice3, true}, probe{n, "s-alice", alice1, false}, probe{n, "s-alice", alice2, false},
			probe{n, "s-bob", bob2, true}, probe{n, "s-bob", bob1, false},
			probe{n, "default", dflt, true}, probe{n, "s-root", root, true}, probe{n, "s-alice", bad, false})
	}
	wrong := 0
	for _, p := range probes {
		ok, err := authOnce(ctx, p.addr, s.e.tls, p.user, p.pw)
		if err != nil || ok != p.want {
			wrong++
			s.rep.violate("AUTH %s on %s: accepted=%v err=%v, want accepted=%v", p.user, p.addr, ok, err, p.want)
		}
	}
	s.row("AUTH with current secrets accepted, old and refused ones refused", fmt.Sprintf("%d probes, %d wrong", len(probes), wrong), wrong == 0)

	// A restart, so startup and adoption are logged at debug level too.
	s.e.kw.stop()
	if _, err := s.e.kw.start(ctx); err != nil {
		return err
	}
	_, err = s.waitRG(ctx, "s-rbac")
	return err
}

// escalation tries, as tenants of each access mode, every command that
// would let them escape their ACL or disturb the node.
func (s *secretsRun) escalation(ctx context.Context) {
	c := s.c
	// A user asking for everything, explicitly.
	greedy := s.secret("password of s-greedy", randPassword(s.rng))
	greedyAccess := "on ~* &* +@all +@admin +@dangerous +config +acl +acl|setuser +debug +module +shutdown +replicaof +monitor"
	_, err := c.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String("s-greedy"), UserName: aws.String("s-greedy"), Engine: aws.String("redis"), AccessString: aws.String(greedyAccess), Passwords: []string{greedy}})
	greedyOK := err == nil
	if greedyOK {
		if _, err := c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("s-group"), UserIdsToAdd: []string{"s-greedy"}}); err != nil {
			s.rep.violate("adding s-greedy to s-group: %v", err)
			greedyOK = false
		}
		waitFor(ctx, 20*time.Second, "s-group active", func() (bool, error) {
			out, err := c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("s-group")})
			return err == nil && aws.ToString(out.UserGroups[0].Status) == "active", err
		})
	}
	rbac, _ := s.waitRG(ctx, "s-rbac")
	tok, _ := s.waitRG(ctx, "s-token")
	open, _ := s.waitRG(ctx, "s-open")
	var tokPW string
	for p, what := range s.plain {
		if what == "AUTH token (set)" {
			tokPW = p
		}
	}
	var rootPW string
	for p, what := range s.plain {
		if what == "password of s-root" {
			rootPW = p
		}
	}
	type tenant struct {
		what, addr, user, pw string
	}
	tenants := []tenant{
		{"RBAC user with +@all", nodeAddrs(rbac)[0], "s-root", rootPW},
		{"RBAC user with +@all (replica)", nodeAddrs(rbac)[1], "s-root", rootPW},
		{"AUTH-token default user", nodeAddrs(tok)[0], "default", tokPW},
		{"open access (no group, no token)", nodeAddrs(open)[0], "", ""},
	}
	if greedyOK {
		tenants = append(tenants, tenant{"RBAC user granted +@admin +@dangerous +config +acl ...", nodeAddrs(rbac)[0], "s-greedy", greedy})
	}
	cmds := [][]any{
		{"ACL", "SETUSER", "intruder", "on", ">intruder-password-0001", "~*", "+@all"},
		{"ACL", "SETUSER", "default", "on", "nopass"},
		{"ACL", "DELUSER", "keyward-admin"},
		{"ACL", "LIST"}, {"ACL", "GETUSER", "keyward-admin"}, {"ACL", "SAVE"}, {"ACL", "LOAD"}, {"ACL", "LOG"},
		{"CONFIG", "SET", "maxmemory", "1"}, {"CONFIG", "GET", "masterauth"}, {"CONFIG", "REWRITE"},
		{"MODULE", "LOAD", "/tmp/keyward-chaos-no-such-module.so"}, {"MODULE", "LIST"},
		{"DEBUG", "SLEEP", "0"}, {"DEBUG", "SET-ACTIVE-EXPIRE", "0"},
		{"SHUTDOWN", "NOSAVE"}, {"REPLICAOF", "127.0.0.1", "1"}, {"SLAVEOF", "NO", "ONE"}, {"FAILOVER"},
		{"SYNC"}, {"PSYNC", "?", "-1"}, {"MONITOR"}, {"BGSAVE"}, {"SAVE"}, {"BGREWRITEAOF"},
		{"MIGRATE", "127.0.0.1", "1", "k", "0", "100"},
	}
	allowed := 0
	var tried int
	for _, t := range tenants {
		cl := nodeClient(t.addr, s.e.tls, t.user, t.pw)
		if err := cl.Ping(ctx).Err(); err != nil && t.user != "" {
			s.rep.violate("escalation: %s cannot even log in on %s: %v", t.what, t.addr, err)
			cl.Close()
			continue
		}
		for _, cmd := range cmds {
			tried++
			err := cl.Do(ctx, cmd...).Err()
			if err == nil || !refusedErr(err) {
				allowed++
				s.rep.violate("escalation: %s ran %v on %s: %v", t.what, cmd, t.addr, err)
			}
		}
		cl.Close()
	}
	// The nodes are intact: running, no intruder, configuration unchanged.
	intact := 0
	all := slices.Concat(nodeAddrs(rbac), nodeAddrs(tok), nodeAddrs(open))
	for _, a := range all {
		admin := adminNodeClient(s.e.kw.dataDir, a, s.e.tls)
		users, err := admin.Do(ctx, "ACL", "USERS").StringSlice()
		maxmem, err2 := admin.ConfigGet(ctx, "maxmemory").Result()
		admin.Close()
		if err != nil || err2 != nil || slices.Contains(users, "intruder") || maxmem["maxmemory"] == "1" {
			s.rep.violate("escalation: node %s not intact: users %v (%v), maxmemory %v (%v)", a, users, err, maxmem, err2)
			continue
		}
		intact++
	}
	result := fmt.Sprintf("%d commands × %d tenants: %d allowed; %d/%d nodes intact afterwards", len(cmds), len(tenants), allowed, intact, len(all))
	if !greedyOK {
		result += fmt.Sprintf("; an access string granting them (%q) was refused by the API", greedyAccess)
	}
	s.row("tenants escalating (ACL SETUSER/DELUSER/LIST/…, CONFIG, MODULE, DEBUG, SHUTDOWN, REPLICAOF, SYNC, MONITOR, SAVE, MIGRATE)", result, allowed == 0 && intact == len(all))
}

// refusedErr reports whether err is the node refusing a command (as
// opposed to the connection failing, e.g. after a SHUTDOWN that ran).
func refusedErr(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "NOPERM") || strings.Contains(msg, "not allowed") || strings.HasPrefix(msg, "ERR") && !strings.Contains(msg, "connection")
}

// sigv4 sends hand-made requests: unsigned, wrongly signed, tampered,
// stale, replayed.
func (s *secretsRun) sigv4(ctx context.Context) {
	signer := v4.NewSigner()
	const body = "Action=DescribeUsers&Version=2015-02-02"
	endpoint := s.e.kw.url() + "/"
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	creds := aws.Credentials{AccessKeyID: s.e.akid, SecretAccessKey: s.e.secret}
	newReq := func(b string) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, "POST", endpoint, strings.NewReader(b))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		return req
	}
	hash := func(b string) string {
		sum := sha256.Sum256([]byte(b))
		return hex.EncodeToString(sum[:])
	}
	sign := func(req *http.Request, b string, cr aws.Credentials, at time.Time) *http.Request {
		// A new signer each time: a signer caches the derived key by access
		// key id, so a wrong secret would be signed with the right key.
		if err := v4.NewSigner().SignHTTP(ctx, cr, req, hash(b), "elasticache", "us-east-1", at); err != nil {
			s.rep.violate("sign: %v", err)
		}
		return req
	}
	send := func(req *http.Request, b string) (int, string, string) {
		req.Body = io.NopCloser(strings.NewReader(b))
		req.ContentLength = int64(len(b))
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err.Error()
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		s.rec.add(resp, data)
		code := ""
		if m := regexp.MustCompile(`<Code>([^<]*)</Code>`).FindSubmatch(data); m != nil {
			code = string(m[1])
		}
		msg := ""
		if m := regexp.MustCompile(`<Message>([^<]*)</Message>`).FindSubmatch(data); m != nil {
			msg = string(m[1])
		}
		return resp.StatusCode, code, msg
	}
	now := time.Now()
	valid := sign(newReq(body), body, creds, now)
	cases := []struct {
		what       string
		req        *http.Request
		body       string
		wantStatus int
		wantCode   string
	}{
		{"valid signature (control)", valid, body, 200, ""},
		{"same signed request replayed at once (SigV4 has no nonce; accepted, as on AWS)", valid.Clone(ctx), body, 200, ""},
		{"unsigned", newReq(body), body, 403, "MissingAuthenticationToken"},
		{"signed with a wrong secret", sign(newReq(body), body, aws.Credentials{AccessKeyID: s.e.akid, SecretAccessKey: "wrong-" + s.e.secret}, now), body, 403, "SignatureDoesNotMatch"},
		{"signed with an unknown access key id", sign(newReq(body), body, aws.Credentials{AccessKeyID: "AKIDUNKNOWN0000", SecretAccessKey: s.e.secret}, now), body, 403, "InvalidClientTokenId"},
		{"body changed after signing", sign(newReq(body), body, creds, now), "Action=DescribeUserGroups&Version=2015-02-02", 403, "SignatureDoesNotMatch"},
		{"replayed 16 minutes after signing (X-Amz-Date in the past)", sign(newReq(body), body, creds, now.Add(-16*time.Minute)), body, 403, "SignatureDoesNotMatch"},
		{"dated 16 minutes in the future", sign(newReq(body), body, creds, now.Add(16*time.Minute)), body, 403, "SignatureDoesNotMatch"},
	}
	// An Authorization header without SignedHeaders.
	broken := sign(newReq(body), body, creds, now)
	broken.Header.Set("Authorization", regexp.MustCompile(`SignedHeaders=[^,]*, `).ReplaceAllString(broken.Header.Get("Authorization"), ""))
	cases = append(cases, struct {
		what       string
		req        *http.Request
		body       string
		wantStatus int
		wantCode   string
	}{"Authorization header without SignedHeaders", broken, body, 400, "IncompleteSignature"})
	for _, tc := range cases {
		st, code, msg := send(tc.req, tc.body)
		ok := st == tc.wantStatus && code == tc.wantCode
		got := fmt.Sprintf("%d %s", st, code)
		if msg != "" {
			got += ": " + msg
		}
		s.row("SigV4: "+tc.what, got, ok)
	}
	// An expired presigned URL.
	q := url.Values{"Action": {"DescribeUsers"}, "Version": {"2015-02-02"}, "X-Amz-Expires": {"60"}}
	preq, _ := http.NewRequestWithContext(ctx, "GET", endpoint+"?"+q.Encode(), nil)
	signed, hdr, err := signer.PresignHTTP(ctx, creds, preq, hash(""), "elasticache", "us-east-1", now.Add(-5*time.Minute))
	if err != nil {
		s.rep.violate("presign: %v", err)
		return
	}
	greq, _ := http.NewRequestWithContext(ctx, "GET", signed, nil)
	for k, v := range hdr {
		greq.Header[k] = v
	}
	st, code, msg := send(greq, "")
	s.row("SigV4: presigned URL used 5 minutes after signing with X-Amz-Expires=60", fmt.Sprintf("%d %s: %s", st, code, msg), st == 403 && code == "SignatureDoesNotMatch")
}

// grep looks for every plaintext in keyward's log, every file under the
// data directory, the command lines of every process of the campaign and
// every response, and returns the number of hits.
func (s *secretsRun) grep(phase string) int {
	type where struct {
		name string
		data []byte
	}
	var places []where
	// Each node's own admin password must appear nowhere either (only its
	// hash, in the node's ACL file): keyward sends it over the node's
	// private socket only.
	recs, _ := readNodeRecs(s.e.kw.dataDir)
	for _, r := range recs {
		if pw, err := engine.NodeAdminPassword(s.e.kw.dataDir, r.ID); err == nil {
			s.plain[pw] = "admin password of node " + r.ID
		}
	}
	files, _ := dataFiles(s.e.root)
	nFiles := 0
	for _, f := range files {
		if filepath.Base(f) == "keyward" && filepath.Dir(f) == s.e.root {
			continue // the binary itself
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		nFiles++
		rel, _ := filepath.Rel(s.e.root, f)
		places = append(places, where{rel, b})
	}
	nProcs := 0
	for _, pid := range procsUnder(s.e.root) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil {
			nProcs++
			places = append(places, where{fmt.Sprintf("command line of pid %d", pid), b})
		}
	}
	s.rec.mu.Lock()
	nResp := len(s.rec.resp)
	for i, r := range s.rec.resp {
		places = append(places, where{fmt.Sprintf("API response %d", i+1), r})
	}
	s.rec.mu.Unlock()
	// The nodes' ACLs as the admin sees them hold hashes only.
	if phase == "running" {
		for _, n := range s.e.nodeAddrsAll() {
			admin := adminNodeClient(s.e.kw.dataDir, n, s.e.tls)
			lines, err := admin.Do(context.Background(), "ACL", "LIST").StringSlice()
			admin.Close()
			if err == nil {
				places = append(places, where{"ACL LIST of " + n, []byte(strings.Join(lines, "\n"))})
			}
		}
	}
	hits := 0
	var found []string
	for _, p := range slices.Sorted(maps.Keys(s.plain)) {
		variants := slices.Compact([]string{p, url.QueryEscape(p), url.PathEscape(p)})
		for _, w := range places {
			for _, v := range variants {
				if bytes.Contains(w.data, []byte(v)) {
					hits++
					found = append(found, fmt.Sprintf("%s in %s", s.plain[p], w.name))
					break
				}
			}
		}
	}
	// Positive control: the search does see what is there by design (the
	// master secret in admin.secret; user ids in responses).
	var control []string
	for _, w := range places {
		if bytes.Contains(w.data, []byte(s.e.admin)) || strings.HasPrefix(w.name, "API response") && bytes.Contains(w.data, []byte("s-alice")) {
			control = append(control, w.name)
		}
	}
	s.row("search positive control ("+phase+"): master secret in admin.secret, user ids in responses",
		fmt.Sprintf("found in %d places", len(control)), len(control) > 2)
	logSize := 0
	if st, err := os.Stat(s.e.kw.logPath); err == nil {
		logSize = int(st.Size())
	}
	s.row(fmt.Sprintf("plaintexts in files (%s: %d files incl. the debug log of %d KiB, state.db and its WAL, node dirs), %d command lines, %d responses", phase, nFiles, logSize/1024, nProcs, nResp),
		fmt.Sprintf("%d hits%s", hits, listIf(found)), hits == 0)
	return hits
}

func listIf(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return ": " + firstN(xs, 10)
}

// nodeAddrsAll lists every node of every replication group.
func (e *env) nodeAddrsAll() []string {
	c, hc := e.client()
	defer hc.CloseIdleConnections()
	out, err := c.DescribeReplicationGroups(context.Background(), &elasticache.DescribeReplicationGroupsInput{})
	if err != nil {
		return nil
	}
	var addrs []string
	for _, rg := range out.ReplicationGroups {
		addrs = append(addrs, nodeAddrs(rg)...)
	}
	return addrs
}
