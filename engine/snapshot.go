package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Snapshots: a node's data as an RDB file, and nodes started from one.
//
// SaveRDB asks the node for a BGSAVE through the admin user and copies the
// dump it writes into a file of the caller's (a temporary name, fsync,
// rename, fsync of the directory: the file exists whole or not at all).
// SeedRDB gives a node that has not started yet an RDB as its data: the
// file becomes the node's appendonly.aof, which the server loads as an RDB
// preamble (Redis 7 and Valkey move it into their multi-part AOF
// directory on that first start), so the data is there before the node
// answers. WaitSynced reports when a replica holds its primary's data.

// saveLocks serialises SaveRDB per node: two saves would share dump.rdb.
var saveLocks sync.Map // *Manager + node id → *sync.Mutex

// savePoll is how often SaveRDB looks whether the BGSAVE finished.
const savePoll = 10 * time.Millisecond

// SaveRDB writes the node's current data, as an RDB file, to dest (created
// with mode 0600), and returns its size.
func (m *Manager) SaveRDB(ctx context.Context, id, dest string) (int64, error) {
	n, err := m.lookup(id)
	if err != nil {
		return 0, err
	}
	mu, _ := saveLocks.LoadOrStore(fmt.Sprintf("%p/%s", m, id), new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	before, err := m.persistence(ctx, n)
	if err != nil {
		return 0, err
	}
	// SCHEDULE: if an AOF rewrite runs, the save starts after it instead
	// of failing.
	if err := m.withAdmin(ctx, n, func(c *respConn) error {
		r, err := c.do(ctx, "BGSAVE", "SCHEDULE")
		if e, ok := r.(respError); ok {
			return e
		}
		return err
	}); err != nil {
		return 0, fmt.Errorf("engine: node %s: BGSAVE: %w", id, err)
	}
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(savePoll):
		}
		p, err := m.persistence(ctx, n)
		if err != nil {
			return 0, err
		}
		if p["rdb_bgsave_in_progress"] == "1" || p["rdb_saves"] == before["rdb_saves"] {
			continue
		}
		if p["rdb_last_bgsave_status"] != "ok" {
			return 0, fmt.Errorf("engine: node %s: BGSAVE failed (see its server.log)", id)
		}
		break
	}
	dump := filepath.Join(n.dir, "data", "dump.rdb")
	size, err := copyFileDurably(dump, dest)
	if err != nil {
		return 0, fmt.Errorf("engine: node %s: copy RDB: %w", id, err)
	}
	os.Remove(dump) // the copy is what counts; nodes load their AOF, not this
	return size, nil
}

// persistence returns the fields of INFO persistence.
func (m *Manager) persistence(ctx context.Context, n *node) (map[string]string, error) {
	fields := map[string]string{}
	err := m.withAdmin(ctx, n, func(c *respConn) error {
		r, err := c.do(ctx, "INFO", "persistence")
		if err != nil {
			return err
		}
		if e, ok := r.(respError); ok {
			return e
		}
		text, _ := r.(string)
		for line := range strings.Lines(text) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				fields[k] = v
			}
		}
		return nil
	})
	if err == nil && fields["rdb_saves"] == "" {
		err = fmt.Errorf("engine: node %s: INFO persistence has no rdb_saves (engine too old)", n.id)
	}
	return fields, err
}

// ErrNodeExists is returned by SeedRDB for a node that already has data.
var ErrNodeExists = errors.New("engine: node already exists")

// SeedRDB makes src the data of node id, which must not have started yet:
// call it before the first Ensure of the node.
func (m *Manager) SeedRDB(id, src string) error {
	if err := validateID(id); err != nil {
		return err
	}
	m.mu.Lock()
	n := m.nodes[id]
	open := m.state == stateOpen
	m.mu.Unlock()
	if !open {
		return ErrClosed
	}
	if n != nil {
		return fmt.Errorf("engine: seed %s: %w", id, ErrNodeExists)
	}
	data := filepath.Join(m.nodeDir(id), "data")
	if _, err := os.Stat(filepath.Join(data, "appendonlydir")); err == nil {
		return fmt.Errorf("engine: seed %s: %w", id, ErrNodeExists)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("engine: seed %s: %w", id, err)
	}
	if _, err := copyFileDurably(src, filepath.Join(data, "appendonly.aof")); err != nil {
		return fmt.Errorf("engine: seed %s: %w", id, err)
	}
	return nil
}

// Synced reports whether the replica id has loaded its primary's data
// and follows it (a primary is always synced).
func (m *Manager) Synced(ctx context.Context, id string) (bool, error) {
	n, err := m.lookup(id)
	if err != nil {
		return false, err
	}
	var fields = map[string]string{}
	err = m.withAdmin(ctx, n, func(c *respConn) error {
		r, err := c.do(ctx, "INFO", "replication")
		if err != nil {
			return err
		}
		if e, ok := r.(respError); ok {
			return e
		}
		text, _ := r.(string)
		for line := range strings.Lines(text) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				fields[k] = v
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if fields["role"] != "slave" {
		return true, nil
	}
	return fields["master_link_status"] == "up" && fields["master_sync_in_progress"] == "0", nil
}

// copyFileDurably copies src to dst through a temporary file in dst's
// directory (mode 0600), synced before the rename and the directory after
// it, so dst is either absent or whole, even after a crash.
func copyFileDurably(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, err
	}
	// Temporaries of an earlier copy to dst, cut short by a crash.
	if old, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")); len(old) > 0 {
		for _, o := range old {
			os.Remove(o)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	size, err := io.Copy(f, in)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return 0, err
	}
	return size, syncDir(filepath.Dir(dst))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CopyFile copies a snapshot file durably (see SaveRDB), for CopySnapshot.
func CopyFile(src, dst string) (int64, error) { return copyFileDurably(src, dst) }

// RemoveFile removes a file; a missing one is not an error.
func RemoveFile(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
