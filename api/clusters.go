package api

import (
	"context"
	"slices"
	"strings"
	"time"

	"keyward"
	"keyward/awsquery"
	"keyward/catalog"
	"keyward/ecapi"
)

// Standalone cache clusters (CreateCacheCluster): Memcached clusters of 1
// to 40 memcached nodes, and single-node Redis/Valkey clusters. A
// CreateCacheCluster with ReplicationGroupId adds a replica to that group
// instead (see joinReplicationGroup).

func init() {
	faults[errKey{keyward.EEXISTS, keyward.ResourceCacheCluster}] = func(m string) awsquery.APIError {
		return &ecapi.CacheClusterAlreadyExistsFault{Message: m}
	}
	faults[errKey{keyward.ESTATE, keyward.ResourceCacheCluster}] = func(m string) awsquery.APIError {
		return &ecapi.InvalidCacheClusterStateFault{Message: m}
	}
	faults[errKey{keyward.EQUOTA, keyward.ResourceCacheCluster}] = func(m string) awsquery.APIError {
		return &ecapi.NodeQuotaForClusterExceededFault{Message: m}
	}
}

// memcachedVersion is the memcached keyward runs (Debian 12's), reported
// when the caller names no EngineVersion.
const memcachedVersion = "1.6.18"

// memcachedClientPage is what ElastiCache reports as a Memcached
// cluster's ClientDownloadLandingPage.
const memcachedClientPage = "https://console.aws.amazon.com/elasticache/home#client-download:"

func clusterKey(cl *keyward.CacheCluster) keyward.Key {
	return keyward.Key{Resource: keyward.ResourceCacheCluster, Scope: cl.Scope, ID: cl.ID}
}

func clusterParameterGroup(e keyward.Engine, version string) string {
	if e == keyward.EngineMemcached {
		// Memcached families are major.minor: default.memcached1.6.
		parts := strings.SplitN(version, ".", 3)
		if len(parts) >= 2 {
			return "default.memcached" + parts[0] + "." + parts[1]
		}
		return "default.memcached" + version
	}
	return defaultParameterGroup(e, version)
}

func combination(format string, args ...any) error {
	return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceCacheCluster, format, args...)
}

func invalidCluster(format string, args ...any) error {
	return keyward.Errorf(keyward.EINVALID, keyward.ResourceCacheCluster, format, args...)
}

func clusterNotFound(id string) error {
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceCacheCluster, "CacheCluster %s not found.", id)
}

// clusterIDTaken reports whether id names a cache cluster of any kind: a
// standalone one or a member of a replication group.
func clusterIDTaken(ctx context.Context, tx keyward.Tx, sc keyward.Scope, id string) (bool, error) {
	if _, err := keyward.Clusters.Get(ctx, tx, sc, id); err == nil {
		return true, nil
	} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
		return false, err
	}
	rgs, err := tx.FindCaches(ctx, sc, keyward.KindReplicationGroup, keyward.CacheFilter{})
	if err != nil {
		return false, err
	}
	for _, rg := range rgs {
		if slices.ContainsFunc(rg.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == id }) {
			return true, nil
		}
	}
	return false, nil
}

// CreateCacheCluster creates a Memcached cluster or a single-node Redis
// cluster, or adds a replica to a replication group.
func (s *Service) CreateCacheCluster(ctx context.Context, in *ecapi.CreateCacheClusterMessage) (*ecapi.CreateCacheClusterResult, error) {
	out, err := s.createCacheCluster(ctx, in)
	return out, apiError(err)
}

func (s *Service) createCacheCluster(ctx context.Context, in *ecapi.CreateCacheClusterMessage) (*ecapi.CreateCacheClusterResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NormalizeClusterID(deref(in.CacheClusterId))
	if err != nil {
		return nil, err
	}
	if in.ReplicationGroupId != nil {
		return s.joinReplicationGroup(ctx, sc, id, in)
	}
	if in.Engine == nil {
		return nil, invalidCluster("The parameter Engine must be provided.")
	}
	engine := keyward.Engine(strings.ToLower(*in.Engine))
	if engine != keyward.EngineMemcached {
		if engine, err = keyward.ParseEngine(*in.Engine); err != nil {
			return nil, invalidCluster("Invalid engine %s: it must be memcached, redis or valkey.", keyward.Quote(*in.Engine))
		}
	}
	mc := engine == keyward.EngineMemcached
	if deref(in.CacheNodeType) == "" {
		return nil, invalidCluster("The parameter CacheNodeType must be provided and must not be blank.")
	}
	if err := checkNodeType(engine, *in.CacheNodeType); err != nil {
		return nil, invalidCluster("%s", keyward.ErrorMessage(err))
	}
	n := 1
	if in.NumCacheNodes != nil {
		n = int(*in.NumCacheNodes)
	}
	switch {
	case n < 1:
		return nil, invalidCluster("The parameter NumCacheNodes must be at least 1.")
	case !mc && n > 1:
		return nil, invalidCluster("Cannot create a %s cluster with a NumCacheNodes parameter greater than 1.", engineTitle(engine))
	case n > keyward.MaxMemcachedNodes:
		return nil, keyward.Errorf(keyward.EQUOTA, keyward.ResourceCacheCluster,
			"The request would exceed the maximum of %d nodes per cluster.", keyward.MaxMemcachedNodes)
	}
	if err := checkEngineSpecific(engine, in); err != nil {
		return nil, err
	}
	if len(in.CacheSecurityGroupNames) > 0 {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, errCacheSecurityGroups)
	}
	if in.OutpostMode != nil || in.PreferredOutpostArn != nil || len(in.PreferredOutpostArns) > 0 {
		return nil, invalidCluster("keyward does not run Outposts: OutpostMode and PreferredOutpostArn(s) are not supported.")
	}
	rs, err := s.restoreFrom(ctx, sc, keyward.ResourceCacheCluster, in.SnapshotName, in.SnapshotArns)
	if err != nil {
		return nil, err
	}
	if rs != nil && (len(rs.sources) != 1 || rs.snap != nil && rs.snap.ClusterMode) {
		return nil, combination("A %s cache cluster is restored from one RDB file: a snapshot of one node group, or one SnapshotArn.", engineTitle(engine))
	}
	if rs != nil && rs.snap != nil && rs.snap.Engine != engine {
		return nil, combination("Snapshot %s is of engine %s, not %s.", rs.snap.ID, rs.snap.Engine, engine)
	}
	if err := checkPort(engine, in.Port); err != nil {
		return nil, err
	}
	now := s.now()
	cl := &keyward.CacheCluster{
		Scope: sc, ID: id, Engine: engine, EngineVersion: deref(in.EngineVersion), CacheNodeType: *in.CacheNodeType,
		Status: keyward.ClusterCreating, StatusSince: now, Generation: 1, CreatedAt: now,
		TransitEncryption: deref(in.TransitEncryptionEnabled),
	}
	if rs != nil {
		cl.RestoreFile = rs.sources[0]
		if rs.snap != nil {
			cl.RestoreSnapshot = rs.snap.ID
			if cl.EngineVersion == "" {
				cl.EngineVersion = rs.snap.EngineVersion
			}
		}
	}
	if in.Port != nil {
		cl.Port = int(*in.Port)
	}
	if cl.EngineVersion == "" {
		cl.EngineVersion = memcachedVersion
		if !mc {
			cl.EngineVersion = defaultEngineVersion(engine)
		}
	}
	if err := checkClusterVersion(engine, cl.EngineVersion); err != nil {
		return nil, err
	}
	if in.AuthToken != nil {
		if !cl.TransitEncryption {
			return nil, combination("AuthToken requires TransitEncryptionEnabled.")
		}
		if err := keyward.ValidateAuthToken(*in.AuthToken); err != nil {
			return nil, err
		}
		cl.AuthTokenHashes = []string{keyward.HashPassword(*in.AuthToken)}
	}
	azs, mode, err := clusterAZs(sc, engine, in.AZMode, in.PreferredAvailabilityZone, in.PreferredAvailabilityZones, n)
	if err != nil {
		return nil, err
	}
	cl.AZMode = mode
	for i, nid := range cl.NextNodeIDs(n) {
		cl.Nodes = append(cl.Nodes, keyward.ClusterNode{ID: nid, AZ: azs[i], CreatedAt: now})
	}
	if cl.Settings, err = clusterCreateSettings(id, cl, in); err != nil {
		return nil, err
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		if taken, err := clusterIDTaken(ctx, tx, sc, id); err != nil {
			return err
		} else if taken {
			return keyward.Errorf(keyward.EEXISTS, keyward.ResourceCacheCluster, "Cache cluster %s already exists.", id)
		}
		if err := checkClusterGroups(ctx, tx, sc, cl, in.PreferredAvailabilityZone == nil && len(in.PreferredAvailabilityZones) == 0); err != nil {
			return err
		}
		if err := keyward.Clusters.Create(ctx, tx, cl); err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNCluster, ID: id}, tags)
	})
	if err != nil {
		return nil, err
	}
	s.notify(clusterKey(cl))
	return &ecapi.CreateCacheClusterResult{CacheCluster: clusterToAPI(cl, false)}, nil
}

// checkClusterGroups checks, in the request's transaction, the parameter
// and subnet groups a cluster's settings name and stores their lower-cased
// names; a user's group becomes a reference of the cluster (so it cannot be
// deleted while in use). The parameter group is applied to the nodes
// (reconcile/cluster.go): a Redis node's as a replication group's, a
// Memcached node's as memcached arguments (memcachedRuns).
//
// place (a create that names no zone) puts the nodes in the zones of a
// user's subnet group: all in its first zone (single-az), or spread over
// them (cross-az), as ElastiCache places a cluster's nodes in its subnets.
func checkClusterGroups(ctx context.Context, tx keyward.Tx, sc keyward.Scope, cl *keyward.CacheCluster, place bool) error {
	st := &cl.Settings
	if n := st.CacheParameterGroupName; n != "" && !strings.EqualFold(n, clusterParameterGroup(cl.Engine, cl.EngineVersion)) {
		var name string
		var err error
		if cl.IsMemcached() {
			name, err = memcachedRuns(ctx, tx, sc, n, cl.EngineVersion)
		} else {
			name, err = useParameterGroup(ctx, tx, sc, &keyward.Cache{Engine: cl.Engine, EngineVersion: cl.EngineVersion}, n)
		}
		if err != nil {
			return err
		}
		st.CacheParameterGroupName = name
	}
	if n := st.CacheSubnetGroupName; n != "" {
		name, err := useSubnetGroup(ctx, tx, sc, n)
		if err != nil {
			return err
		}
		st.CacheSubnetGroupName = name
		if place && name != keyward.DefaultSubnetGroup {
			g, err := findSubnetGroup(ctx, tx, sc, name)
			if err != nil {
				return err
			}
			zones := spreadAZs(g, len(cl.Nodes))
			for i := range min(len(zones), len(cl.Nodes)) {
				cl.Nodes[i].AZ = zones[0]
				if cl.AZMode == ecapi.AZModeCrossAz {
					cl.Nodes[i].AZ = zones[i]
				}
			}
		}
	}
	return nil
}

// memcachedRuns checks that Memcached nodes of version can use parameter
// group name: a group of the version's family (the built-in one, or a
// user's whose values memcached can all run, catalog.MemcachedArgs). It
// returns the lower-cased name.
func memcachedRuns(ctx context.Context, tx keyward.Tx, sc keyward.Scope, name, version string) (string, error) {
	g, stored, err := findParamGroup(ctx, tx, sc, name)
	if err != nil {
		return "", err
	}
	if want := strings.TrimPrefix(clusterParameterGroup(keyward.EngineMemcached, version), "default."); g.family != want {
		return "", combination("The parameter group %s is of family %s, and memcached %s needs family %s.", g.name, g.family, version, want)
	}
	if stored != nil {
		if _, unsupported := catalog.MemcachedArgs(stored.Values); len(unsupported) > 0 {
			return "", combination("keyward cannot run the parameters %s of parameter group %s on memcached nodes.", strings.Join(unsupported, ", "), g.name)
		}
	}
	return g.name, nil
}

// checkClusterVersion accepts the engine version the nodes run, as
// checkEngineVersion does for replication groups: memcached's is Debian's.
func checkClusterVersion(e keyward.Engine, version string) error {
	if e != keyward.EngineMemcached {
		if err := checkEngineVersion(e, version); err != nil {
			return keyward.Errorf(keyward.ErrorCode(err), keyward.ResourceCacheCluster, "%s", keyward.ErrorMessage(err))
		}
		return nil
	}
	if !slices.Contains(servedVersions[e], version) {
		return invalidCluster("Engine version %s is not available here: keyward's nodes run memcached %s.", version, memcachedVersion)
	}
	return nil
}

func engineTitle(e keyward.Engine) string {
	if e == keyward.EngineValkey {
		return "Valkey"
	}
	return "Redis"
}

// checkEngineSpecific refuses the arguments that only Redis clusters take
// on a Memcached cluster, and the Memcached-only ones on Redis.
func checkEngineSpecific(e keyward.Engine, in *ecapi.CreateCacheClusterMessage) error {
	if e != keyward.EngineMemcached {
		if in.AZMode != nil {
			return combination("AZMode is supported only for Memcached clusters.")
		}
		if len(in.PreferredAvailabilityZones) > 1 {
			return combination("A %s cluster has one node: give one PreferredAvailabilityZone.", engineTitle(e))
		}
		return nil
	}
	var bad []string
	if in.AuthToken != nil {
		bad = append(bad, "AuthToken")
	}
	if in.SnapshotRetentionLimit != nil && *in.SnapshotRetentionLimit > 0 {
		bad = append(bad, "SnapshotRetentionLimit")
	}
	if in.SnapshotWindow != nil {
		bad = append(bad, "SnapshotWindow")
	}
	if in.SnapshotName != nil || len(in.SnapshotArns) > 0 {
		bad = append(bad, "SnapshotName/SnapshotArns")
	}
	if len(in.LogDeliveryConfigurations) > 0 {
		bad = append(bad, "LogDeliveryConfigurations")
	}
	if len(bad) > 0 {
		return combination("The parameter %s is not supported for the memcached engine.", strings.Join(bad, ", "))
	}
	return nil
}

// checkPort validates a requested Port: every node listens on it (default
// 6379, memcached 11211), each on its own loopback address.
func checkPort(_ keyward.Engine, port *int32) error {
	if port == nil {
		return nil
	}
	return validPort(*port, keyward.ResourceCacheCluster)
}

// validPort accepts a node port keyward can bind without privileges.
func validPort(port int32, r keyward.Resource) error {
	if port < 1024 || port > 65535 {
		return keyward.Errorf(keyward.EINVALID, r, "Invalid port %d: keyward's nodes listen on ports 1024 to 65535.", port)
	}
	return nil
}

// clusterAZs places n nodes: in one zone (single-az: the preferred one, or
// the region's first), or spread (cross-az: the preferred zones, or a, b,
// c in turn).
func clusterAZs(sc keyward.Scope, e keyward.Engine, azMode, preferred *string, list []string, n int) ([]string, string, error) {
	mode := deref(azMode)
	switch mode {
	case "", ecapi.AZModeSingleAz, ecapi.AZModeCrossAz:
	default:
		return nil, "", invalidCluster("Invalid AZMode %s: it must be single-az or cross-az.", keyward.Quote(mode))
	}
	if preferred != nil && len(list) > 0 {
		return nil, "", combination("PreferredAvailabilityZone and PreferredAvailabilityZones cannot be used together.")
	}
	if len(list) > 0 && len(list) != n {
		return nil, "", combination("The number of PreferredAvailabilityZones (%d) must equal NumCacheNodes (%d).", len(list), n)
	}
	zones := slices.Clone(list)
	if preferred != nil {
		zones = nil
		for range n {
			zones = append(zones, *preferred)
		}
	}
	for _, az := range zones {
		if err := keyward.ValidateAZ(sc.Region, az); err != nil {
			return nil, "", err
		}
	}
	distinct := len(slices.Compact(slices.Sorted(slices.Values(zones))))
	if mode == "" {
		mode = ecapi.AZModeSingleAz
		if distinct > 1 {
			mode = ecapi.AZModeCrossAz
		}
	}
	if e != keyward.EngineMemcached {
		mode = ""
	}
	if mode == ecapi.AZModeCrossAz && n < 2 {
		return nil, "", combination("Cross-AZ mode needs at least 2 cache nodes.")
	}
	if mode == ecapi.AZModeSingleAz && distinct > 1 {
		return nil, "", combination("AZMode single-az cannot place nodes in several Availability Zones.")
	}
	if zones == nil {
		for i := range n {
			az := sc.Region + "a"
			if mode == ecapi.AZModeCrossAz {
				az = sc.Region + string(rune('a'+i%3))
			}
			zones = append(zones, az)
		}
	}
	return zones, mode, nil
}

// clusterCreateSettings reads the stored settings of a new cluster.
func clusterCreateSettings(id string, cl *keyward.CacheCluster, in *ecapi.CreateCacheClusterMessage) (keyward.CacheSettings, error) {
	var s keyward.CacheSettings
	var err error
	snapshot, maint := keyward.DefaultWindows(id)
	s.PreferredMaintenanceWindow = maint
	if !cl.IsMemcached() {
		s.SnapshotWindow = snapshot
		if in.SnapshotWindow != nil {
			s.SnapshotWindow = *in.SnapshotWindow
		}
		if in.SnapshotRetentionLimit != nil {
			if err := keyward.ValidateSnapshotRetention(int(*in.SnapshotRetentionLimit)); err != nil {
				return s, err
			}
			s.SnapshotRetentionLimit = int(*in.SnapshotRetentionLimit)
		}
		if s.LogDelivery, err = logDelivery(in.LogDeliveryConfigurations, nil); err != nil {
			return s, err
		}
	}
	if in.PreferredMaintenanceWindow != nil {
		s.PreferredMaintenanceWindow = *in.PreferredMaintenanceWindow
	}
	if cl.IsMemcached() {
		if s.PreferredMaintenanceWindow, _, err = keyward.ParseMaintenanceWindow(s.PreferredMaintenanceWindow); err != nil {
			return s, err
		}
	} else if err := checkWindows(&s); err != nil {
		return s, err
	}
	// The groups are checked in the create's transaction
	// (checkClusterGroups).
	s.CacheParameterGroupName = clusterParameterGroup(cl.Engine, cl.EngineVersion)
	if in.CacheParameterGroupName != nil {
		s.CacheParameterGroupName = *in.CacheParameterGroupName
	}
	s.CacheSubnetGroupName = keyward.DefaultSubnetGroup
	if in.CacheSubnetGroupName != nil {
		s.CacheSubnetGroupName = *in.CacheSubnetGroupName
	}
	if err := keyward.ValidateSecurityGroupIDs(in.SecurityGroupIds); err != nil {
		return s, err
	}
	s.SecurityGroupIDs = slices.Clone(in.SecurityGroupIds)
	if in.NotificationTopicArn != nil {
		if err := keyward.ValidateTopicARN(*in.NotificationTopicArn); err != nil {
			return s, err
		}
		s.NotificationTopicARN, s.NotificationTopicStatus = *in.NotificationTopicArn, "active"
	}
	s.NoAutoMinorVersionUpgrade = in.AutoMinorVersionUpgrade != nil && !*in.AutoMinorVersionUpgrade
	if s.NetworkType, err = networkType(in.NetworkType); err != nil {
		return s, err
	}
	if s.IPDiscovery, err = networkType(in.IpDiscovery); err != nil {
		return s, err
	}
	return s, nil
}

// clusterNodeStatus is a node's CacheNodeStatus.
func clusterNodeStatus(cl *keyward.CacheCluster, n keyward.ClusterNode) string {
	switch {
	case cl.Status == keyward.ClusterDeleting || n.Removing:
		return "deleting"
	case cl.Status == keyward.ClusterCreateFailed:
		return "create-failed"
	case n.Port == 0 || n.Adding && cl.Status != keyward.ClusterAvailable:
		return "creating"
	case n.Reboot:
		return "rebooting"
	}
	return "available"
}

// clusterToAPI is a standalone cluster as DescribeCacheClusters reports it.
func clusterToAPI(cl *keyward.CacheCluster, showNodes bool) *ecapi.CacheCluster {
	st := cl.Settings
	current := 0
	var removing []string
	for _, n := range cl.Nodes {
		if !n.Adding {
			current++
		}
		if n.Removing {
			removing = append(removing, n.ID)
		}
	}
	out := &ecapi.CacheCluster{
		CacheClusterId: ptr(cl.ID), CacheNodeType: ptr(cl.CacheNodeType), Engine: ptr(string(cl.Engine)),
		EngineVersion: ptr(reportedEngineVersion(cl.Engine, cl.EngineVersion)), CacheClusterStatus: ptr(string(cl.Status)), NumCacheNodes: ptr(int32(current)),
		CacheClusterCreateTime: ptr(cl.CreatedAt), PreferredMaintenanceWindow: ptr(st.PreferredMaintenanceWindow),
		CacheSecurityGroups: []ecapi.CacheSecurityGroupMembership{}, SecurityGroups: []ecapi.SecurityGroupMembership{},
		CacheParameterGroup: &ecapi.CacheParameterGroupStatus{
			CacheParameterGroupName: ptr(st.CacheParameterGroupName), ParameterApplyStatus: ptr("in-sync"), CacheNodeIdsToReboot: []string{},
		},
		CacheSubnetGroupName: ptr(st.CacheSubnetGroupName), AutoMinorVersionUpgrade: ptr(!st.NoAutoMinorVersionUpgrade),
		AuthTokenEnabled: ptr(len(cl.AuthTokenHashes) > 0), TransitEncryptionEnabled: ptr(cl.TransitEncryption),
		AtRestEncryptionEnabled: ptr(false), ARN: ptr(cl.Scope.ARN(keyward.ARNCluster, cl.ID)),
		ReplicationGroupLogDeliveryEnabled: ptr(false), LogDeliveryConfigurations: logDeliveryToAPI(st.LogDelivery),
		NetworkType: ptr(orDefault(st.NetworkType, "ipv4")), IpDiscovery: ptr(orDefault(st.IPDiscovery, "ipv4")),
		PendingModifiedValues: &ecapi.PendingModifiedValues{},
	}
	if !cl.IsMemcached() {
		out.SnapshotRetentionLimit, out.SnapshotWindow = ptr(int32(st.SnapshotRetentionLimit)), ptr(st.SnapshotWindow)
	}
	if cl.TransitEncryption {
		out.TransitEncryptionMode = ptr("required")
	}
	azs := map[string]bool{}
	for _, n := range cl.Nodes {
		azs[n.AZ] = true
	}
	if len(azs) > 1 {
		out.PreferredAvailabilityZone = ptr("Multiple")
	} else if len(cl.Nodes) > 0 {
		out.PreferredAvailabilityZone = ptr(cl.Nodes[0].AZ)
	}
	for _, sg := range st.SecurityGroupIDs {
		out.SecurityGroups = append(out.SecurityGroups, ecapi.SecurityGroupMembership{SecurityGroupId: ptr(sg), Status: ptr("active")})
	}
	if st.NotificationTopicARN != "" {
		out.NotificationConfiguration = &ecapi.NotificationConfiguration{TopicArn: ptr(st.NotificationTopicARN), TopicStatus: ptr(st.NotificationTopicStatus)}
	}
	// A change in progress, or one accepted without ApplyImmediately.
	if target := len(cl.LiveNodes()); target != current {
		out.PendingModifiedValues.NumCacheNodes = ptr(int32(target))
		out.PendingModifiedValues.CacheNodeIdsToRemove = removing
	}
	if cl.PendingNumNodes > 0 {
		out.PendingModifiedValues.NumCacheNodes = ptr(int32(cl.PendingNumNodes))
		out.PendingModifiedValues.CacheNodeIdsToRemove = slices.Clone(cl.PendingRemove)
	}
	if st.PendingCacheNodeType != "" {
		out.PendingModifiedValues.CacheNodeType = ptr(st.PendingCacheNodeType)
	}
	if st.PendingEngineVersion != "" {
		out.PendingModifiedValues.EngineVersion = ptr(reportedEngineVersion(cl.Engine, st.PendingEngineVersion))
	}
	if cl.IsMemcached() {
		out.ClientDownloadLandingPage = ptr(memcachedClientPage)
		// The configuration endpoint is an address of its own whose front
		// answers Auto Discovery and relays to a node (engine.Memcached).
		if cl.ConfigPort != 0 {
			out.ConfigurationEndpoint = endpointAt(cl.ConfigAddress, cl.ConfigPort)
		}
	}
	if showNodes {
		out.CacheNodes = []ecapi.CacheNode{}
		for _, n := range cl.Nodes {
			out.CacheNodes = append(out.CacheNodes, ecapi.CacheNode{
				CacheNodeId: ptr(n.ID), CacheNodeStatus: ptr(clusterNodeStatus(cl, n)), CacheNodeCreateTime: ptr(n.CreatedAt),
				Endpoint: endpointAt(n.Address, n.Port), ParameterGroupStatus: ptr("in-sync"), CustomerAvailabilityZone: ptr(n.AZ),
			})
		}
	}
	return out
}

// getCluster reads a standalone cluster, answering CacheClusterNotFound.
func getCluster(ctx context.Context, tx keyward.Tx, sc keyward.Scope, id string) (*keyward.CacheCluster, error) {
	cl, err := keyward.Clusters.Get(ctx, tx, sc, id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, clusterNotFound(id)
	}
	return cl, err
}

func notAvailable(cl *keyward.CacheCluster) error {
	return keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cache cluster %s is not in available state (it is %s).", cl.ID, cl.Status)
}

// ModifyCacheCluster changes a standalone cluster: its node count (nodes
// added, or the nodes named by CacheNodeIdsToRemove taken away), node type
// (nodes restarted with the new memory) and stored settings.
func (s *Service) ModifyCacheCluster(ctx context.Context, in *ecapi.ModifyCacheClusterMessage) (*ecapi.ModifyCacheClusterResult, error) {
	out, err := s.modifyCacheCluster(ctx, in)
	return out, apiError(err)
}

func (s *Service) modifyCacheCluster(ctx context.Context, in *ecapi.ModifyCacheClusterMessage) (*ecapi.ModifyCacheClusterResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id := strings.ToLower(deref(in.CacheClusterId))
	var cl *keyward.CacheCluster
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := getCluster(ctx, tx, sc, id)
		if err != nil {
			if _, merr := memberOf(ctx, tx, sc, id); merr == nil {
				return invalidCluster("Cache cluster %s is a member of a replication group: modify the replication group.", id)
			}
			return err
		}
		if cur.Status != keyward.ClusterAvailable {
			return notAvailable(cur)
		}
		cl = cur.Clone()
		changed, err := applyClusterModify(s, cl, in)
		if err != nil {
			return err
		}
		if err := checkClusterGroups(ctx, tx, sc, cl, false); err != nil {
			return err
		}
		if !changed {
			return combination("No modifications were requested.")
		}
		cl.Status, cl.StatusSince, cl.Generation = keyward.ClusterModifying, s.now(), cl.Generation+1
		return keyward.Clusters.Update(ctx, tx, cl)
	})
	if err != nil {
		return nil, err
	}
	s.notify(clusterKey(cl))
	return &ecapi.ModifyCacheClusterResult{CacheCluster: clusterToAPI(cl, false)}, nil
}

// applyClusterModify applies a ModifyCacheCluster request to cl and
// reports whether anything changed.
func applyClusterModify(s *Service, cl *keyward.CacheCluster, in *ecapi.ModifyCacheClusterMessage) (bool, error) {
	mc := cl.IsMemcached()
	now := deref(in.ApplyImmediately)
	changed := false
	st := cl.Settings.Clone()
	set := func(dst *string, v *string) {
		if v != nil && *v != *dst {
			*dst, changed = *v, true
		}
	}
	if len(in.CacheSecurityGroupNames) > 0 {
		return false, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, errCacheSecurityGroups)
	}
	if in.ScaleConfig != nil {
		return false, invalidCluster("keyward does not support ScaleConfig (online vertical scaling); change CacheNodeType instead.")
	}
	if mc {
		var bad []string
		if in.AuthToken != nil || in.AuthTokenUpdateStrategy != nil {
			bad = append(bad, "AuthToken")
		}
		if in.SnapshotRetentionLimit != nil && *in.SnapshotRetentionLimit > 0 {
			bad = append(bad, "SnapshotRetentionLimit")
		}
		if in.SnapshotWindow != nil {
			bad = append(bad, "SnapshotWindow")
		}
		if len(in.LogDeliveryConfigurations) > 0 {
			bad = append(bad, "LogDeliveryConfigurations")
		}
		if len(bad) > 0 {
			return false, combination("The parameter %s is not supported for the memcached engine.", strings.Join(bad, ", "))
		}
	} else {
		if in.AZMode != nil || len(in.NewAvailabilityZones) > 0 {
			return false, combination("AZMode and NewAvailabilityZones are supported only for Memcached clusters.")
		}
		if in.AuthToken != nil || in.AuthTokenUpdateStrategy != nil {
			return false, invalidCluster("keyward does not support changing the AUTH token of a cache cluster yet.")
		}
	}
	if in.Engine != nil && !strings.EqualFold(*in.Engine, string(cl.Engine)) {
		return false, invalidCluster("The engine of a cache cluster cannot be changed from %s to %s.", cl.Engine, keyward.Quote(*in.Engine))
	}
	if err := clusterNodeCount(cl, in, now, s.now(), &changed); err != nil {
		return false, err
	}
	if in.AZMode != nil && *in.AZMode != cl.AZMode {
		switch *in.AZMode {
		case ecapi.AZModeSingleAz:
			zones := map[string]bool{}
			for _, n := range cl.LiveNodes() {
				zones[n.AZ] = true
			}
			if len(zones) > 1 {
				return false, invalidCluster("You cannot specify single-az: the Memcached cluster already has cache nodes in different Availability Zones.")
			}
		case ecapi.AZModeCrossAz:
		default:
			return false, invalidCluster("Invalid AZMode %s: it must be single-az or cross-az.", keyward.Quote(*in.AZMode))
		}
		cl.AZMode, changed = *in.AZMode, true
	}
	if v := in.CacheNodeType; v != nil && *v != cl.CacheNodeType {
		if mc {
			if _, err := keyward.MemcachedMemoryMB(*v); err != nil {
				return false, err
			}
		}
		if now {
			cl.CacheNodeType, st.PendingCacheNodeType = *v, ""
		} else {
			st.PendingCacheNodeType = *v
		}
		changed = true
	}
	// An engine upgrade, now or pending, as for replication groups
	// (rgModifySettings).
	if v := in.EngineVersion; v != nil && *v != cl.EngineVersion {
		if err := checkClusterVersion(cl.Engine, *v); err != nil {
			return false, err
		}
		if err := checkUpgrade(cl.Engine, cl.EngineVersion, *v); err != nil {
			return false, keyward.Errorf(keyward.ErrorCode(err), keyward.ResourceCacheCluster, "%s", keyward.ErrorMessage(err))
		}
		if now {
			cl.EngineVersion, st.PendingEngineVersion, changed = *v, "", true
		} else if *v != st.PendingEngineVersion {
			st.PendingEngineVersion, changed = *v, true
		}
	} else if v != nil && st.PendingEngineVersion != "" {
		st.PendingEngineVersion, changed = "", true
	}
	if in.CacheParameterGroupName != nil && !strings.EqualFold(*in.CacheParameterGroupName, st.CacheParameterGroupName) {
		// Checked in the modify's transaction (checkClusterGroups).
		st.CacheParameterGroupName, changed = *in.CacheParameterGroupName, true
	}
	if in.SecurityGroupIds != nil && !slices.Equal(in.SecurityGroupIds, st.SecurityGroupIDs) {
		if err := keyward.ValidateSecurityGroupIDs(in.SecurityGroupIds); err != nil {
			return false, err
		}
		st.SecurityGroupIDs, changed = slices.Clone(in.SecurityGroupIds), true
	}
	if v := in.PreferredMaintenanceWindow; v != nil && *v != st.PreferredMaintenanceWindow {
		w, _, err := keyward.ParseMaintenanceWindow(*v)
		if err != nil {
			return false, err
		}
		if w != st.PreferredMaintenanceWindow {
			st.PreferredMaintenanceWindow, changed = w, true
		}
	}
	if v := in.NotificationTopicArn; v != nil && *v != st.NotificationTopicARN {
		if *v != "" {
			if err := keyward.ValidateTopicARN(*v); err != nil {
				return false, err
			}
		}
		st.NotificationTopicARN, changed = *v, true
		if st.NotificationTopicStatus == "" {
			st.NotificationTopicStatus = "active"
		}
	}
	if v := in.NotificationTopicStatus; v != nil {
		if *v != "active" && *v != "inactive" {
			return false, invalidCluster("Invalid NotificationTopicStatus %s: it must be active or inactive.", keyward.Quote(*v))
		}
		set(&st.NotificationTopicStatus, v)
	}
	if v := in.AutoMinorVersionUpgrade; v != nil && !*v != st.NoAutoMinorVersionUpgrade {
		st.NoAutoMinorVersionUpgrade, changed = !*v, true
	}
	if in.IpDiscovery != nil {
		v, err := networkType(in.IpDiscovery)
		if err != nil {
			return false, err
		}
		set(&st.IPDiscovery, &v)
	}
	if !mc {
		if v := in.SnapshotRetentionLimit; v != nil && int(*v) != st.SnapshotRetentionLimit {
			if err := keyward.ValidateSnapshotRetention(int(*v)); err != nil {
				return false, err
			}
			st.SnapshotRetentionLimit, changed = int(*v), true
		}
		set(&st.SnapshotWindow, in.SnapshotWindow)
		if len(in.LogDeliveryConfigurations) > 0 {
			ld, err := logDelivery(in.LogDeliveryConfigurations, st.LogDelivery)
			if err != nil {
				return false, err
			}
			if !slices.Equal(ld, st.LogDelivery) {
				st.LogDelivery, changed = ld, true
			}
		}
		if changed {
			if err := checkWindows(&st); err != nil {
				return false, err
			}
		}
	}
	cl.Settings = st
	return changed, nil
}

// clusterNodeCount applies NumCacheNodes / CacheNodeIdsToRemove /
// NewAvailabilityZones: at once with ApplyImmediately (new nodes marked
// Adding, removed ones Removing), or as a pending change otherwise.
func clusterNodeCount(cl *keyward.CacheCluster, in *ecapi.ModifyCacheClusterMessage, now bool, t time.Time, changed *bool) error {
	live := cl.LiveNodes()
	if in.NumCacheNodes == nil {
		if len(in.CacheNodeIdsToRemove) > 0 || len(in.NewAvailabilityZones) > 0 {
			return combination("CacheNodeIdsToRemove and NewAvailabilityZones require NumCacheNodes.")
		}
		if now && cl.PendingNumNodes > 0 {
			// ApplyImmediately applies a change accepted before.
			in = &ecapi.ModifyCacheClusterMessage{NumCacheNodes: ptr(int32(cl.PendingNumNodes)), CacheNodeIdsToRemove: cl.PendingRemove, NewAvailabilityZones: cl.PendingAZs}
		} else {
			return nil
		}
	}
	n := int(*in.NumCacheNodes)
	switch {
	case n < 1:
		return invalidCluster("The parameter NumCacheNodes must be at least 1.")
	case !cl.IsMemcached() && n != 1:
		return invalidCluster("Cannot modify a %s cluster to have more than 1 node.", engineTitle(cl.Engine))
	case n > keyward.MaxMemcachedNodes:
		return keyward.Errorf(keyward.EQUOTA, keyward.ResourceCacheCluster,
			"The request would exceed the maximum of %d nodes per cluster.", keyward.MaxMemcachedNodes)
	}
	remove := slices.Compact(slices.Sorted(slices.Values(in.CacheNodeIdsToRemove)))
	switch {
	case n > len(live) && len(remove) > 0:
		return combination("CacheNodeIdsToRemove cannot be used when NumCacheNodes adds nodes.")
	case n > len(live) && len(in.NewAvailabilityZones) > 0 && len(in.NewAvailabilityZones) != n-len(live):
		return combination("The number of NewAvailabilityZones (%d) must equal the number of nodes added (%d).", len(in.NewAvailabilityZones), n-len(live))
	case n < len(live) && len(remove) != len(live)-n:
		return combination("To remove %d cache nodes, CacheNodeIdsToRemove must name %d nodes (it names %d).", len(live)-n, len(live)-n, len(remove))
	case n == len(live) && (len(remove) > 0 || len(in.NewAvailabilityZones) > 0):
		return combination("NumCacheNodes %d is the current number of nodes: there is nothing to add or remove.", n)
	case n < len(live) && len(in.NewAvailabilityZones) > 0:
		return combination("NewAvailabilityZones cannot be used when NumCacheNodes removes nodes.")
	}
	for _, r := range remove {
		if !slices.ContainsFunc(live, func(nd keyward.ClusterNode) bool { return nd.ID == r }) {
			return invalidCluster("Cache node %s does not exist in cache cluster %s.", r, cl.ID)
		}
	}
	for _, az := range in.NewAvailabilityZones {
		if err := keyward.ValidateAZ(cl.Scope.Region, az); err != nil {
			return err
		}
	}
	if n == len(live) {
		if cl.PendingNumNodes > 0 {
			cl.PendingNumNodes, cl.PendingRemove, cl.PendingAZs, *changed = 0, nil, nil, true
		}
		return nil
	}
	*changed = true
	if !now {
		cl.PendingNumNodes, cl.PendingRemove, cl.PendingAZs = n, remove, slices.Clone(in.NewAvailabilityZones)
		return nil
	}
	cl.PendingNumNodes, cl.PendingRemove, cl.PendingAZs = 0, nil, nil
	for i := range cl.Nodes {
		if slices.Contains(remove, cl.Nodes[i].ID) {
			cl.Nodes[i].Removing = true
		}
	}
	if add := n - len(live); add > 0 {
		for i, nid := range cl.NextNodeIDs(add) {
			az := live[0].AZ
			switch {
			case i < len(in.NewAvailabilityZones):
				az = in.NewAvailabilityZones[i]
			case cl.AZMode == ecapi.AZModeCrossAz:
				az = cl.Scope.Region + string(rune('a'+(len(live)+i)%3))
			}
			cl.Nodes = append(cl.Nodes, keyward.ClusterNode{ID: nid, AZ: az, CreatedAt: t, Adding: true})
		}
	}
	return nil
}

// DeleteCacheCluster deletes a standalone cluster (its nodes are stopped),
// or removes a replica member cluster from its replication group.
func (s *Service) DeleteCacheCluster(ctx context.Context, in *ecapi.DeleteCacheClusterMessage) (*ecapi.DeleteCacheClusterResult, error) {
	out, err := s.deleteCacheCluster(ctx, in)
	return out, apiError(err)
}

func (s *Service) deleteCacheCluster(ctx context.Context, in *ecapi.DeleteCacheClusterMessage) (*ecapi.DeleteCacheClusterResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id := strings.ToLower(deref(in.CacheClusterId))
	var cl *keyward.CacheCluster
	var member *ecapi.CacheCluster
	var final *keyward.Snapshot
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		final = nil
		cur, err := getCluster(ctx, tx, sc, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			if rg, merr := memberOf(ctx, tx, sc, id); merr == nil {
				member, err = s.leaveReplicationGroup(ctx, tx, rg, id, in)
			}
			return err
		} else if err != nil {
			return err
		}
		if in.FinalSnapshotIdentifier != nil {
			if cur.IsMemcached() {
				return combination("Snapshots are not supported for the memcached engine: FinalSnapshotIdentifier cannot be used.")
			}
			// The final snapshot first; the reconciler deletes the
			// cluster once it is taken (a failed one keeps it).
			name := *in.FinalSnapshotIdentifier
			if _, err := snapshotArgs(keyward.ResourceSnapshot, name, true, nil, nil); err != nil {
				return err
			}
			snap, err := s.startClusterSnapshot(ctx, tx, sc, id, name, nil, true)
			if err != nil {
				return err
			}
			final = snap
			cl, err = getCluster(ctx, tx, sc, id)
			return err
		}
		if cur.Status != keyward.ClusterAvailable && cur.Status != keyward.ClusterCreateFailed {
			return notAvailable(cur)
		}
		cl = cur.Clone()
		cl.Status, cl.StatusSince, cl.Generation = keyward.ClusterDeleting, s.now(), cl.Generation+1
		return keyward.Clusters.Update(ctx, tx, cl)
	})
	if err != nil {
		return nil, err
	}
	if member != nil {
		s.notify(keyward.Key{Resource: keyward.ResourceReplicationGroup, Scope: sc, ID: deref(member.ReplicationGroupId)})
		return &ecapi.DeleteCacheClusterResult{CacheCluster: member}, nil
	}
	if final != nil {
		s.notify(snapshotKey(sc, final.ID))
	}
	s.notify(clusterKey(cl))
	return &ecapi.DeleteCacheClusterResult{CacheCluster: clusterToAPI(cl, false)}, nil
}

// RebootCacheCluster restarts the named nodes' processes for real: the
// cluster is "rebooting cache cluster nodes" and the nodes "rebooting"
// until each runs again (a memcached node comes back empty; a Redis node
// keeps its append-only data).
func (s *Service) RebootCacheCluster(ctx context.Context, in *ecapi.RebootCacheClusterMessage) (*ecapi.RebootCacheClusterResult, error) {
	out, err := s.rebootCacheCluster(ctx, in)
	return out, apiError(err)
}

func (s *Service) rebootCacheCluster(ctx context.Context, in *ecapi.RebootCacheClusterMessage) (*ecapi.RebootCacheClusterResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id := strings.ToLower(deref(in.CacheClusterId))
	if len(in.CacheNodeIdsToReboot) == 0 {
		return nil, invalidCluster("The parameter CacheNodeIdsToReboot must contain at least one cache node id.")
	}
	var cl *keyward.CacheCluster
	var member *ecapi.CacheCluster
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		member = nil
		cur, err := getCluster(ctx, tx, sc, id)
		if err != nil {
			if rg, merr := memberOf(ctx, tx, sc, id); merr == nil {
				member, err = rebootMember(ctx, tx, rg, id, in.CacheNodeIdsToReboot, s.now())
			}
			return err
		}
		if cur.Status != keyward.ClusterAvailable {
			return notAvailable(cur)
		}
		cl = cur.Clone()
		for _, nid := range in.CacheNodeIdsToReboot {
			i := slices.IndexFunc(cl.Nodes, func(n keyward.ClusterNode) bool { return n.ID == nid })
			if i < 0 {
				return invalidCluster("Cache node %s does not exist in cache cluster %s.", nid, id)
			}
			cl.Nodes[i].Reboot = true
		}
		cl.Status, cl.StatusSince, cl.Generation = keyward.ClusterRebooting, s.now(), cl.Generation+1
		return keyward.Clusters.Update(ctx, tx, cl)
	})
	if err != nil {
		return nil, err
	}
	if member != nil {
		s.notify(keyward.Key{Resource: keyward.ResourceReplicationGroup, Scope: sc, ID: deref(member.ReplicationGroupId)})
		return &ecapi.RebootCacheClusterResult{CacheCluster: member}, nil
	}
	s.notify(clusterKey(cl))
	return &ecapi.RebootCacheClusterResult{CacheCluster: clusterToAPI(cl, false)}, nil
}

// rebootMember marks the node of a replication group's member cluster for
// a restart, which the reconciler performs (reconcile/restarts.go): the
// node's process restarts with its data, its ACLs and the parameter
// group's requires-reboot values.
func rebootMember(ctx context.Context, tx keyward.Tx, rg *keyward.Cache, clusterID string, nodeIDs []string, now time.Time) (*ecapi.CacheCluster, error) {
	for _, nid := range nodeIDs {
		if nid != "0001" {
			return nil, invalidCluster("Cache node %s does not exist in cache cluster %s.", nid, clusterID)
		}
	}
	i := slices.IndexFunc(rg.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == clusterID })
	if rg.Status != keyward.CacheAvailable || rg.Nodes[i].Port == 0 || rg.Nodes[i].Reboot || rg.ActiveUpdate() != nil {
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cache cluster %s is not in available state.", clusterID)
	}
	next := rg.Clone()
	next.Nodes[i].Reboot = true
	next.Generation++
	if err := tx.UpdateCache(ctx, next); err != nil {
		return nil, err
	}
	cc := memberCluster(next, i, next.Nodes[i])
	cc.CacheClusterStatus = ptr(string(keyward.ClusterRebooting))
	return &cc, nil
}
