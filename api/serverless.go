package api

import (
	"context"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// Serverless caches are realised as one TLS node: ElastiCache Serverless
// always encrypts in transit, and RBAC is its only access control (spec §12.1).
//
// For cluster-aware clients the node is what ElastiCache Serverless shows
// them (docs/serverless.md): a Redis Cluster node holding all 16384 slots as
// one shard ("0001"), announced at the cache's Endpoint through its front,
// so CLUSTER SLOTS/SHARDS name the Endpoint and multi-key commands across
// slots answer CROSSSLOT. The shard has a replica on the same address at
// the next port (6380 beside 6379), the ReaderEndpoint, as ElastiCache's
// CLUSTER SLOTS shows (reconcile/serverless.go). The cache counts as one
// node in the node quotas, as ElastiCache counts none for it.

func serverlessToAPI(c *keyward.Cache) *ecapi.ServerlessCache {
	out := &ecapi.ServerlessCache{
		ServerlessCacheName: ptr(c.ID), Description: ptr(c.Description), CreateTime: ptr(c.CreatedAt),
		Status: ptr(string(c.ShownStatus())), Engine: ptr(string(c.Engine)), MajorEngineVersion: ptr(majorVersion(c.EngineVersion)),
		FullEngineVersion: ptr(c.EngineVersion), ARN: ptr(c.Scope.ARN(keyward.ARNServerlessCache, c.ID)),
		SecurityGroupIds: nonNil(slices.Clone(c.Settings.SecurityGroupIDs)), SubnetIds: nonNil(slices.Clone(c.Settings.SubnetIDs)),
		SnapshotRetentionLimit: ptr(int32(c.Settings.SnapshotRetentionLimit)), NetworkType: ptr(orDefault(c.Settings.NetworkType, "ipv4")),
		CacheUsageLimits: usageLimitsToAPI(c.Settings.UsageLimits),
	}
	if c.Settings.DailySnapshotTime != "" {
		out.DailySnapshotTime = ptr(c.Settings.DailySnapshotTime)
	}
	if c.Settings.KmsKeyID != "" {
		out.KmsKeyId = ptr(c.Settings.KmsKeyID)
	}
	if ids := shownUserGroups(c); len(ids) > 0 {
		out.UserGroupId = ptr(ids[0])
	}
	if len(c.Nodes) > 0 {
		n := c.Nodes[0]
		out.Endpoint, out.ReaderEndpoint = endpointAt(n.Address, n.Port), endpointAt(n.Address, n.Port)
		if len(c.Nodes) > 1 && c.Nodes[1].Port != 0 {
			r := c.Nodes[1]
			out.ReaderEndpoint = endpointAt(r.Address, r.Port)
		}
	}
	out.Migration = migrationSummary(c)
	return out
}

func majorVersion(v string) string {
	if i := strings.IndexByte(v, '.'); i > 0 {
		return v[:i]
	}
	return v
}

// CreateServerlessCache creates a serverless cache backed by one node.
func (s *Service) CreateServerlessCache(ctx context.Context, in *ecapi.CreateServerlessCacheRequest) (*ecapi.CreateServerlessCacheResponse, error) {
	out, err := s.createServerlessCache(ctx, in)
	return out, apiError(err)
}

func (s *Service) createServerlessCache(ctx context.Context, in *ecapi.CreateServerlessCacheRequest) (*ecapi.CreateServerlessCacheResponse, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NormalizeReplicationGroupID(deref(in.ServerlessCacheName))
	if err != nil {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "Invalid serverless cache name %s.", deref(in.ServerlessCacheName))
	}
	engine, err := keyward.ParseEngine(deref(in.Engine))
	if err != nil {
		return nil, err
	}
	if ct := deref(in.ConnectionType); ct != "" && ct != ecapi.ConnectionTypeVpc {
		// keyward's endpoints listen on its own host's addresses only.
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "keyward does not serve public endpoints; ConnectionType must be %s.", ecapi.ConnectionTypeVpc)
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := &keyward.Cache{
		Kind: keyward.KindServerless, Scope: sc, ID: id, Description: deref(in.Description), Engine: engine,
		EngineVersion: defaultEngineVersion(engine), CacheNodeType: "serverless",
		Status: keyward.CacheCreating, StatusSince: now, Generation: 1, CreatedAt: now,
		NumNodes: 1, TransitEncryption: true,
		Nodes: []keyward.CacheNode{{ClusterID: id + "-001", Role: "primary"}, {ClusterID: id + "-002", Role: "replica"}},
		// One Redis Cluster shard holding every slot (see above).
		ClusterMode: true, Shards: []keyward.Shard{keyward.ServerlessShard()},
	}
	if v := deref(in.MajorEngineVersion); v != "" {
		if v != majorVersion(c.EngineVersion) {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache,
				"Major engine version %s is not available here: keyward's nodes run %s %s.", keyward.Quote(v), engine, c.EngineVersion)
		}
	}
	if _, err := serverlessSettings(&c.Settings, in.CacheUsageLimits, in.DailySnapshotTime, in.SnapshotRetentionLimit, in.SecurityGroupIds); err != nil {
		return nil, err
	}
	if c.Settings.DailySnapshotTime == "" {
		snapshot, _ := keyward.DefaultWindows(id)
		c.Settings.DailySnapshotTime = snapshot[:5]
	}
	if err := keyward.ValidateSubnetIDs(in.SubnetIds); err != nil {
		return nil, err
	}
	c.Settings.SubnetIDs = slices.Clone(in.SubnetIds)
	if in.KmsKeyId != nil {
		if err := keyward.ValidateKmsKeyID(*in.KmsKeyId); err != nil {
			return nil, err
		}
		c.Settings.KmsKeyID = *in.KmsKeyId
	}
	if c.Settings.NetworkType, err = networkType(in.NetworkType); err != nil {
		return nil, err
	}
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		if _, err := tx.FindCacheByID(ctx, sc, keyward.KindServerless, id); err == nil {
			return keyward.Errorf(keyward.EEXISTS, keyward.ResourceServerlessCache, "Serverless cache %s already exists.", id)
		} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
			return err
		}
		c.UserGroupIDs = nil
		c.RestoreSnapshot, c.RestoreFile, c.RestoreServerless, c.RestoreFiles = "", "", false, nil
		if len(in.SnapshotArnsToRestore) > 0 && strings.HasPrefix(in.SnapshotArnsToRestore[0], "arn:aws:s3:") {
			// RDB objects in buckets, loaded key by key into the node.
			src, err := s.s3Sources(in.SnapshotArnsToRestore)
			if err != nil {
				return err
			}
			c.RestoreFiles = src
		} else if in.SnapshotArnsToRestore != nil {
			// The cache's reference holds the snapshot until it is available.
			snap, err := restoreSource(ctx, tx, sc, in.SnapshotArnsToRestore)
			if err != nil {
				return err
			}
			if snap.Engine != engine {
				return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceServerlessCache, "Snapshot %s is of engine %s, not %s.", snap.ID, snap.Engine, engine)
			}
			// Loaded key by key once the shard's nodes run (the shard
			// owning every slot takes every node group's keys).
			c.RestoreSnapshot, c.RestoreServerless, c.RestoreFiles = snap.ID, snap.Serverless, snap.Files()
		}
		if in.UserGroupId != nil {
			g, err := attachableGroup(ctx, tx, sc, *in.UserGroupId, engine)
			if err != nil {
				return err
			}
			c.UserGroupIDs = []string{g.ID}
		}
		if err := s.checkCacheQuotas(ctx, tx, c); err != nil {
			return err
		}
		if err := tx.CreateCache(ctx, c); err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNServerlessCache, ID: id}, tags)
	})
	if err != nil {
		return nil, err
	}
	s.notify(cacheKey(c))
	return &ecapi.CreateServerlessCacheResponse{ServerlessCache: serverlessToAPI(c)}, nil
}

// DescribeServerlessCaches lists serverless caches.
func (s *Service) DescribeServerlessCaches(ctx context.Context, in *ecapi.DescribeServerlessCachesRequest) (*ecapi.DescribeServerlessCachesResponse, error) {
	caches, next, err := s.findCaches(ctx, keyward.KindServerless, in.ServerlessCacheName, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, apiError(err)
	}
	out := &ecapi.DescribeServerlessCachesResponse{ServerlessCaches: []ecapi.ServerlessCache{}, NextToken: next}
	for _, c := range caches {
		sc := serverlessToAPI(c)
		if s.anyNodeDown(c) {
			sc.Status = ptr("modifying")
		}
		out.ServerlessCaches = append(out.ServerlessCaches, *sc)
	}
	return out, nil
}

// ModifyServerlessCache replaces or removes the attached user group and
// changes the description.
func (s *Service) ModifyServerlessCache(ctx context.Context, in *ecapi.ModifyServerlessCacheRequest) (*ecapi.ModifyServerlessCacheResponse, error) {
	out, err := s.modifyServerlessCache(ctx, in)
	return out, apiError(err)
}

func (s *Service) modifyServerlessCache(ctx context.Context, in *ecapi.ModifyServerlessCacheRequest) (*ecapi.ModifyServerlessCacheResponse, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id := strings.ToLower(deref(in.ServerlessCacheName))
	if in.UserGroupId != nil && deref(in.RemoveUserGroup) {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceServerlessCache, "UserGroupId and RemoveUserGroup cannot be used together.")
	}
	var c *keyward.Cache
	var keys []keyward.Key
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		keys = keys[:0]
		cur, err := tx.FindCacheByID(ctx, sc, keyward.KindServerless, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return notFound(keyward.KindServerless, id)
		} else if err != nil {
			return err
		}
		if cur.Status != keyward.CacheAvailable {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceServerlessCache, "Serverless cache %s is in %s state; it can be modified only when available.", id, cur.Status)
		}
		c = cur.Clone()
		changed := false
		if in.Description != nil && *in.Description != c.Description {
			c.Description, changed = *in.Description, true
		}
		settingsChanged, err := serverlessSettings(&c.Settings, in.CacheUsageLimits, in.DailySnapshotTime, in.SnapshotRetentionLimit, in.SecurityGroupIds)
		if err != nil {
			return err
		}
		changed = changed || settingsChanged
		if in.Engine != nil && !strings.EqualFold(*in.Engine, string(c.Engine)) {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "Changing the engine of a serverless cache is not supported by keyward.")
		}
		if v := deref(in.MajorEngineVersion); v != "" && v != majorVersion(c.EngineVersion) {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache,
				"Major engine version %s is not available here: keyward's nodes run %s %s.", keyward.Quote(v), c.Engine, c.EngineVersion)
		}
		var next []string
		switch {
		case in.UserGroupId != nil:
			g, err := attachableGroup(ctx, tx, sc, *in.UserGroupId, c.Engine)
			if err != nil {
				return err
			}
			next = []string{g.ID}
		case deref(in.RemoveUserGroup):
			next = []string{}
		}
		if next != nil && !sameSet(next, c.UserGroupIDs) {
			c.PendingUserGroupsAdd = difference(next, c.UserGroupIDs)
			c.PendingUserGroupsRemove = difference(c.UserGroupIDs, next)
			for _, g := range append(c.PendingUserGroupsAdd, c.PendingUserGroupsRemove...) {
				keys = append(keys, userGroupKey(sc, g))
			}
			c.UserGroupIDs = next
			c.Status, c.StatusSince, changed = keyward.CacheModifying, s.now(), true
		}
		if !changed {
			return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceServerlessCache, "No modifications were requested.")
		}
		c.Generation++
		return tx.UpdateCache(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	s.notify(append(keys, cacheKey(c))...)
	return &ecapi.ModifyServerlessCacheResponse{ServerlessCache: serverlessToAPI(c)}, nil
}

// DeleteServerlessCache deletes a serverless cache and stops its node.
func (s *Service) DeleteServerlessCache(ctx context.Context, in *ecapi.DeleteServerlessCacheRequest) (*ecapi.DeleteServerlessCacheResponse, error) {
	if in.FinalSnapshotName != nil {
		c, err := s.deleteWithFinalSnapshot(ctx, keyward.KindServerless, deref(in.ServerlessCacheName), *in.FinalSnapshotName)
		if err != nil {
			return nil, apiError(err)
		}
		return &ecapi.DeleteServerlessCacheResponse{ServerlessCache: serverlessToAPI(c)}, nil
	}
	c, err := s.deleteCache(ctx, keyward.KindServerless, deref(in.ServerlessCacheName))
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.DeleteServerlessCacheResponse{ServerlessCache: serverlessToAPI(c)}, nil
}

func sameSet(a, b []string) bool {
	return len(difference(a, b)) == 0 && len(difference(b, a)) == 0
}

// difference returns the elements of a that are not in b.
func difference(a, b []string) []string {
	var out []string
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}
