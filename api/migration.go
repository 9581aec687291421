package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"keyward"
	"keyward/ecapi"
)

// Online migration from a Redis server keyward does not run.
//
// Into a replication group (cluster mode disabled): StartMigration makes
// the group's primary a replica of the source (REPLICAOF, through the
// reconciler, see reconcile/migration.go), its replicas following the
// primary as always, so the group holds the source's keys and follows its
// writes; the group is "migrating" and takes no writes. CompleteMigration
// waits until the primary is in sync (Force: not), makes it a primary
// again, and the group is available and writable.
//
// Into a serverless cache (the newest model's PrepareMigration and
// StopMigration): PrepareMigration checks the source and records it
// (Migration.Status prepared), StartMigration starts the sync (syncing),
// StopMigration stops it (stopped; the cache keeps what it received and
// takes writes), and CompleteMigration (or AutoCutover, once in sync)
// cuts over. ElastiCache also routes the application's requests on the
// migration endpoint to the source until cutover; keyward does not proxy:
// the cache's endpoint serves the replicated data read-only meanwhile.
//
// What a source and a target must be (docs/migration.md lists each rule
// with its origin). ElastiCache's, from its user guide ("Preparing your
// source and target nodes for migration"): into a replication group, the
// source has no Redis AUTH and is replicated over a plain connection (no
// TLS: StartMigration has no TLS setting), runs Redis OSS 2.8.21 or later,
// has the target's number of logical databases, and is cluster mode
// disabled for a cluster-mode-disabled target; the target runs Redis OSS
// 5.0.6 or later (any Valkey), has no in-transit encryption, has Multi-AZ,
// no data tiering, and is in no global datastore. keyward's own: sources
// on loopback only (127.0.0.0/8, ::1: it reaches no other host), targets
// cluster mode disabled only, and, into serverless caches, sources without
// AUTH or TLS (ElastiCache takes SourceAuthenticationConfiguration and
// SourceTlsConfiguration there; keyward has no Secrets Manager).

// sourceDialTimeout bounds the reachability check of a source.
const sourceDialTimeout = 2 * time.Second

// migrationSource checks a CustomerNodeEndpointList of one endpoint and
// returns its address as host:port.
func migrationSource(list []ecapi.CustomerNodeEndpoint, res keyward.Resource) (string, error) {
	if len(list) == 0 {
		return "", keyward.Errorf(keyward.EINVALID, res, "The parameter CustomerNodeEndpointList must contain one endpoint.")
	}
	if len(list) > 1 {
		return "", keyward.Errorf(keyward.EINVALID, res, "The parameter CustomerNodeEndpointList must contain only one endpoint for a cluster-mode-disabled or serverless target; it has %d.", len(list))
	}
	host, port := strings.TrimSpace(deref(list[0].Address)), deref(list[0].Port)
	if host == "" {
		return "", keyward.Errorf(keyward.EINVALID, res, "The endpoint's Address is required.")
	}
	if port < 1 || port > 65535 {
		return "", keyward.Errorf(keyward.EINVALID, res, "The endpoint's Port must be between 1 and 65535.")
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", keyward.Errorf(keyward.EINVALID, res, "Invalid source endpoint %s: keyward reaches migration sources on loopback addresses (127.0.0.0/8, ::1) only.", keyward.Quote(host))
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

// sourceInfo is what probeSource learned of a source.
type sourceInfo struct {
	version   string // redis_version of INFO server
	databases int    // CONFIG GET databases; 0 when the source does not say
}

// Online migration's requirements, from ElastiCache's "Preparing your
// source and target nodes for migration": a cluster-mode-disabled source
// runs Redis OSS 2.8.21 or later, a target 5.0.6 or later (any Valkey).
const (
	minSourceVersion = "2.8.21"
	minTargetVersion = "5.0.6"
)

// probeSource checks that a Redis server answers at addr as ElastiCache's
// online migration needs its source to: without AUTH, over an unencrypted
// connection (replication from the source does not use TLS), not in
// cluster mode, and a version it replicates from. It returns what it
// learned for the checks against the target (checkSourceFits).
func probeSource(ctx context.Context, addr string, res keyward.Resource) (sourceInfo, error) {
	var si sourceInfo
	d := net.Dialer{Timeout: sourceDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return si, keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s is not reachable: connection failed.", addr)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(sourceDialTimeout))
	r := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n*2\r\n$4\r\nINFO\r\n$7\r\ncluster\r\n" +
		"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$9\r\ndatabases\r\n")); err != nil {
		return si, keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s is not reachable: %v.", addr, err)
	}
	notRedis := keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s does not answer as a Redis server over an unencrypted connection; online migration replicates from a source without TLS.", addr)
	if b, err := r.Peek(1); err == nil && (b[0] == 0x15 || b[0] == 0x16) {
		return si, notRedis // a TLS record: an alert or a handshake
	}
	pong, err := readRESP(r)
	switch {
	case err != nil:
		return si, notRedis
	case strings.HasPrefix(pong, "-NOAUTH") || strings.HasPrefix(pong, "-WRONGPASS"):
		return si, keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s requires authentication: online migration replicates only from a source without Redis AUTH.", addr)
	case pong != "+PONG":
		return si, notRedis
	}
	server, err := readRESP(r)
	if err != nil {
		return si, notRedis
	}
	cluster, err := readRESP(r)
	if err != nil {
		return si, notRedis
	}
	if dbs, err := readRESP(r); err == nil {
		// An array (name, value) as one string per element; an error when
		// CONFIG is renamed or refused: the count is then not known.
		if name, v, ok := strings.Cut(dbs, "\n"); ok && name == "databases" {
			si.databases, _ = strconv.Atoi(v)
		}
	}
	si.version = infoField(server, "redis_version")
	if si.version == "" {
		return si, notRedis
	}
	if keyward.MaxEngineVersion(si.version, minSourceVersion) != si.version {
		return si, keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s runs Redis %s: online migration replicates from Redis OSS %s or later.", addr, si.version, minSourceVersion)
	}
	if infoField(cluster, "cluster_enabled") == "1" {
		return si, keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s runs in cluster mode; keyward migrates into cluster-mode-disabled targets only, which take a cluster-mode-disabled source.", addr)
	}
	return si, nil
}

// infoField returns a field of an INFO reply ("" when absent).
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
			return v
		}
	}
	return ""
}

// checkSourceFits checks the source against the target replication group:
// the same number of logical databases (ElastiCache's requirement; checked
// when the source answers CONFIG GET databases).
func checkSourceFits(ctx context.Context, tx keyward.Tx, c *keyward.Cache, addr string, si sourceInfo) error {
	if si.databases == 0 {
		return nil
	}
	want, err := targetDatabases(ctx, tx, c)
	if err != nil {
		return err
	}
	if si.databases != want {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "The source endpoint %s has %d logical databases and replication group %s has %d: online migration needs the same number (the databases parameter).", addr, si.databases, c.ID, want)
	}
	return nil
}

// targetDatabases is the number of logical databases of a replication
// group's nodes: its parameter group's databases, else the default 16.
func targetDatabases(ctx context.Context, tx keyward.Tx, c *keyward.Cache) (int, error) {
	name := c.Settings.CacheParameterGroupName
	if name != "" && !keyward.IsBuiltInParameterGroup(name) {
		g, err := keyward.CacheParameterGroups.Get(ctx, tx, c.Scope, name)
		if err != nil && keyward.ErrorCode(err) != keyward.ENOTFOUND {
			return 0, err
		}
		if err == nil {
			if n, err := strconv.Atoi(g.Values["databases"]); err == nil {
				return n, nil
			}
		}
	}
	return 16, nil
}

// readRESP reads one reply: a status or error line as is ("+PONG",
// "-NOAUTH ..."), a bulk string as its content, an array of bulk strings
// as its elements joined by newlines.
func readRESP(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "*") {
		n, err := strconv.Atoi(line[1:])
		if err != nil || n > 64 {
			return "", fmt.Errorf("bad array length %q", line)
		}
		elems := make([]string, 0, max(n, 0))
		for range n {
			e, err := readRESP(r)
			if err != nil {
				return "", err
			}
			elems = append(elems, e)
		}
		return strings.Join(elems, "\n"), nil
	}
	if !strings.HasPrefix(line, "$") {
		return line, nil
	}
	n, err := strconv.Atoi(line[1:])
	if n == -1 && err == nil {
		return "", nil // a null bulk string
	}
	if err != nil || n < 0 || n > 1<<20 {
		return "", fmt.Errorf("bad bulk length %q", line)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// ownEndpoint refuses a source that is one of the target's own nodes.
func ownEndpoint(c *keyward.Cache, addr string, res keyward.Resource) error {
	for _, n := range c.Nodes {
		if n.Port != 0 && net.JoinHostPort(nodeHost, strconv.Itoa(n.Port)) == addr {
			return keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s is a node of %s itself; online migration moves data from a Redis server outside ElastiCache.", addr, c.ID)
		}
	}
	return nil
}

func underMigration(c *keyward.Cache) error {
	if c.Kind == keyward.KindServerless {
		return keyward.Errorf(keyward.EMIGRATING, keyward.ResourceServerlessCache, "Serverless cache %s is already under migration.", c.ID)
	}
	return keyward.Errorf(keyward.EMIGRATING, keyward.ResourceReplicationGroup, "Replication group %s is already under migration.", c.ID)
}

func notUnderMigration(c *keyward.Cache) error {
	if c.Kind == keyward.KindServerless {
		return keyward.Errorf(keyward.ENOTMIGRATING, keyward.ResourceServerlessCache, "Serverless cache %s is not under migration.", c.ID)
	}
	return keyward.Errorf(keyward.ENOTMIGRATING, keyward.ResourceReplicationGroup, "Replication group %s is not under migration.", c.ID)
}

func notAvailableCache(c *keyward.Cache) error {
	return keyward.Errorf(keyward.ESTATE, c.Kind.Resource(), "%s %s is not in available state (it is %s).", kindName(c.Kind), c.ID, c.ShownStatus())
}

func kindName(k keyward.CacheKind) string {
	if k == keyward.KindServerless {
		return "Serverless cache"
	}
	return "Replication group"
}

// migrationTarget names the target of StartMigration or CompleteMigration:
// a replication group or (newest model) a serverless cache, not both.
func migrationTarget(rg, serverless *string) (keyward.CacheKind, string, error) {
	switch {
	case rg != nil && serverless != nil:
		return "", "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, "Specify either ReplicationGroupId or ServerlessCacheName, not both.")
	case rg != nil:
		return keyward.KindReplicationGroup, strings.ToLower(*rg), nil
	case serverless != nil:
		return keyward.KindServerless, strings.ToLower(*serverless), nil
	}
	return "", "", keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "The parameter ReplicationGroupId (or ServerlessCacheName) is required.")
}

// migrate runs change on the stored cache in one transaction and returns
// the changed cache (or the current one when change returns false).
func (s *Service) migrate(ctx context.Context, kind keyward.CacheKind, id string, change func(c *keyward.Cache) (bool, error)) (*keyward.Cache, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	var c *keyward.Cache
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, sc, kind, id)
		if err != nil {
			return err
		}
		c = cur.Clone()
		changed, err := change(c)
		if err != nil || !changed {
			return err
		}
		c.Generation++
		return tx.UpdateCache(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	s.notify(cacheKey(c))
	return c, nil
}

// view reads a cache.
func (s *Service) view(ctx context.Context, kind keyward.CacheKind, id string) (*keyward.Cache, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	var c *keyward.Cache
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		c, err = tx.FindCacheByID(ctx, sc, kind, id)
		return err
	})
	return c, err
}

// StartMigration starts replicating a replication group (or a prepared
// serverless cache) from its source.
func (s *Service) StartMigration(ctx context.Context, in *ecapi.StartMigrationMessage) (*ecapi.StartMigrationResponse, error) {
	out, err := s.startMigration(ctx, in)
	return out, apiError(err)
}

func (s *Service) startMigration(ctx context.Context, in *ecapi.StartMigrationMessage) (*ecapi.StartMigrationResponse, error) {
	kind, id, err := migrationTarget(in.ReplicationGroupId, in.ServerlessCacheName)
	if err != nil {
		return nil, err
	}
	res := kind.Resource()
	if kind == keyward.KindServerless {
		return s.startServerlessMigration(ctx, id, in)
	}
	if in.AutoCutover != nil || in.ClearTargetCacheData != nil {
		return nil, keyward.Errorf(keyward.ECOMBINATION, res, "AutoCutover and ClearTargetCacheData apply to serverless cache migrations only.")
	}
	cur, err := s.view(ctx, kind, id)
	if err != nil {
		return nil, err
	}
	addr, err := s.groupSource(ctx, cur, in.CustomerNodeEndpointList)
	if err != nil {
		return nil, err
	}
	c, err := s.migrate(ctx, kind, id, func(c *keyward.Cache) (bool, error) {
		if err := checkMigrationTarget(c); err != nil {
			return false, err
		}
		now := s.now()
		c.Migration = &keyward.CacheMigration{Source: addr, Status: keyward.MigrationSyncing, Since: now, Started: true}
		c.Status, c.StatusSince = keyward.CacheMigrating, now
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecapi.StartMigrationResponse{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

// groupSource checks a StartMigration or TestMigration into replication
// group cur: the target, then the source (CustomerNodeEndpointList), which
// must answer as online migration needs and fit the target. It returns the
// source's address.
func (s *Service) groupSource(ctx context.Context, cur *keyward.Cache, list []ecapi.CustomerNodeEndpoint) (string, error) {
	const res = keyward.ResourceReplicationGroup
	if err := checkMigrationTarget(cur); err != nil {
		return "", err
	}
	addr, err := migrationSource(list, res)
	if err != nil {
		return "", err
	}
	if err := ownEndpoint(cur, addr, res); err != nil {
		return "", err
	}
	si, err := probeSource(ctx, addr, res)
	if err != nil {
		return "", err
	}
	return addr, s.Store.View(ctx, func(tx keyward.Tx) error { return checkSourceFits(ctx, tx, cur, addr, si) })
}

// checkMigrationTarget checks that a replication group can start (or test)
// a migration: ElastiCache's requirements of a target (engine version,
// no in-transit encryption, Multi-AZ, no data tiering, not in a global
// datastore), and keyward's own: cluster mode disabled.
func checkMigrationTarget(c *keyward.Cache) error {
	const res = keyward.ResourceReplicationGroup
	if c.Migration != nil {
		return underMigration(c)
	}
	if c.Status != keyward.CacheAvailable {
		return notAvailableCache(c)
	}
	switch {
	case c.ClusterMode:
		// ElastiCache migrates into cluster mode too (one endpoint, a
		// source with the same number of shards); keyward does not.
		return keyward.Errorf(keyward.EINVALID, res, "Replication group %s has cluster mode enabled; keyward migrates into cluster-mode-disabled replication groups only.", c.ID)
	case c.Global != nil:
		// Its primary replicates from (or to) another region already.
		return keyward.Errorf(keyward.EINVALID, res, "Replication group %s is a member of a global datastore; data cannot be migrated into it.", c.ID)
	case c.Engine == keyward.EngineRedis && keyward.MaxEngineVersion(c.EngineVersion, minTargetVersion) != c.EngineVersion:
		return keyward.Errorf(keyward.EINVALID, res, "Replication group %s runs Redis %s: online migration needs Redis OSS %s or later.", c.ID, c.EngineVersion, minTargetVersion)
	case strings.HasPrefix(c.CacheNodeType, "cache.r6gd."):
		return keyward.Errorf(keyward.EINVALID, res, "Replication group %s uses node type %s, which has data tiering: online migration is not supported on it.", c.ID, c.CacheNodeType)
	case c.TransitEncryption:
		return keyward.Errorf(keyward.EINVALID, res, "Replication group %s has in-transit encryption enabled: online migration needs a target without it.", c.ID)
	case !c.Settings.MultiAZ:
		return keyward.Errorf(keyward.EINVALID, res, "Replication group %s does not have Multi-AZ enabled: online migration needs it.", c.ID)
	}
	return nil
}

func (s *Service) startServerlessMigration(ctx context.Context, id string, in *ecapi.StartMigrationMessage) (*ecapi.StartMigrationResponse, error) {
	var addr string
	if len(in.CustomerNodeEndpointList) > 0 {
		a, err := migrationSource(in.CustomerNodeEndpointList, keyward.ResourceServerlessCache)
		if err != nil {
			return nil, err
		}
		addr = a
	}
	cur, err := s.view(ctx, keyward.KindServerless, id)
	if err != nil {
		return nil, err
	}
	check := func(c *keyward.Cache) error {
		m := c.Migration
		switch {
		case m == nil:
			return keyward.Errorf(keyward.ENOTMIGRATING, keyward.ResourceServerlessCache, "Serverless cache %s is not under migration: call PrepareMigration first.", c.ID)
		case m.Status == keyward.MigrationSyncing || m.Status == keyward.MigrationCompleting:
			return underMigration(c)
		case c.Status != keyward.CacheAvailable:
			return notAvailableCache(c)
		case addr != "" && addr != m.Source:
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "The endpoint %s differs from %s, the source PrepareMigration was given.", addr, m.Source)
		case m.Started && !deref(in.ClearTargetCacheData):
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "Serverless cache %s already received data from an earlier data sync: set ClearTargetCacheData to start it again.", c.ID)
		}
		return nil
	}
	if err := check(cur); err != nil {
		return nil, err
	}
	if _, err := probeSource(ctx, cur.Migration.Source, keyward.ResourceServerlessCache); err != nil {
		return nil, err
	}
	c, err := s.migrate(ctx, keyward.KindServerless, id, func(c *keyward.Cache) (bool, error) {
		if err := check(c); err != nil {
			return false, err
		}
		// The sync is a full replication, which replaces what the cache
		// holds: ClearTargetCacheData is what it does anyway.
		m := c.Migration
		m.Status, m.Since, m.Started, m.AutoCutover, m.Force = keyward.MigrationSyncing, s.now(), true, deref(in.AutoCutover), false
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecapi.StartMigrationResponse{ServerlessCache: serverlessToAPI(c)}, nil
}

// TestMigration checks that a replication group could migrate from the
// source: the group is available and not migrating, and the source answers
// as a Redis server without AUTH and without cluster mode. A failed check
// answers InvalidParameterValue saying why.
func (s *Service) TestMigration(ctx context.Context, in *ecapi.TestMigrationMessage) (*ecapi.TestMigrationResponse, error) {
	out, err := s.testMigration(ctx, in)
	return out, apiError(err)
}

func (s *Service) testMigration(ctx context.Context, in *ecapi.TestMigrationMessage) (*ecapi.TestMigrationResponse, error) {
	cur, err := s.view(ctx, keyward.KindReplicationGroup, strings.ToLower(deref(in.ReplicationGroupId)))
	if err != nil {
		return nil, err
	}
	if _, err := s.groupSource(ctx, cur, in.CustomerNodeEndpointList); err != nil {
		return nil, err
	}
	return &ecapi.TestMigrationResponse{ReplicationGroup: replicationGroupToAPI(cur)}, nil
}

// CompleteMigration cuts over: the primary stops following the source
// once in sync (at once with Force) and the cache takes writes again.
func (s *Service) CompleteMigration(ctx context.Context, in *ecapi.CompleteMigrationMessage) (*ecapi.CompleteMigrationResponse, error) {
	out, err := s.completeMigration(ctx, in)
	return out, apiError(err)
}

func (s *Service) completeMigration(ctx context.Context, in *ecapi.CompleteMigrationMessage) (*ecapi.CompleteMigrationResponse, error) {
	kind, id, err := migrationTarget(in.ReplicationGroupId, in.ServerlessCacheName)
	if err != nil {
		return nil, err
	}
	force := deref(in.Force)
	c, err := s.migrate(ctx, kind, id, func(c *keyward.Cache) (bool, error) {
		m := c.Migration
		switch {
		case m == nil:
			return false, notUnderMigration(c)
		case m.Status == keyward.MigrationCompleting && (m.Force || !force):
			return false, keyward.Errorf(keyward.ESTATE, kind.Resource(), "The migration into %s is already completing.", c.ID)
		case m.Status == keyward.MigrationPrepared || m.Status == keyward.MigrationStopped:
			if !force {
				return false, keyward.Errorf(keyward.ESTATE, kind.Resource(), "The migration into %s has no data sync running: start it with StartMigration, or end the migration with Force.", c.ID)
			}
			c.Migration = nil // nothing follows the source: the migration just ends
			return true, nil
		}
		m.Status, m.Since, m.Force = keyward.MigrationCompleting, s.now(), force
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if kind == keyward.KindServerless {
		return &ecapi.CompleteMigrationResponse{ServerlessCache: serverlessToAPI(c)}, nil
	}
	return &ecapi.CompleteMigrationResponse{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

// PrepareMigration checks a serverless cache and a source for a live
// migration and records the source (Migration.Status prepared).
func (s *Service) PrepareMigration(ctx context.Context, in *ecapi.PrepareMigrationRequest) (*ecapi.PrepareMigrationResponse, error) {
	out, err := s.prepareMigration(ctx, in)
	return out, apiError(err)
}

func (s *Service) prepareMigration(ctx context.Context, in *ecapi.PrepareMigrationRequest) (*ecapi.PrepareMigrationResponse, error) {
	const res = keyward.ResourceServerlessCache
	id := strings.ToLower(deref(in.ServerlessCacheName))
	if a := in.SourceAuthenticationConfiguration; a != nil && a.SecretManagerConfig != nil {
		return nil, keyward.Errorf(keyward.EINVALID, res, "keyward has no Secrets Manager to read source credentials from: migrate from a source without authentication.")
	}
	if t := in.SourceTlsConfiguration; t != nil {
		if mode := deref(t.SourceTlsMode); mode != "" && mode != ecapi.TlsModeNone || t.SourceTlsCertificate != nil {
			return nil, keyward.Errorf(keyward.EINVALID, res, "keyward migrates from sources without TLS: SourceTlsMode must be none.")
		}
	}
	addr, err := migrationSource(in.CustomerNodeEndpointList, res)
	if err != nil {
		return nil, err
	}
	cur, err := s.view(ctx, keyward.KindServerless, id)
	if err != nil {
		return nil, err
	}
	check := func(c *keyward.Cache) error {
		if c.Migration != nil {
			return underMigration(c)
		}
		if c.Status != keyward.CacheAvailable {
			return notAvailableCache(c)
		}
		return ownEndpoint(c, addr, res)
	}
	if err := check(cur); err != nil {
		return nil, err
	}
	if _, err := probeSource(ctx, addr, res); err != nil {
		return nil, err
	}
	c, err := s.migrate(ctx, keyward.KindServerless, id, func(c *keyward.Cache) (bool, error) {
		if err := check(c); err != nil {
			return false, err
		}
		c.Migration = &keyward.CacheMigration{Source: addr, Status: keyward.MigrationPrepared, Since: s.now()}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecapi.PrepareMigrationResponse{ServerlessCache: serverlessToAPI(c)}, nil
}

// StopMigration stops a serverless cache's data sync: the cache keeps what
// it received and takes writes; StartMigration (ClearTargetCacheData) can
// start the sync again.
func (s *Service) StopMigration(ctx context.Context, in *ecapi.StopMigrationRequest) (*ecapi.StopMigrationResponse, error) {
	out, err := s.stopMigration(ctx, in)
	return out, apiError(err)
}

func (s *Service) stopMigration(ctx context.Context, in *ecapi.StopMigrationRequest) (*ecapi.StopMigrationResponse, error) {
	id := strings.ToLower(deref(in.ServerlessCacheName))
	c, err := s.migrate(ctx, keyward.KindServerless, id, func(c *keyward.Cache) (bool, error) {
		m := c.Migration
		switch {
		case m == nil:
			return false, notUnderMigration(c)
		case m.Status == keyward.MigrationCompleting:
			return false, keyward.Errorf(keyward.ESTATE, keyward.ResourceServerlessCache, "The migration into %s is in cutover; its data sync cannot be stopped.", c.ID)
		case m.Status != keyward.MigrationSyncing:
			return false, keyward.Errorf(keyward.ESTATE, keyward.ResourceServerlessCache, "The migration into %s has no data sync running (it is %s).", c.ID, m.Status)
		}
		m.Status, m.Since = keyward.MigrationStopped, s.now()
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecapi.StopMigrationResponse{ServerlessCache: serverlessToAPI(c)}, nil
}

// migrationSummary is a serverless cache's Migration as
// DescribeServerlessCaches shows it.
func migrationSummary(c *keyward.Cache) *ecapi.MigrationSummary {
	m := c.Migration
	if m == nil {
		return nil
	}
	mode := "manual"
	if m.AutoCutover {
		mode = "auto"
	}
	out := &ecapi.MigrationSummary{Status: ptr(m.Status), CutoverMode: ptr(mode)}
	if len(c.Nodes) > 0 {
		out.MigrationEndpoint = endpointAt(c.Nodes[0].Address, c.Nodes[0].Port)
	}
	return out
}
