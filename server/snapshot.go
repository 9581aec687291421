package server

import (
	"context"
	"errors"
	"path/filepath"

	"keyward/engine"
	"keyward/reconcile"
)

// Snapshot files live in DataDir/snapshots (mode 0700, files 0600), named
// by the store (keyward.SnapshotFileName), never by the caller.

var _ reconcile.SnapshotEngine = engineAdapter{}

func (a engineAdapter) snapshotPath(file string) string {
	return filepath.Join(a.m.DataDir, "snapshots", filepath.Base(file))
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

func (a engineAdapter) SeedNode(ctx context.Context, nodeID, file string) error {
	err := a.m.SeedRDB(nodeID, a.snapshotPath(file))
	if errors.Is(err, engine.ErrNodeExists) {
		return nil
	}
	return err
}

func (a engineAdapter) Synced(ctx context.Context, nodeID string) (bool, error) {
	return a.m.Synced(ctx, nodeID)
}
