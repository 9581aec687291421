package api

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// taggable resolves an ARN to a resource of the caller's scope that can be
// tagged now. Users and groups that are not active answer NotFound "… is
// not available for tagging", as ElastiCache does (O TF#34002).
func taggable(ctx context.Context, tx keyward.Tx, sc keyward.Scope, arn string) (keyward.ResourceRef, error) {
	if partition, account, id, ok, err := keyward.ParseGlobalARN(arn); ok {
		return globalTaggable(ctx, tx, sc, partition, account, id, err)
	}
	arnScope, ref, err := keyward.ParseARN(arn)
	if err != nil {
		return ref, err
	}
	switch ref.Type {
	case keyward.ARNUser:
		u, err := tx.FindUserByID(ctx, sc, ref.ID)
		if err == nil && arnScope != sc {
			err = keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUser, "User %s not found.", ref.ID)
		}
		if err != nil {
			return ref, err
		}
		if u.Status != keyward.UserActive {
			return ref, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUser, "%s is not available for tagging", ref.ID)
		}
		return ref, nil
	case keyward.ARNUserGroup:
		g, err := tx.FindUserGroupByID(ctx, sc, ref.ID)
		if err == nil && arnScope != sc {
			err = keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group %s not found.", ref.ID)
		}
		if err != nil {
			return ref, err
		}
		if g.Status != keyward.UserGroupActive {
			return ref, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUserGroup, "%s is not available for tagging", ref.ID)
		}
		return ref, nil
	case keyward.ARNReplicationGroup, keyward.ARNServerlessCache:
		kind := keyward.CacheKind(ref.Type)
		c, err := tx.FindCacheByID(ctx, sc, kind, ref.ID)
		if err == nil && (arnScope != sc || c.Status == keyward.CacheDeleting) {
			err = notFound(kind, ref.ID)
		}
		return ref, err
	case keyward.ARNSnapshot, keyward.ARNServerlessSnapshot:
		serverless := ref.Type == keyward.ARNServerlessSnapshot
		snap, err := keyward.SnapshotKindOf(serverless).Get(ctx, tx, sc, ref.ID)
		if err == nil && (arnScope != sc || snap.Status == keyward.SnapshotDeleting) || keyward.ErrorCode(err) == keyward.ENOTFOUND {
			err = snapshotNotFound(ref.ID)
			if serverless {
				err = serverlessSnapshotNotFound(ref.ID)
			}
		}
		return ref, err
	case keyward.ARNReservedInstance:
		_, err := keyward.ReservedCacheNodes.Get(ctx, tx, sc, ref.ID)
		if err == nil && arnScope != sc {
			err = keyward.ErrDocNotFound(string(keyward.ResourceReservedCacheNode), ref.ID)
		}
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			err = keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceReservedCacheNode, "Reserved cache node %s not found.", ref.ID)
		}
		return ref, err
	case keyward.ARNCluster:
		if cl, err := keyward.Clusters.Get(ctx, tx, sc, ref.ID); err == nil && arnScope == sc && cl.Status != keyward.ClusterDeleting {
			return ref, nil
		} else if err != nil && keyward.ErrorCode(err) != keyward.ENOTFOUND {
			return ref, err
		}
		if _, err := memberOf(ctx, tx, sc, ref.ID); err != nil || arnScope != sc {
			return ref, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceCacheCluster, "CacheCluster %s not found.", ref.ID)
		}
		return ref, nil
	case keyward.ARNParameterGroup:
		_, err := keyward.CacheParameterGroups.Get(ctx, tx, sc, ref.ID)
		if err == nil && arnScope != sc || keyward.ErrorCode(err) == keyward.ENOTFOUND {
			err = paramGroupNotFound(ref.ID)
		}
		return ref, err
	case keyward.ARNSubnetGroup:
		_, err := keyward.CacheSubnetGroups.Get(ctx, tx, sc, ref.ID)
		if err == nil && arnScope != sc || keyward.ErrorCode(err) == keyward.ENOTFOUND {
			err = subnetGroupNotFound(ref.ID)
		}
		return ref, err
	}
	return ref, keyward.Errorf(keyward.EINVALIDARN, keyward.ResourceNone, "The ARN %s does not refer to a resource that supports tagging.", arn)
}

// globalTaggable resolves the regionless ARN of a global datastore: one
// of the caller's account and partition that has a member in the caller's
// region (as DescribeGlobalReplicationGroups sees it). Its tags are kept
// in the account's global scope, beside the datastore (tagScope).
func globalTaggable(ctx context.Context, tx keyward.Tx, sc keyward.Scope, partition, account, id string, err error) (keyward.ResourceRef, error) {
	ref := keyward.ResourceRef{Type: keyward.ARNGlobalReplicationGroup, ID: id}
	if err != nil {
		return ref, err
	}
	if account != sc.Account || partition != sc.Partition() {
		return ref, globalNotFound(id)
	}
	g, err := findGlobal(ctx, tx, sc, id)
	if err == nil && g.Status == keyward.GlobalDeleting {
		err = globalNotFound(id)
	}
	return ref, err
}

// tagScope is the scope that holds the tags of ref for a caller in sc:
// sc, but the account's global scope for a global datastore, whose ARN
// has no region.
func tagScope(sc keyward.Scope, ref keyward.ResourceRef) keyward.Scope {
	if ref.Type == keyward.ARNGlobalReplicationGroup {
		return keyward.GlobalScope(sc.Account)
	}
	return sc
}

// memberOf returns the replication group a member cache cluster belongs
// to: usually the group's id followed by "-NNN", but a cluster that joined
// with CreateCacheCluster has a name of its own, so the groups are searched.
func memberOf(ctx context.Context, tx keyward.Tx, sc keyward.Scope, clusterID string) (*keyward.Cache, error) {
	has := func(c *keyward.Cache) bool {
		return slices.ContainsFunc(c.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == clusterID })
	}
	if i := strings.LastIndexByte(clusterID, '-'); i > 0 {
		if c, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, clusterID[:i]); err == nil && has(c) {
			return c, nil
		}
	}
	rgs, err := tx.FindCaches(ctx, sc, keyward.KindReplicationGroup, keyward.CacheFilter{})
	if err != nil {
		return nil, err
	}
	for _, c := range rgs {
		if has(c) {
			return c, nil
		}
	}
	return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceCacheCluster, "CacheCluster %s not found.", clusterID)
}

// tagOp runs fn on a resource's tags in one transaction and answers the
// resulting tag list. On a replication group fn runs on each member
// cluster's tags too: ElastiCache replicates a group's tag changes to all
// its nodes.
func (s *Service) tagOp(ctx context.Context, arn string, write bool, fn func([]keyward.Tag) ([]keyward.Tag, error)) (*ecapi.TagListMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, apiError(err)
	}
	var tags []keyward.Tag
	run := s.Store.View
	if write {
		run = s.Store.Update
	}
	err = run(ctx, func(tx keyward.Tx) error {
		ref, err := taggable(ctx, tx, sc, arn)
		if err != nil {
			return err
		}
		old, err := tx.FindTags(ctx, tagScope(sc, ref), ref)
		if err != nil {
			return err
		}
		if tags, err = fn(old); err != nil || !write {
			return err
		}
		if err := tx.ReplaceTags(ctx, tagScope(sc, ref), ref, tags); err != nil {
			return err
		}
		return forMembers(ctx, tx, sc, ref, func(member keyward.ResourceRef) error {
			old, err := tx.FindTags(ctx, sc, member)
			if err != nil {
				return err
			}
			mtags, err := fn(old)
			if err != nil {
				return err
			}
			return tx.ReplaceTags(ctx, sc, member, mtags)
		})
	})
	if err != nil {
		return nil, apiError(err)
	}
	return &ecapi.TagListMessage{TagList: tagsToAPI(tags)}, nil
}

// AddTagsToResource adds tags; an existing key takes the new value.
func (s *Service) AddTagsToResource(ctx context.Context, in *ecapi.AddTagsToResourceMessage) (*ecapi.TagListMessage, error) {
	add, err := parseTags(in.Tags)
	if err != nil {
		return nil, apiError(err)
	}
	return s.tagOp(ctx, deref(in.ResourceName), true, func(old []keyward.Tag) ([]keyward.Tag, error) {
		tags := keyward.MergeTags(old, add)
		return tags, checkTagQuota(tags)
	})
}

// ListTagsForResource lists a resource's tags.
func (s *Service) ListTagsForResource(ctx context.Context, in *ecapi.ListTagsForResourceMessage) (*ecapi.TagListMessage, error) {
	return s.tagOp(ctx, deref(in.ResourceName), false, func(old []keyward.Tag) ([]keyward.Tag, error) { return old, nil })
}

// RemoveTagsFromResource removes tags by key; a key the resource does not
// have fails the whole request with TagNotFound.
func (s *Service) RemoveTagsFromResource(ctx context.Context, in *ecapi.RemoveTagsFromResourceMessage) (*ecapi.TagListMessage, error) {
	return s.tagOp(ctx, deref(in.ResourceName), true, func(old []keyward.Tag) ([]keyward.Tag, error) {
		for _, k := range in.TagKeys {
			if !slices.ContainsFunc(old, func(t keyward.Tag) bool { return t.Key == k }) {
				return nil, keyward.Errorf(keyward.ETAGNOTFOUND, keyward.ResourceNone, "%s", fmt.Sprintf("The tag %s is not on the resource %s.", k, deref(in.ResourceName)))
			}
		}
		return slices.DeleteFunc(old, func(t keyward.Tag) bool { return slices.Contains(in.TagKeys, t.Key) }), nil
	})
}

// tagNewResource stores the tags given when a resource is created, inside the
// creating transaction; a quota error rolls the creation back.
func tagNewResource(ctx context.Context, tx keyward.Tx, sc keyward.Scope, ref keyward.ResourceRef, tags []keyward.Tag) error {
	if err := checkTagQuota(tags); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil // a new resource has no tags: its id's old tags went with it
	}
	if err := tx.ReplaceTags(ctx, sc, ref, tags); err != nil {
		return err
	}
	return forMembers(ctx, tx, sc, ref, func(member keyward.ResourceRef) error { return tx.ReplaceTags(ctx, sc, member, tags) })
}

// forMembers runs fn on the member clusters of a replication group (and
// on nothing for other resources).
func forMembers(ctx context.Context, tx keyward.Tx, sc keyward.Scope, ref keyward.ResourceRef, fn func(keyward.ResourceRef) error) error {
	if ref.Type != keyward.ARNReplicationGroup {
		return nil
	}
	c, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, ref.ID)
	if err != nil {
		return err
	}
	for _, n := range c.Nodes {
		if err := fn(keyward.ResourceRef{Type: keyward.ARNCluster, ID: n.ClusterID}); err != nil {
			return err
		}
	}
	return nil
}

// checkTagQuota applies ElastiCache's limit of tags on one resource.
func checkTagQuota(tags []keyward.Tag) error {
	if len(tags) > keyward.MaxTagsPerResource {
		return keyward.Errorf(keyward.ETAGQUOTA, keyward.ResourceNone, "A resource can have at most %d tags.", keyward.MaxTagsPerResource)
	}
	return nil
}
