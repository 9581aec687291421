package server

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"

	"keyward"
	"keyward/engine"
	"keyward/reconcile"
)

// Snapshot files live in DataDir/snapshots (mode 0700, files 0600), named
// by the store (keyward.SnapshotFileName), never by the caller. A restore
// source is such a name or an S3 object (keyward.S3Source) in the
// configured bucket directory.

var (
	_ reconcile.SnapshotEngine = engineAdapter{}
	_ reconcile.KeyLoader      = engineAdapter{}
)

func (a engineAdapter) snapshotPath(file string) string {
	return filepath.Join(a.m.DataDir, "snapshots", filepath.Base(file))
}

// sourcePath resolves a restore source to its file.
func (a engineAdapter) sourcePath(src string) (string, error) {
	if bucket, key, ok := keyward.ParseS3Source(src); ok {
		p, err := a.b.Path(bucket, key)
		if err != nil {
			return "", reconcile.Terminal(err)
		}
		return p, nil
	}
	return a.snapshotPath(src), nil
}

// terminal makes a source that is gone or no RDB a terminal error: the
// restore cannot succeed by retrying.
func terminal(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, engine.ErrBadRDB) {
		return reconcile.Terminal(err)
	}
	return err
}

func (a engineAdapter) SaveSnapshot(ctx context.Context, nodeID, file string) (int64, error) {
	return a.m.SaveRDB(ctx, nodeID, a.snapshotPath(file))
}

func (a engineAdapter) CopySnapshot(ctx context.Context, from, to string) (int64, error) {
	return engine.CopyFile(a.snapshotPath(from), a.snapshotPath(to))
}

func (a engineAdapter) RemoveSnapshot(file string) error {
	return engine.RemoveFile(a.snapshotPath(file))
}

func (a engineAdapter) ExportSnapshot(ctx context.Context, file, bucket, key string) error {
	dst, err := a.b.Path(bucket, key)
	if err != nil {
		return err
	}
	_, err = engine.CopyFile(a.snapshotPath(file), dst)
	return err
}

func (a engineAdapter) SeedNode(ctx context.Context, nodeID, file string) error {
	src, err := a.sourcePath(file)
	if err != nil {
		return err
	}
	err = a.m.SeedRDB(nodeID, src)
	if errors.Is(err, engine.ErrNodeExists) {
		return nil
	}
	return terminal(err)
}

func (a engineAdapter) Synced(ctx context.Context, nodeID string) (bool, error) {
	return a.m.Synced(ctx, nodeID)
}

func (a engineAdapter) ReadKeys(ctx context.Context, e keyward.Engine, src string, fn func([]reconcile.DumpedKey) error) error {
	path, err := a.sourcePath(src)
	if err != nil {
		return err
	}
	err = a.m.ReadRDB(ctx, string(e), path, func(keys []engine.DumpedKey) error {
		out := make([]reconcile.DumpedKey, len(keys))
		for i, k := range keys {
			out[i] = reconcile.DumpedKey(k)
		}
		return fn(out)
	})
	return terminal(err)
}

func (a engineAdapter) RestoreKeys(ctx context.Context, nodeID string, keys []reconcile.DumpedKey) error {
	in := make([]engine.DumpedKey, len(keys))
	for i, k := range keys {
		in[i] = engine.DumpedKey(k)
	}
	return a.m.RestoreKeys(ctx, nodeID, in)
}

func (a engineAdapter) KeyCount(ctx context.Context, nodeID string) (int64, error) {
	return a.m.KeyCount(ctx, nodeID)
}
