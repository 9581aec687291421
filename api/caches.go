package api

import (
	"context"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// nodeHost is where nodes without an address of their own listen (those
// of an earlier keyward, memcached nodes, platforms that cannot bind other
// loopback addresses).
const nodeHost = "127.0.0.1"

func cacheKey(c *keyward.Cache) keyward.Key {
	return keyward.Key{Resource: c.Kind.Resource(), Scope: c.Scope, ID: c.ID}
}

// shownUserGroups is what Describe shows as the attached groups: the stored
// relation holds the desired attachment at once, while ElastiCache keeps
// showing the old list until the change is applied (O RBAC23).
func shownUserGroups(c *keyward.Cache) []string {
	ids := slices.DeleteFunc(slices.Clone(c.UserGroupIDs), func(id string) bool { return slices.Contains(c.PendingUserGroupsAdd, id) })
	for _, id := range c.PendingUserGroupsRemove {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return nonNil(ids)
}

// endpointAt is the endpoint addr:port ("" addr: nodeHost); nil before the
// node has a port.
func endpointAt(addr string, port int) *ecapi.Endpoint {
	if port == 0 {
		return nil
	}
	if addr == "" {
		addr = nodeHost
	}
	return &ecapi.Endpoint{Address: ptr(addr), Port: ptr(int32(port))}
}

// groupEndpoints are a cluster-mode-disabled group's primary and reader
// endpoints: their own addresses, which follow the roles, at the nodes'
// port; without those (nodes on 127.0.0.1), the primary's and the first
// replica's own endpoints.
func groupEndpoints(c *keyward.Cache) (primary, reader *ecapi.Endpoint) {
	if len(c.Nodes) == 0 {
		return nil, nil
	}
	p := c.PrimaryIndex()
	pn := c.Nodes[p]
	if c.PrimaryAddress != "" && c.ReaderAddress != "" {
		return endpointAt(c.PrimaryAddress, pn.Port), endpointAt(c.ReaderAddress, pn.Port)
	}
	primary, reader = endpointAt(pn.Address, pn.Port), endpointAt(pn.Address, pn.Port)
	for i, n := range c.Nodes {
		if i != p && n.Port != 0 {
			reader = endpointAt(n.Address, n.Port)
			break
		}
	}
	return primary, reader
}

func nodeStatus(c *keyward.Cache) string {
	switch c.ShownStatus() {
	case keyward.CacheCreating, keyward.CacheDeleting:
		return string(c.ShownStatus())
	case keyward.CacheCreateFailed:
		return "create-failed"
	case keyward.CacheSnapshotting:
		return "snapshotting"
	}
	return "available"
}

// Shown for a member whose process is down or does not answer keyward
// (being restarted), as ElastiCache shows a node it is recovering; the
// cache itself then shows modifying.
const (
	downNodeStatus    = "rebooting"
	downClusterStatus = "rebooting cluster nodes"
)

// nodeDown reports whether the engine knows node n of c to be down or not
// answering. Only an available cache is judged: other statuses say more.
func (s *Service) nodeDown(c *keyward.Cache, n keyward.CacheNode) bool {
	if s.NodeUp == nil || c.Status != keyward.CacheAvailable {
		return false
	}
	up, known := s.NodeUp(c.NodeID(n.ClusterID))
	return known && !up
}

// anyNodeDown reports whether some node of c is down (see nodeDown).
func (s *Service) anyNodeDown(c *keyward.Cache) bool {
	for _, n := range c.Nodes {
		if s.nodeDown(c, n) {
			return true
		}
	}
	return false
}

func enabledString(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func replicationGroupToAPI(c *keyward.Cache) *ecapi.ReplicationGroup {
	out := &ecapi.ReplicationGroup{
		ReplicationGroupId:         ptr(c.ID),
		Description:                ptr(c.Description),
		Status:                     ptr(string(c.ShownStatus())),
		MemberClusters:             []string{},
		AutomaticFailover:          ptr(enabledString(c.Settings.AutomaticFailover)),
		MultiAZ:                    ptr(enabledString(c.Settings.MultiAZ)),
		SnapshotRetentionLimit:     ptr(int32(c.Settings.SnapshotRetentionLimit)),
		SnapshotWindow:             ptr(c.Settings.Effective(c.ID).SnapshotWindow),
		LogDeliveryConfigurations:  logDeliveryToAPI(c.Settings.LogDelivery),
		ClusterEnabled:             ptr(false),
		CacheNodeType:              ptr(c.CacheNodeType),
		AuthTokenEnabled:           ptr(c.AuthTokenEnabled()),
		TransitEncryptionEnabled:   ptr(c.TransitEncryption),
		AtRestEncryptionEnabled:    ptr(c.Settings.AtRestEncryption),
		ARN:                        ptr(c.Scope.ARN(keyward.ARNReplicationGroup, c.ID)),
		UserGroupIds:               shownUserGroups(c),
		ReplicationGroupCreateTime: ptr(c.CreatedAt),
		DataTiering:                ptr(enabledString(c.Settings.DataTiering)),
		AutoMinorVersionUpgrade:    ptr(!c.Settings.NoAutoMinorVersionUpgrade),
		NetworkType:                ptr(orDefault(c.Settings.NetworkType, "ipv4")),
		IpDiscovery:                ptr(orDefault(c.Settings.IPDiscovery, "ipv4")),
		ClusterMode:                ptr("disabled"),
		Engine:                     ptr(string(c.Engine)),
	}
	if c.TransitEncryption {
		out.TransitEncryptionMode = ptr(transitMode(c))
	}
	out.GlobalReplicationGroupInfo = globalInfo(c)
	if c.Settings.KmsKeyID != "" {
		out.KmsKeyId = ptr(c.Settings.KmsKeyID)
	}
	if c.Settings.SnapshottingClusterID != "" {
		out.SnapshottingClusterId = ptr(c.Settings.SnapshottingClusterID)
	}
	if !c.AuthTokenLastModified.IsZero() {
		out.AuthTokenLastModifiedDate = ptr(c.AuthTokenLastModified)
	}
	group := ecapi.NodeGroup{NodeGroupId: ptr("0001"), Status: ptr(nodeStatus(c)), NodeGroupMembers: []ecapi.NodeGroupMember{}}
	for i, n := range c.Nodes {
		out.MemberClusters = append(out.MemberClusters, n.ClusterID)
		group.NodeGroupMembers = append(group.NodeGroupMembers, ecapi.NodeGroupMember{
			CacheClusterId: ptr(n.ClusterID), CacheNodeId: ptr("0001"), ReadEndpoint: endpointAt(n.Address, n.Port),
			PreferredAvailabilityZone: ptr(nodeAZ(c, i)), CurrentRole: ptr(n.Role),
		})
	}
	group.PrimaryEndpoint, group.ReaderEndpoint = groupEndpoints(c)
	out.NodeGroups = []ecapi.NodeGroup{group}
	if c.ClusterMode {
		out.ClusterEnabled, out.ClusterMode = ptr(true), ptr("enabled")
		out.NodeGroups = clusterModeNodeGroups(c)
		if len(c.Nodes) > 0 {
			// ElastiCache's is a DNS name for every node; keyward reports
			// the first primary, from which cluster clients learn the rest.
			out.ConfigurationEndpoint = endpointAt(c.Nodes[0].Address, c.Nodes[0].Port)
		}
	}
	if c.HasPendingUserGroups() {
		out.PendingModifiedValues = &ecapi.ReplicationGroupPendingModifiedValues{UserGroups: &ecapi.UserGroupsUpdateStatus{
			UserGroupIdsToAdd: nonNil(slices.Clone(c.PendingUserGroupsAdd)), UserGroupIdsToRemove: nonNil(slices.Clone(c.PendingUserGroupsRemove)),
		}}
	} else {
		out.PendingModifiedValues = &ecapi.ReplicationGroupPendingModifiedValues{}
	}
	if p := c.Settings.PendingPrimaryClusterID; p != "" {
		out.PendingModifiedValues.PrimaryClusterId = ptr(p)
	}
	if c.Resharding != nil {
		out.PendingModifiedValues.Resharding = &ecapi.ReshardingStatus{SlotMigration: &ecapi.SlotMigration{ProgressPercentage: ptr(c.Resharding.Progress())}}
	}
	return out
}

// promoteMember applies ModifyReplicationGroup's PrimaryClusterId to c (cur
// as stored): with applyNow, the reconciler hands the primary role over to
// the member cluster id as a TestFailover does, but to that member;
// otherwise the promotion waits in PendingModifiedValues, as ElastiCache
// keeps it for the maintenance window. ElastiCache promotes a replica
// only in a group with a single primary and without automatic failover
// (Replication.PromoteReplica); the messages are keyward's.
func promoteMember(ctx context.Context, tx keyward.Tx, cur, c *keyward.Cache, rawID string, applyNow bool) (changed, async bool, err error) {
	id := strings.ToLower(rawID)
	if c.ClusterMode {
		return false, false, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"PrimaryClusterId applies only to a replication group with a single primary; %s runs in cluster mode (use TestFailover for a node group).", c.ID)
	}
	i := slices.IndexFunc(c.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == id })
	if i < 0 {
		// A cluster of this scope, standalone or another group's member,
		// is not this group's; anything else does not exist.
		if exists, err := clusterIDTaken(ctx, tx, c.Scope, id); err != nil {
			return false, false, err
		} else if !exists {
			return false, false, clusterNotFound(id)
		}
		return false, false, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Cache cluster %s is not a member of replication group %s.", id, c.ID)
	}
	if cur.Settings.AutomaticFailover {
		return false, false, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"A read replica cannot be promoted to primary while automatic failover is enabled on replication group %s; disable automatic failover first.", c.ID)
	}
	if c.Settings.AutomaticFailover {
		return false, false, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"PrimaryClusterId cannot be given with AutomaticFailoverEnabled true.")
	}
	pending := c.Settings.PendingPrimaryClusterID
	if i == 0 { // already the primary: nothing to promote, nor pending
		c.Settings.PendingPrimaryClusterID = ""
		return pending != "", false, nil
	}
	if !applyNow {
		c.Settings.PendingPrimaryClusterID = id
		return pending != id, false, nil
	}
	c.Settings.PendingPrimaryClusterID = ""
	c.TestFailover, c.TestFailoverFrom, c.TestFailoverTo = "0001", c.Nodes[0].ClusterID, id
	return true, true, nil
}

// engineVersion is reported when the caller names none: the Redis OSS
// version Debian ships and keyward tests against.
func defaultEngineVersion(e keyward.Engine) string {
	if e == keyward.EngineValkey {
		return "7.2"
	}
	return "7.0"
}

// attachableGroup loads a user group that a cache of engine e may use.
func attachableGroup(ctx context.Context, tx keyward.Tx, sc keyward.Scope, id string, e keyward.Engine) (*keyward.UserGroup, error) {
	gid, err := keyward.NormalizeUserGroupID(id)
	if err != nil {
		return nil, err
	}
	g, err := tx.FindUserGroupByID(ctx, sc, gid)
	if err != nil {
		return nil, err
	}
	if g.Status != keyward.UserGroupActive {
		return nil, keyward.Errorf(keyward.ESTATE, keyward.ResourceUserGroup, "User group %s has status %s. Only active user groups can be associated.", gid, g.Status)
	}
	if g.Engine == keyward.EngineValkey && e != keyward.EngineValkey {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUserGroup, "VALKEY user groups can only be associated to VALKEY clusters.")
	}
	return g, nil
}

// checkDurability accepts the Durability keyward provides: its replicas
// follow the primary with plain asynchronous Redis replication, which is
// ElastiCache's "async" (and its "default" for cluster-mode-disabled
// groups). Synchronous or disabled durability would be silently wrong.
func checkDurability(d *string) error {
	switch deref(d) {
	case "", ecapi.DurabilityDefault, ecapi.DurabilityAsync:
		return nil
	}
	return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "keyward supports Durability %s or %s only (asynchronous replication).", ecapi.DurabilityDefault, ecapi.DurabilityAsync)
}

const errNeedsTLS = "User group based access control requires encryption-in-transit to be enabled on the replication group."

// CreateReplicationGroup creates a cluster-mode-disabled replication group:
// NumCacheClusters nodes (or 1 + ReplicasPerNodeGroup), the first primary.
func (s *Service) CreateReplicationGroup(ctx context.Context, in *ecapi.CreateReplicationGroupMessage) (*ecapi.CreateReplicationGroupResult, error) {
	out, err := s.createReplicationGroup(ctx, in)
	return out, apiError(err)
}

func (s *Service) createReplicationGroup(ctx context.Context, in *ecapi.CreateReplicationGroupMessage) (*ecapi.CreateReplicationGroupResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NormalizeReplicationGroupID(deref(in.ReplicationGroupId))
	if err != nil {
		return nil, err
	}
	var primary *keyward.CacheCluster
	if in.PrimaryClusterId != nil {
		// An existing cluster becomes the primary (fromcluster.go): its
		// settings complete the input.
		if primary, in, err = s.fromCluster(ctx, sc, in); err != nil {
			return nil, err
		}
	}
	if in.GlobalReplicationGroupId != nil {
		// A secondary: the global datastore's settings complete the input.
		if in, err = s.joinGlobal(ctx, sc, in); err != nil {
			return nil, err
		}
	}
	engine := keyward.EngineRedis
	if in.Engine != nil {
		if engine, err = keyward.ParseEngine(*in.Engine); err != nil {
			return nil, err
		}
	}
	if err := s.checkNodeGroups(int(deref(in.NumNodeGroups)), len(in.NodeGroupConfiguration)); err != nil {
		return nil, err
	}
	if strings.EqualFold(deref(in.ClusterMode), "compatible") {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "keyward does not support ClusterMode compatible: create the group with cluster mode enabled or disabled.")
	}
	if deref(in.NumNodeGroups) > 1 || len(in.NodeGroupConfiguration) > 1 || strings.EqualFold(deref(in.ClusterMode), "enabled") ||
		strings.HasSuffix(deref(in.CacheParameterGroupName), ".cluster.on") || s.clusterModeSnapshot(ctx, sc, in.SnapshotName) {
		return s.createClusterModeGroup(ctx, sc, id, engine, in)
	}
	if len(in.SnapshotArns) > 1 {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "A replication group with cluster mode disabled is restored from one RDB file: give one SnapshotArn, or enable cluster mode.")
	}
	if err := checkDurability(in.Durability); err != nil {
		return nil, err
	}
	n := 1
	switch {
	case in.NumCacheClusters != nil && in.ReplicasPerNodeGroup != nil:
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "NumCacheClusters and ReplicasPerNodeGroup cannot be used together.")
	case in.NumCacheClusters != nil:
		n = int(*in.NumCacheClusters)
	case in.ReplicasPerNodeGroup != nil:
		n = int(*in.ReplicasPerNodeGroup) + 1
	}
	if n < 1 || n > 6 {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "A replication group must have between 1 and 6 cache clusters (0 to 5 replicas).")
	}
	tls := deref(in.TransitEncryptionEnabled)
	if len(in.UserGroupIds) > 1 {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "A replication group supports only one user group.")
	}
	if len(in.UserGroupIds) > 0 && in.AuthToken != nil {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "AuthToken and UserGroupIds cannot be used together.")
	}
	if len(in.UserGroupIds) > 0 && !tls {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, errNeedsTLS)
	}
	now := s.now()
	c := &keyward.Cache{
		Kind: keyward.KindReplicationGroup, Scope: sc, ID: id, Description: deref(in.ReplicationGroupDescription),
		Engine: engine, EngineVersion: deref(in.EngineVersion), CacheNodeType: deref(in.CacheNodeType),
		Status: keyward.CacheCreating, StatusSince: now, Generation: 1, CreatedAt: now,
		NumNodes: n, TransitEncryption: tls,
	}
	rs, err := s.restoreFrom(ctx, sc, keyward.ResourceReplicationGroup, in.SnapshotName, in.SnapshotArns, in.ServerlessCacheSnapshotName)
	if err != nil {
		return nil, err
	}
	if rs != nil && rs.snap == nil {
		c.RestoreFile = rs.sources[0] // an S3 object
	}
	if rs != nil && rs.snap != nil {
		// The snapshot's settings are the defaults of the restored group.
		snap := rs.snap
		if in.Engine != nil && snap.Engine != engine {
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "Snapshot %s is of engine %s, not %s.", snap.ID, snap.Engine, engine)
		}
		c.Engine, c.RestoreSnapshot, c.RestoreFile, c.RestoreServerless = snap.Engine, snap.ID, snap.File, snap.Serverless
		if in.EngineVersion == nil {
			c.EngineVersion = snap.EngineVersion
		}
		if in.CacheNodeType == nil && !snap.Serverless { // a serverless cache has no node type
			c.CacheNodeType = snap.CacheNodeType
		}
	}
	if c.EngineVersion == "" {
		c.EngineVersion = defaultEngineVersion(engine)
	}
	if c.CacheNodeType == "" {
		c.CacheNodeType = "cache.t4g.micro"
	}
	if err := checkNodeType(engine, c.CacheNodeType); err != nil {
		return nil, err
	}
	if err := checkEngineVersion(engine, c.EngineVersion); err != nil {
		return nil, err
	}
	if in.AuthToken != nil {
		if !tls {
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "AuthToken requires TransitEncryptionEnabled.")
		}
		if err := keyward.ValidateAuthToken(*in.AuthToken); err != nil {
			return nil, err
		}
		c.AuthTokenHashes, c.AuthTokenLastModified = []string{keyward.HashPassword(*in.AuthToken)}, now
	}
	for i, cid := range keyward.ClusterIDs(id, n) {
		role := "replica"
		if i == 0 {
			role = "primary"
		}
		c.Nodes = append(c.Nodes, keyward.CacheNode{ClusterID: cid, Role: role})
	}
	if c.Settings, err = rgCreateSettings(sc, id, c, in); err != nil {
		return nil, err
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	var globalKey keyward.Key
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		if _, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, id); err == nil {
			return keyward.Errorf(keyward.EEXISTS, keyward.ResourceReplicationGroup, "Replication group %s already exists.", id)
		} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
			return err
		}
		if primary != nil {
			if err := adoptPrimary(ctx, tx, c, primary); err != nil {
				return err
			}
		}
		if err := checkCacheGroups(ctx, tx, sc, c); err != nil {
			return err
		}
		c.UserGroupIDs = nil
		for _, gid := range in.UserGroupIds {
			g, err := attachableGroup(ctx, tx, sc, gid, engine)
			if err != nil {
				return err
			}
			c.UserGroupIDs = append(c.UserGroupIDs, g.ID)
		}
		if c.RestoreSnapshot != "" {
			// Checked again in the transaction: the cache's reference
			// holds the snapshot from here until the group is available.
			if err := stillRestorable(ctx, tx, c); err != nil {
				return err
			}
		}
		if err := s.checkCacheQuotas(ctx, tx, c); err != nil {
			return err
		}
		if in.GlobalReplicationGroupId != nil {
			if globalKey, err = s.addSecondary(ctx, tx, c, *in.GlobalReplicationGroupId); err != nil {
				return err
			}
		}
		if err := tx.CreateCache(ctx, c); err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNReplicationGroup, ID: id}, tags)
	})
	if err != nil {
		return nil, err
	}
	s.notify(cacheKey(c))
	if primary != nil {
		s.notify(clusterKey(primary))
	}
	if globalKey.ID != "" {
		s.notify(globalKey)
	}
	return &ecapi.CreateReplicationGroupResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

// DescribeReplicationGroups lists replication groups.
func (s *Service) DescribeReplicationGroups(ctx context.Context, in *ecapi.DescribeReplicationGroupsMessage) (*ecapi.ReplicationGroupMessage, error) {
	out, err := s.describeReplicationGroups(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeReplicationGroups(ctx context.Context, in *ecapi.DescribeReplicationGroupsMessage) (*ecapi.ReplicationGroupMessage, error) {
	caches, marker, err := s.findCaches(ctx, keyward.KindReplicationGroup, in.ReplicationGroupId, in.MaxRecords, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &ecapi.ReplicationGroupMessage{ReplicationGroups: []ecapi.ReplicationGroup{}, Marker: marker}
	for _, c := range caches {
		rg := replicationGroupToAPI(c)
		if s.anyNodeDown(c) {
			rg.Status = ptr("modifying")
			rg.NodeGroups[0].Status = ptr("modifying")
		}
		out.ReplicationGroups = append(out.ReplicationGroups, *rg)
	}
	return out, nil
}

// findCaches serves the Describe operations of both cache kinds.
func (s *Service) findCaches(ctx context.Context, kind keyward.CacheKind, id *string, maxRecords *int32, marker *string) ([]*keyward.Cache, *string, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, nil, err
	}
	page, err := parsePage(maxRecords, marker)
	if err != nil {
		return nil, nil, keyward.Errorf(keyward.EINVALID, kind.Resource(), "%s", keyward.ErrorMessage(err))
	}
	f := keyward.CacheFilter{AfterID: page.after, Limit: page.max + 1}
	if id != nil {
		f.ID = strings.ToLower(*id)
	}
	var caches []*keyward.Cache
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		caches, err = tx.FindCaches(ctx, sc, kind, f)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if f.ID != "" && len(caches) == 0 && page.after == "" {
		return nil, nil, notFound(kind, f.ID)
	}
	var next *string
	if len(caches) > page.max {
		caches, next = caches[:page.max], ptr(encodeMarker(caches[page.max-1].ID))
	}
	return caches, next, nil
}

// findCache loads the cache rawID of a kind (ids are lower-cased), or
// answers ElastiCache's not-found fault for the kind.
func findCache(ctx context.Context, tx keyward.Tx, sc keyward.Scope, kind keyward.CacheKind, rawID string) (*keyward.Cache, error) {
	id := strings.ToLower(rawID)
	c, err := tx.FindCacheByID(ctx, sc, kind, id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, notFound(kind, id)
	}
	return c, err
}

// cacheNotAvailable is the fault for a cache that must be available: "<kind>
// <id> is not in available state (it is <status>)."
func cacheNotAvailable(c *keyward.Cache) error {
	r := c.Kind.Resource()
	return keyward.Errorf(keyward.ESTATE, r, "%s %s is not in available state (it is %s).", r.Noun(), c.ID, c.Status)
}

func notFound(kind keyward.CacheKind, id string) error {
	if kind == keyward.KindServerless {
		return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceServerlessCache, "Serverless cache %s not found.", id)
	}
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceReplicationGroup, "Replication group %s not found.", id)
}

// ModifyReplicationGroup changes the description, the attached user group
// and the AUTH token, with ElastiCache's rules for moving between AUTH and
// RBAC (spec §11.3). Group and token changes are applied by the reconciler.
func (s *Service) ModifyReplicationGroup(ctx context.Context, in *ecapi.ModifyReplicationGroupMessage) (*ecapi.ModifyReplicationGroupResult, error) {
	out, err := s.modifyReplicationGroup(ctx, in)
	return out, apiError(err)
}

func (s *Service) modifyReplicationGroup(ctx context.Context, in *ecapi.ModifyReplicationGroupMessage) (*ecapi.ModifyReplicationGroupResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id := strings.ToLower(deref(in.ReplicationGroupId))
	if err := checkDurability(in.Durability); err != nil {
		return nil, err
	}
	strategy := strings.ToUpper(deref(in.AuthTokenUpdateStrategy))
	if in.AuthToken != nil {
		if strategy == ecapi.AuthTokenUpdateStrategyTypeDelete {
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "AuthToken cannot be given with AuthTokenUpdateStrategy DELETE.")
		}
		if err := keyward.ValidateAuthToken(*in.AuthToken); err != nil {
			return nil, err
		}
	}
	var c *keyward.Cache
	var groupKeys []keyward.Key
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		groupKeys = groupKeys[:0]
		cur, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, id)
		if err != nil {
			return err
		}
		if cur.Status != keyward.CacheAvailable {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is not in available state (it is %s).", id, cur.Status)
		}
		if err := globalMemberModify(cur, in); err != nil {
			return err
		}
		c = cur.Clone()
		changed, async := false, false
		if in.ReplicationGroupDescription != nil && *in.ReplicationGroupDescription != c.Description {
			c.Description, changed = *in.ReplicationGroupDescription, true
		}
		before := c.Settings.CacheParameterGroupName
		settingsChanged, settingsAsync, err := rgModifySettings(c, in)
		if err != nil {
			return err
		}
		changed, async = changed || settingsChanged, settingsAsync
		if err := checkCacheGroups(ctx, tx, sc, c); err != nil {
			return err
		}
		if c.Settings.CacheParameterGroupName != before {
			async = true // the reconciler applies the new group's parameters
		}
		// User groups.
		remove := slices.Clone(in.UserGroupIdsToRemove)
		if deref(in.RemoveUserGroups) {
			remove = slices.Clone(c.UserGroupIDs)
		}
		for i, gid := range remove {
			remove[i] = strings.ToLower(gid)
			if !slices.Contains(c.UserGroupIDs, remove[i]) {
				return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "User group %s is not associated with replication group %s.", gid, id)
			}
		}
		var add []string
		for _, gid := range in.UserGroupIdsToAdd {
			g, err := attachableGroup(ctx, tx, sc, gid, c.Engine)
			if err != nil {
				return err
			}
			if slices.Contains(c.UserGroupIDs, g.ID) && !slices.Contains(remove, g.ID) {
				return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "User group %s is already associated with replication group %s.", g.ID, id)
			}
			add = append(add, g.ID)
		}
		next := slices.DeleteFunc(slices.Clone(c.UserGroupIDs), func(g string) bool { return slices.Contains(remove, g) })
		next = append(next, add...)
		if len(next) > 1 {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "A replication group supports only one user group.")
		}
		preferred := c.Settings.TransitEncryptionMode == ecapi.TransitEncryptionModePreferred
		if len(add) > 0 && (!c.TransitEncryption || preferred) {
			return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, errNeedsTLS)
		}
		switch {
		case strategy == ecapi.AuthTokenUpdateStrategyTypeDelete:
			// AUTH → RBAC: only together with a group to add, on a token-protected group.
			if !c.AuthTokenEnabled() || len(add) == 0 {
				return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "Auth token update strategy delete is not supported currently")
			}
			c.AuthTokenHashes, c.AuthTokenOptional, c.AuthTokenLastModified, async = nil, false, s.now(), true
		case len(add) > 0 && c.AuthTokenEnabled():
			return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "User group can't be associated with auth token enabled. Pass AuthStrategy delete to proceed")
		}
		if in.AuthToken != nil {
			if len(next) > 0 {
				return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "Auth tokens can't be enabled with a user group already associated. Pass RemoveUserGroups to proceed.")
			}
			if !c.TransitEncryption {
				return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "AuthToken requires TransitEncryptionEnabled.")
			}
			if preferred {
				return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, errPreferredAuth)
			}
			h := keyward.HashPassword(*in.AuthToken)
			switch strategy {
			case ecapi.AuthTokenUpdateStrategyTypeRotate:
				// ROTATE keeps the previous token valid; the first token
				// introduced by ROTATE leaves access open until a SET.
				c.AuthTokenOptional = !c.AuthTokenEnabled() || c.AuthTokenOptional
				c.AuthTokenHashes = append(c.AuthTokenHashes, h)
				if len(c.AuthTokenHashes) > 2 {
					c.AuthTokenHashes = c.AuthTokenHashes[len(c.AuthTokenHashes)-2:]
				}
			case "", ecapi.AuthTokenUpdateStrategyTypeSet:
				c.AuthTokenHashes, c.AuthTokenOptional = []string{h}, false
			}
			c.AuthTokenLastModified, async = s.now(), true
		} else if strategy != "" && strategy != ecapi.AuthTokenUpdateStrategyTypeDelete {
			return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "AuthTokenUpdateStrategy %s needs an AuthToken.", strategy)
		}
		if len(add) > 0 || len(remove) > 0 {
			c.PendingUserGroupsAdd, c.PendingUserGroupsRemove = add, remove
			c.UserGroupIDs = next
			async = true
			for _, g := range slices.Concat(add, remove) {
				groupKeys = append(groupKeys, userGroupKey(sc, g))
			}
		}
		if in.NodeGroupId != nil {
			// Deprecated and unused by ElastiCache: refused rather than ignored.
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup, "NodeGroupId is deprecated and not used; keyward does not accept it.")
		}
		if in.PrimaryClusterId != nil {
			promoteChanged, promoteAsync, err := promoteMember(ctx, tx, cur, c, *in.PrimaryClusterId, deref(in.ApplyImmediately))
			if err != nil {
				return err
			}
			changed, async = changed || promoteChanged, async || promoteAsync
		}
		if !changed && !async {
			return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "No modifications were requested.")
		}
		if async {
			c.Status, c.StatusSince = keyward.CacheModifying, s.now()
		}
		c.Generation++
		return tx.UpdateCache(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	s.notify(append(groupKeys, cacheKey(c))...)
	return &ecapi.ModifyReplicationGroupResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

// DeleteReplicationGroup stops the nodes and deletes the group; its user
// group and users are untouched.
func (s *Service) DeleteReplicationGroup(ctx context.Context, in *ecapi.DeleteReplicationGroupMessage) (*ecapi.DeleteReplicationGroupResult, error) {
	if deref(in.RetainPrimaryCluster) {
		out, err := s.retainPrimary(ctx, in)
		return out, apiError(err)
	}
	if in.FinalSnapshotIdentifier != nil {
		c, err := s.deleteWithFinalSnapshot(ctx, keyward.KindReplicationGroup, deref(in.ReplicationGroupId), *in.FinalSnapshotIdentifier)
		if err != nil {
			return nil, apiError(err)
		}
		return &ecapi.DeleteReplicationGroupResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
	}
	c, err := s.deleteCache(ctx, keyward.KindReplicationGroup, deref(in.ReplicationGroupId))
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.DeleteReplicationGroupResult{ReplicationGroup: replicationGroupToAPI(c)}, nil
}

func (s *Service) deleteCache(ctx context.Context, kind keyward.CacheKind, rawID string) (*keyward.Cache, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id := strings.ToLower(rawID)
	var c *keyward.Cache
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := findCache(ctx, tx, sc, kind, id)
		if err != nil {
			return err
		}
		if cur.Status != keyward.CacheAvailable && cur.Status != keyward.CacheCreateFailed {
			return keyward.Errorf(keyward.ESTATE, kind.Resource(), "Cache %s is in %s state; it can be deleted only when available.", id, cur.Status)
		}
		if err := notInGlobal(cur); err != nil {
			return err
		}
		c = cur.Clone()
		c.Status, c.StatusSince, c.Generation = keyward.CacheDeleting, s.now(), c.Generation+1
		return tx.UpdateCache(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	s.notify(cacheKey(c))
	return c, nil
}

// DescribeCacheClusters lists the member clusters of replication groups
// and the standalone clusters (see clusters.go), by id.
func (s *Service) DescribeCacheClusters(ctx context.Context, in *ecapi.DescribeCacheClustersMessage) (*ecapi.CacheClusterMessage, error) {
	out, err := s.describeCacheClusters(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeCacheClusters(ctx context.Context, in *ecapi.DescribeCacheClustersMessage) (*ecapi.CacheClusterMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	page, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceCacheCluster, "%s", keyward.ErrorMessage(err))
	}
	var caches []*keyward.Cache
	var standalone []*keyward.CacheCluster
	var boot map[string]string // parameter group → its boot values' fingerprint
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		if caches, err = tx.FindCaches(ctx, sc, keyward.KindReplicationGroup, keyward.CacheFilter{}); err != nil {
			return err
		}
		if standalone, err = keyward.Clusters.Find(ctx, tx, keyward.DocQuery{Scope: sc}); err != nil {
			return err
		}
		groups := caches
		for _, cl := range standalone {
			groups = append(groups, &keyward.Cache{Settings: cl.Settings}) // a cluster's group too
		}
		boot, err = bootFingerprints(ctx, tx, sc, groups)
		return err
	})
	if err != nil {
		return nil, err
	}
	want := strings.ToLower(deref(in.CacheClusterId))
	var all []ecapi.CacheCluster
	for _, cl := range standalone {
		if want == "" || cl.ID == want {
			cc := clusterToAPI(cl, deref(in.ShowCacheNodeInfo))
			if ids := clusterPendingReboot(cl, boot); len(ids) > 0 {
				cc.CacheParameterGroup.ParameterApplyStatus, cc.CacheParameterGroup.CacheNodeIdsToReboot = ptr("pending-reboot"), ids
			}
			all = append(all, *cc)
		}
	}
	for _, c := range caches {
		if deref(in.ShowCacheClustersNotInReplicationGroups) {
			break
		}
		for i, n := range c.Nodes {
			if want != "" && n.ClusterID != want {
				continue
			}
			cc := memberCluster(c, i, n)
			if pendingReboot(c, n, boot) {
				// Requires-reboot values apply when the node restarts
				// (reconcile/restarts.go).
				cc.CacheParameterGroup.ParameterApplyStatus, cc.CacheParameterGroup.CacheNodeIdsToReboot = ptr("pending-reboot"), []string{"0001"}
			}
			cacheNodeStatus := nodeStatus(c)
			if n.Reboot {
				cc.CacheClusterStatus, cacheNodeStatus = ptr(string(keyward.ClusterRebooting)), "rebooting"
			} else if n.Port == 0 && c.Status == keyward.CacheModifying {
				cc.CacheClusterStatus, cacheNodeStatus = ptr("creating"), "creating" // a replica joining
			} else if s.nodeDown(c, n) {
				cc.CacheClusterStatus, cacheNodeStatus = ptr(downClusterStatus), downNodeStatus
			}
			if deref(in.ShowCacheNodeInfo) {
				cc.CacheNodes = []ecapi.CacheNode{{
					CacheNodeId: ptr("0001"), CacheNodeStatus: ptr(cacheNodeStatus), CacheNodeCreateTime: ptr(c.CreatedAt),
					Endpoint: endpointAt(n.Address, n.Port), CustomerAvailabilityZone: ptr(nodeAZ(c, i)),
					ParameterGroupStatus: cc.CacheParameterGroup.ParameterApplyStatus,
				}}
			}
			all = append(all, cc)
		}
	}
	slices.SortFunc(all, func(a, b ecapi.CacheCluster) int { return strings.Compare(*a.CacheClusterId, *b.CacheClusterId) })
	out := &ecapi.CacheClusterMessage{CacheClusters: []ecapi.CacheCluster{}}
	for _, cc := range all {
		if *cc.CacheClusterId <= page.after {
			continue
		}
		if len(out.CacheClusters) == page.max {
			out.Marker = ptr(encodeMarker(*out.CacheClusters[page.max-1].CacheClusterId))
			return out, nil
		}
		out.CacheClusters = append(out.CacheClusters, cc)
	}
	if want != "" && len(out.CacheClusters) == 0 && page.after == "" {
		return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceCacheCluster, "CacheCluster %s not found.", want)
	}
	return out, nil
}

// memberCluster is the i-th member cache cluster of a replication group as
// DescribeCacheClusters reports it: the per-node settings Terraform reads
// back from it (parameter and subnet group, security groups, windows,
// encryption) are the group's.
func memberCluster(c *keyward.Cache, i int, n keyward.CacheNode) ecapi.CacheCluster {
	st := c.Settings.Effective(c.ID)
	cc := ecapi.CacheCluster{
		CacheClusterId: ptr(n.ClusterID), CacheNodeType: ptr(c.CacheNodeType), Engine: ptr(string(c.Engine)),
		EngineVersion: ptr(reportedEngineVersion(c.Engine, c.EngineVersion)), CacheClusterStatus: ptr(nodeStatus(c)), NumCacheNodes: ptr(int32(1)),
		PreferredAvailabilityZone: ptr(nodeAZ(c, i)), CacheClusterCreateTime: ptr(c.CreatedAt),
		ReplicationGroupId: ptr(c.ID), AuthTokenEnabled: ptr(c.AuthTokenEnabled()),
		TransitEncryptionEnabled: ptr(c.TransitEncryption), AtRestEncryptionEnabled: ptr(st.AtRestEncryption),
		ARN: ptr(c.Scope.ARN(keyward.ARNCluster, n.ClusterID)), AutoMinorVersionUpgrade: ptr(!st.NoAutoMinorVersionUpgrade),
		SnapshotRetentionLimit: ptr(int32(st.SnapshotRetentionLimit)), SnapshotWindow: ptr(st.SnapshotWindow),
		PreferredMaintenanceWindow: ptr(st.PreferredMaintenanceWindow),
		NetworkType:                ptr(orDefault(st.NetworkType, "ipv4")), IpDiscovery: ptr(orDefault(st.IPDiscovery, "ipv4")),
		ReplicationGroupLogDeliveryEnabled: ptr(len(st.LogDelivery) > 0), LogDeliveryConfigurations: logDeliveryToAPI(st.LogDelivery),
		CacheSubnetGroupName: ptr(orDefault(st.CacheSubnetGroupName, keyward.DefaultSubnetGroup)),
		CacheParameterGroup: &ecapi.CacheParameterGroupStatus{
			CacheParameterGroupName: ptr(orDefault(st.CacheParameterGroupName, defaultParameterGroup(c.Engine, c.EngineVersion))),
			ParameterApplyStatus:    ptr("in-sync"), CacheNodeIdsToReboot: []string{},
		},
		SecurityGroups: []ecapi.SecurityGroupMembership{}, CacheSecurityGroups: []ecapi.CacheSecurityGroupMembership{},
		PendingModifiedValues: &ecapi.PendingModifiedValues{},
	}
	if c.TransitEncryption {
		cc.TransitEncryptionMode = ptr(transitMode(c))
	}
	for _, sg := range st.SecurityGroupIDs {
		cc.SecurityGroups = append(cc.SecurityGroups, ecapi.SecurityGroupMembership{SecurityGroupId: ptr(sg), Status: ptr("active")})
	}
	if st.NotificationTopicARN != "" {
		cc.NotificationConfiguration = &ecapi.NotificationConfiguration{TopicArn: ptr(st.NotificationTopicARN), TopicStatus: ptr(st.NotificationTopicStatus)}
	}
	if st.PendingCacheNodeType != "" {
		cc.PendingModifiedValues.CacheNodeType = ptr(st.PendingCacheNodeType)
	}
	if st.PendingEngineVersion != "" {
		cc.PendingModifiedValues.EngineVersion = ptr(reportedEngineVersion(c.Engine, st.PendingEngineVersion))
	}
	return cc
}

// nodeAZ is the availability zone of a cache's i-th node: the one asked
// for, or spread over the region's first three zones as ElastiCache spreads
// nodes when it chooses.
func nodeAZ(c *keyward.Cache, i int) string {
	if i < len(c.Settings.PreferredAZs) {
		return c.Settings.PreferredAZs[i]
	}
	return c.Scope.Region + string(rune('a'+i%3))
}

// transitMode is the TransitEncryptionMode of c, which has in-transit
// encryption: required unless it is on its way through preferred.
func transitMode(c *keyward.Cache) string {
	return orDefault(c.Settings.TransitEncryptionMode, ecapi.TransitEncryptionModeRequired)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
