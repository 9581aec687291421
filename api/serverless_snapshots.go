package api

import (
	"context"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// Snapshots of serverless caches: the same machinery as group snapshots
// (a real RDB of the cache's node, see snapshots.go), in a namespace of
// their own with their own faults. The cache stays available while a
// snapshot is taken.

func serverlessSnapshotNotFound(name string) error {
	return keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceServerlessSnapshot, "Serverless cache snapshot %s not found.", name)
}

func serverlessSnapshotToAPI(s *keyward.Snapshot) *ecapi.ServerlessCacheSnapshot {
	out := &ecapi.ServerlessCacheSnapshot{
		ServerlessCacheSnapshotName: ptr(s.ID), ARN: ptr(s.Scope.ARN(keyward.ARNServerlessSnapshot, s.ID)),
		SnapshotType: ptr(s.Source), Status: ptr(string(s.Status)), CreateTime: ptr(s.CreatedAt),
		ServerlessCacheConfiguration: &ecapi.ServerlessCacheConfiguration{
			ServerlessCacheName: ptr(s.ReplicationGroupID), Engine: ptr(string(s.Engine)), MajorEngineVersion: ptr(majorVersion(s.EngineVersion)),
		},
	}
	if len(s.NodeSnapshots) > 0 && !s.NodeSnapshots[0].CreatedAt.IsZero() {
		out.BytesUsedForCache = ptr(cacheSize(s.NodeSnapshots[0].Size))
	}
	if s.Source == keyward.SnapshotAutomated && s.RetentionLimit > 0 {
		out.ExpiryTime = ptr(s.CreatedAt.AddDate(0, 0, s.RetentionLimit))
	}
	return out
}

// CreateServerlessCacheSnapshot starts a manual snapshot of an available
// serverless cache.
func (s *Service) CreateServerlessCacheSnapshot(ctx context.Context, in *ecapi.CreateServerlessCacheSnapshotRequest) (*ecapi.CreateServerlessCacheSnapshotResponse, error) {
	out, err := s.createServerlessCacheSnapshot(ctx, in)
	return out, apiError(err)
}

func (s *Service) createServerlessCacheSnapshot(ctx context.Context, in *ecapi.CreateServerlessCacheSnapshotRequest) (*ecapi.CreateServerlessCacheSnapshotResponse, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	name := deref(in.ServerlessCacheSnapshotName)
	tags, err := snapshotArgs(keyward.ResourceServerlessSnapshot, name, false, in.KmsKeyId, in.Tags)
	if err != nil {
		return nil, err
	}
	var snap *keyward.Snapshot
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		c, err := findCache(ctx, tx, sc, keyward.KindServerless, deref(in.ServerlessCacheName))
		if err != nil {
			return err
		}
		if c.Status != keyward.CacheAvailable {
			return cacheNotAvailable(c)
		}
		snap, err = s.startSnapshot(ctx, tx, c, name, c.Nodes[0].ClusterID, tags, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(keyward.Key{Resource: keyward.ResourceServerlessSnapshot, Scope: sc, ID: name})
	return &ecapi.CreateServerlessCacheSnapshotResponse{ServerlessCacheSnapshot: serverlessSnapshotToAPI(snap)}, nil
}

// DescribeServerlessCacheSnapshots lists serverless snapshots by name.
func (s *Service) DescribeServerlessCacheSnapshots(ctx context.Context, in *ecapi.DescribeServerlessCacheSnapshotsRequest) (*ecapi.DescribeServerlessCacheSnapshotsResponse, error) {
	out, err := s.describeServerlessCacheSnapshots(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeServerlessCacheSnapshots(ctx context.Context, in *ecapi.DescribeServerlessCacheSnapshotsRequest) (*ecapi.DescribeServerlessCacheSnapshotsResponse, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	// ElastiCache: MaxResults up to 50, default 50.
	limit := maxSnapshotRecords
	if in.MaxResults != nil {
		if n := int(*in.MaxResults); n < 1 || n > maxSnapshotRecords {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "MaxResults must be between 1 and %d.", maxSnapshotRecords)
		} else {
			limit = n
		}
	}
	p, err := parsePage(nil, in.NextToken)
	if err != nil {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid NextToken.")
	}
	q := keyward.DocQuery{Scope: sc, AfterID: p.after, ID: deref(in.ServerlessCacheSnapshotName), Limit: limit + 1}
	if in.ServerlessCacheName != nil {
		q.Where = append(q.Where, keyward.Field{Name: "replication_group", Value: strings.ToLower(*in.ServerlessCacheName)})
	}
	switch t := deref(in.SnapshotType); t {
	case "":
	case keyward.SnapshotManual, keyward.SnapshotAutomated:
		q.Where = append(q.Where, keyward.Field{Name: "source", Value: t})
	default:
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid SnapshotType %s: it must be manual or automated.", t)
	}
	var snaps []*keyward.Snapshot
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		snaps, err = keyward.ServerlessSnapshots.Find(ctx, tx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	if in.ServerlessCacheSnapshotName != nil && len(snaps) == 0 && p.after == "" {
		return nil, serverlessSnapshotNotFound(*in.ServerlessCacheSnapshotName)
	}
	out := &ecapi.DescribeServerlessCacheSnapshotsResponse{ServerlessCacheSnapshots: []ecapi.ServerlessCacheSnapshot{}}
	if len(snaps) > limit {
		snaps, out.NextToken = snaps[:limit], ptr(encodeMarker(snaps[limit-1].ID))
	}
	for _, snap := range snaps {
		out.ServerlessCacheSnapshots = append(out.ServerlessCacheSnapshots, *serverlessSnapshotToAPI(snap))
	}
	return out, nil
}

// CopyServerlessCacheSnapshot makes a manual copy of an available
// serverless snapshot.
func (s *Service) CopyServerlessCacheSnapshot(ctx context.Context, in *ecapi.CopyServerlessCacheSnapshotRequest) (*ecapi.CopyServerlessCacheSnapshotResponse, error) {
	out, err := s.copyServerlessCacheSnapshot(ctx, in)
	return out, apiError(err)
}

func (s *Service) copyServerlessCacheSnapshot(ctx context.Context, in *ecapi.CopyServerlessCacheSnapshotRequest) (*ecapi.CopyServerlessCacheSnapshotResponse, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	srcName, name := deref(in.SourceServerlessCacheSnapshotName), deref(in.TargetServerlessCacheSnapshotName)
	tags, err := snapshotArgs(keyward.ResourceServerlessSnapshot, name, false, in.KmsKeyId, in.Tags)
	if err != nil {
		return nil, err
	}
	k := keyward.ServerlessSnapshots
	var snap *keyward.Snapshot
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		src, err := k.Get(ctx, tx, sc, srcName)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return serverlessSnapshotNotFound(srcName)
		} else if err != nil {
			return err
		}
		if src.Status != keyward.SnapshotAvailable {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceServerlessSnapshot, "Serverless cache snapshot %s is not in available state (it is %s).", srcName, src.Status)
		}
		snap, err = s.storeSnapshotCopy(ctx, tx, k, src, name, tags,
			keyward.Errorf(keyward.EEXISTS, keyward.ResourceServerlessSnapshot, "Serverless cache snapshot %s already exists.", name))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(keyward.Key{Resource: keyward.ResourceServerlessSnapshot, Scope: sc, ID: name})
	return &ecapi.CopyServerlessCacheSnapshotResponse{ServerlessCacheSnapshot: serverlessSnapshotToAPI(snap)}, nil
}

// DeleteServerlessCacheSnapshot deletes an available (or failed) serverless
// snapshot that nothing is being made from.
func (s *Service) DeleteServerlessCacheSnapshot(ctx context.Context, in *ecapi.DeleteServerlessCacheSnapshotRequest) (*ecapi.DeleteServerlessCacheSnapshotResponse, error) {
	out, err := s.deleteServerlessCacheSnapshot(ctx, in)
	return out, apiError(err)
}

func (s *Service) deleteServerlessCacheSnapshot(ctx context.Context, in *ecapi.DeleteServerlessCacheSnapshotRequest) (*ecapi.DeleteServerlessCacheSnapshotResponse, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	name := deref(in.ServerlessCacheSnapshotName)
	k := keyward.ServerlessSnapshots
	var snap *keyward.Snapshot
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := k.Get(ctx, tx, sc, name)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return serverlessSnapshotNotFound(name)
		} else if err != nil {
			return err
		}
		if cur.Status != keyward.SnapshotAvailable && cur.Status != keyward.SnapshotFailed || len(cur.UsedBy) > 0 {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceServerlessSnapshot, "Serverless cache snapshot %s is %s or in use; it cannot be deleted now.", name, cur.Status)
		}
		snap = cur.Clone()
		snap.Status, snap.StatusSince = keyward.SnapshotDeleting, s.now()
		return k.Update(ctx, tx, snap)
	})
	if err != nil {
		return nil, err
	}
	s.notify(keyward.Key{Resource: keyward.ResourceServerlessSnapshot, Scope: sc, ID: name})
	return &ecapi.DeleteServerlessCacheSnapshotResponse{ServerlessCacheSnapshot: serverlessSnapshotToAPI(snap)}, nil
}

// restoreSource resolves the one ARN of SnapshotArnsToRestore: a serverless
// cache snapshot or a replication group snapshot of the caller's scope.
func restoreSource(ctx context.Context, tx keyward.Tx, sc keyward.Scope, arns []string) (*keyward.Snapshot, error) {
	if len(arns) != 1 {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "keyward restores exactly one snapshot ARN.")
	}
	arnScope, ref, err := keyward.ParseARN(arns[0])
	if err != nil {
		return nil, err
	}
	serverless := ref.Type == keyward.ARNServerlessSnapshot
	if !serverless && ref.Type != keyward.ARNSnapshot || arnScope != sc {
		return nil, keyward.Errorf(keyward.EINVALIDARN, keyward.ResourceNone, "The ARN %s does not name a snapshot of this account and region.", arns[0])
	}
	snap, err := keyward.SnapshotKindOf(serverless).Get(ctx, tx, sc, ref.ID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		if serverless {
			return nil, serverlessSnapshotNotFound(ref.ID)
		}
		return nil, snapshotNotFound(ref.ID)
	} else if err != nil {
		return nil, err
	}
	if snap.Status != keyward.SnapshotAvailable {
		res := keyward.ResourceSnapshot
		if serverless {
			res = keyward.ResourceServerlessSnapshot
		}
		return nil, keyward.Errorf(keyward.ESTATE, res, "Snapshot %s is not in available state (it is %s).", ref.ID, snap.Status)
	}
	return snap, nil
}
