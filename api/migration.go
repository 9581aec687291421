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
// Sources are reached on loopback only, without AUTH or TLS (keyward has
// no Secrets Manager to hold source credentials), and must not run in
// cluster mode.

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

// probeSource checks that a Redis server answers at addr without
// credentials and does not run in cluster mode.
func probeSource(ctx context.Context, addr string, res keyward.Resource) error {
	d := net.Dialer{Timeout: sourceDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s is not reachable: connection failed.", addr)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(sourceDialTimeout))
	r := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$7\r\ncluster\r\n")); err != nil {
		return keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s is not reachable: %v.", addr, err)
	}
	pong, err := readRESP(r)
	switch {
	case err != nil:
		return keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s does not answer as a Redis server.", addr)
	case strings.HasPrefix(pong, "-NOAUTH") || strings.HasPrefix(pong, "-WRONGPASS"):
		return keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s requires authentication; keyward migrates only from sources without AUTH.", addr)
	case pong != "+PONG":
		return keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s does not answer as a Redis server.", addr)
	}
	info, err := readRESP(r)
	if err != nil {
		return keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s does not answer as a Redis server.", addr)
	}
	if strings.Contains(info, "cluster_enabled:1") {
		return keyward.Errorf(keyward.EINVALID, res, "The source endpoint %s runs in cluster mode; the target is cluster-mode disabled.", addr)
	}
	return nil
}

// readRESP reads one simple reply: a status or error line as is ("+PONG",
// "-NOAUTH ..."), a bulk string as its content.
func readRESP(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "$") {
		return line, nil
	}
	n, err := strconv.Atoi(line[1:])
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
	if err := checkMigrationTarget(cur); err != nil {
		return nil, err
	}
	addr, err := migrationSource(in.CustomerNodeEndpointList, res)
	if err != nil {
		return nil, err
	}
	if err := ownEndpoint(cur, addr, res); err != nil {
		return nil, err
	}
	if err := probeSource(ctx, addr, res); err != nil {
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

// checkMigrationTarget checks that a replication group can start (or test)
// a migration.
func checkMigrationTarget(c *keyward.Cache) error {
	if c.Migration != nil {
		return underMigration(c)
	}
	if c.Status != keyward.CacheAvailable {
		return notAvailableCache(c)
	}
	if c.ClusterMode {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Replication group %s has cluster mode enabled; keyward migrates into cluster-mode-disabled replication groups only.", c.ID)
	}
	if c.Global != nil {
		// Its primary replicates from (or to) another region already.
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Replication group %s is a member of a global datastore; data cannot be migrated into it.", c.ID)
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
	if err := probeSource(ctx, cur.Migration.Source, keyward.ResourceServerlessCache); err != nil {
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
	if err := checkMigrationTarget(cur); err != nil {
		return nil, err
	}
	addr, err := migrationSource(in.CustomerNodeEndpointList, keyward.ResourceReplicationGroup)
	if err != nil {
		return nil, err
	}
	if err := ownEndpoint(cur, addr, keyward.ResourceReplicationGroup); err != nil {
		return nil, err
	}
	if err := probeSource(ctx, addr, keyward.ResourceReplicationGroup); err != nil {
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
	if err := probeSource(ctx, addr, res); err != nil {
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
