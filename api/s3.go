package api

import (
	"context"
	"errors"

	"keyward"
	"keyward/ecapi"
	"keyward/s3dir"
)

// Buckets: snapshot exports (CopySnapshot's TargetBucket,
// ExportServerlessCacheSnapshot) and restores from S3 object ARNs, through
// the directory that stands in for S3 (package s3dir). The checks here
// give ElastiCache's faults at once; the reconciler writes the objects.

// bucketFault turns an s3dir error into ElastiCache's fault: an
// InvalidParameterValue with the message ElastiCache's documentation gives.
func bucketFault(err error, bucket, key string) error {
	msg := err.Error()
	switch {
	case errors.Is(err, s3dir.ErrNotConfigured):
		msg = "keyward has no S3 directory configured (start it with --s3-dir): S3 buckets cannot be used."
	case errors.Is(err, s3dir.ErrNoBucket):
		msg = "The S3 bucket " + bucket + " does not exist."
	case errors.Is(err, s3dir.ErrExists):
		msg = "The S3 bucket " + bucket + " already contains an object with key " + key + "."
	case errors.Is(err, s3dir.ErrReadDenied):
		msg = "ElastiCache has not been granted READ permissions " + bucket + " on the S3 Bucket."
	case errors.Is(err, s3dir.ErrWriteDenied):
		msg = "ElastiCache has not been granted WRITE permissions " + bucket + " on the S3 Bucket."
	case errors.Is(err, s3dir.ErrNoObject):
		msg = "No such S3 object " + bucket + "/" + key + "."
	case errors.Is(err, s3dir.ErrNotRDB):
		msg = "The S3 object " + bucket + "/" + key + " is not a valid RDB file."
	case errors.Is(err, s3dir.ErrInvalid):
		msg = "Invalid S3 bucket name or object key: " + bucket + "/" + key + "."
	}
	return keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "%s", msg)
}

// s3Sources resolves SnapshotArns (arn:aws:s3:::bucket/key) to restore
// sources, each object checked readable.
func (s *Service) s3Sources(arns []string) ([]string, error) {
	var out []string
	for _, arn := range arns {
		bucket, key, err := s3dir.ParseARN(arn)
		if err != nil {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid S3 object ARN %s: it must be arn:aws:s3:::bucket/key.", arn)
		}
		if err := s.Buckets.CheckRead(bucket, key); err != nil {
			return nil, bucketFault(err, bucket, key)
		}
		out = append(out, keyward.S3Source(bucket, key))
	}
	return out, nil
}

// startExport checks that the objects of exporting snap as name can be
// written to bucket, and records the export: the snapshot is exporting
// until the reconciler has written them.
func (s *Service) startExport(ctx context.Context, tx keyward.Tx, kind *keyward.Kind[keyward.Snapshot], snap *keyward.Snapshot, bucket, name string) (*keyward.Snapshot, error) {
	for i := range snap.NodeSnapshots {
		key := keyward.ExportKey(name, i)
		if err := s.Buckets.CheckWrite(bucket, key); err != nil {
			return nil, bucketFault(err, bucket, key)
		}
		for _, e := range snap.Exports {
			if e.Bucket == bucket && e.Name == name {
				return nil, bucketFault(s3dir.ErrExists, bucket, key)
			}
		}
	}
	next := snap.Clone()
	next.Status, next.StatusSince = keyward.SnapshotExporting, s.now()
	next.Exports = append(next.Exports, keyward.SnapshotExport{Bucket: bucket, Name: name})
	return next, kind.Update(ctx, tx, next)
}

// exportSnapshot serves CopySnapshot with TargetBucket.
func (s *Service) exportSnapshot(ctx context.Context, in *ecapi.CopySnapshotMessage) (*ecapi.CopySnapshotResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	srcName, name, bucket := deref(in.SourceSnapshotName), deref(in.TargetSnapshotName), deref(in.TargetBucket)
	if in.KmsKeyId != nil {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceSnapshot, "keyward does not encrypt snapshots: KmsKeyId is not supported.")
	}
	if len(in.Tags) > 0 {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceSnapshot, "Tags cannot be given when exporting a snapshot to S3: the export is not an ElastiCache resource.")
	}
	if err := keyward.ValidateSnapshotName(name); err != nil {
		return nil, err
	}
	if s.Buckets == "" {
		return nil, bucketFault(s3dir.ErrNotConfigured, bucket, "")
	}
	var snap *keyward.Snapshot
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		src, err := snapshotIn(ctx, tx, sc, srcName, keyward.SnapshotAvailable, keyward.SnapshotExporting)
		if err != nil {
			return err
		}
		snap, err = s.startExport(ctx, tx, keyward.Snapshots, src, bucket, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(snapshotKey(sc, srcName))
	return &ecapi.CopySnapshotResult{Snapshot: snapshotToAPI(snap, false)}, nil
}

// ExportServerlessCacheSnapshot exports a serverless snapshot to a bucket
// as <snapshot name>-0001.rdb.
func (s *Service) ExportServerlessCacheSnapshot(ctx context.Context, in *ecapi.ExportServerlessCacheSnapshotRequest) (*ecapi.ExportServerlessCacheSnapshotResponse, error) {
	out, err := s.exportServerlessCacheSnapshot(ctx, in)
	return out, apiError(err)
}

func (s *Service) exportServerlessCacheSnapshot(ctx context.Context, in *ecapi.ExportServerlessCacheSnapshotRequest) (*ecapi.ExportServerlessCacheSnapshotResponse, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	name, bucket := deref(in.ServerlessCacheSnapshotName), deref(in.S3BucketName)
	if s.Buckets == "" {
		return nil, bucketFault(s3dir.ErrNotConfigured, bucket, "")
	}
	var snap *keyward.Snapshot
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := keyward.ServerlessSnapshots.Get(ctx, tx, sc, name)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return serverlessSnapshotNotFound(name)
		} else if err != nil {
			return err
		}
		if cur.Status != keyward.SnapshotAvailable && cur.Status != keyward.SnapshotExporting {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceServerlessSnapshot, "Serverless cache snapshot %s is not in available state (it is %s).", name, cur.Status)
		}
		snap, err = s.startExport(ctx, tx, keyward.ServerlessSnapshots, cur, bucket, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(keyward.Key{Resource: keyward.ResourceServerlessSnapshot, Scope: sc, ID: name})
	return &ecapi.ExportServerlessCacheSnapshotResponse{ServerlessCacheSnapshot: serverlessSnapshotToAPI(snap)}, nil
}
