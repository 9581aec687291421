package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Reading an RDB key by key, for restores that cannot hand a node the file
// itself: a cluster-mode snapshot restored into another number of shards
// (or a cluster-mode-disabled one into cluster mode), whose keys must land
// on the shards owning their slots. ReadRDB loads the file into a
// throwaway server of the same engine (no TCP port: a unix socket in a
// private directory, running as the node user like every node, since the
// file may come from outside), and hands out its keys as DUMP payloads;
// RestoreKeys writes them to a node with RESTORE ... REPLACE, so a restore
// cut short by a crash can simply be run again.

// DumpedKey is one key of an RDB: its DUMP payload and its remaining time
// to live in milliseconds (0: none).
type DumpedKey struct {
	Key, Payload string
	TTL          int64
}

// ErrBadRDB: the throwaway server could not load the file (not an RDB,
// or of a newer format than the engine's).
var ErrBadRDB = errors.New("engine: the file is not an RDB the engine can load")

// loadBatch is how many keys ReadRDB hands out at a time.
const loadBatch = 500

// loadDirPrefix names the throwaway servers' directories under nodes/ (a
// name no node id can have, so Open ignores them).
const loadDirPrefix = ".load-"

// ReadRDB calls fn with the keys of the RDB file src, loadBatch at a time,
// read by a throwaway server of engine. Keys of databases other than 0 are
// an error: where they would go is not defined (cluster mode has one).
func (m *Manager) ReadRDB(ctx context.Context, engine, src string, fn func([]DumpedKey) error) error {
	bin, err := m.binary(engine)
	if err != nil {
		return err
	}
	m.removeStaleLoads()
	b := make([]byte, 8)
	rand.Read(b)
	dir := filepath.Join(m.nodesDir(), loadDirPrefix+hex.EncodeToString(b))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("engine: read rdb: %w", err)
	}
	defer os.RemoveAll(dir)
	if _, err := copyFileDurably(src, filepath.Join(dir, "dump.rdb")); err != nil {
		return fmt.Errorf("engine: read rdb: %w", err)
	}
	if m.nodeCred != nil {
		for _, p := range []string{dir, filepath.Join(dir, "dump.rdb")} {
			if err := m.chownNode(p); err != nil {
				return fmt.Errorf("engine: read rdb: %w", err)
			}
		}
	}
	// The socket is named relative to --dir (the server has changed into
	// it when it binds), so that its path fits in sockaddr_un.
	sock := filepath.Join(dir, "s.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", "s.sock", "--unixsocketperm", "700",
		"--dir", dir, "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", "",
		"--daemonize", "no", "--logfile", filepath.Join(dir, "server.log"))
	cmd.Dir, cmd.Env = dir, minimalEnv()
	// Its own process group, and killed with keyward: it holds nothing
	// that outlives the restore.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: m.nodeCred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("engine: read rdb: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()
	c, err := waitLoaded(ctx, sock, exited)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		if errors.Is(err, errExited) {
			err = ErrBadRDB
		}
		return fmt.Errorf("engine: read rdb %s: %w: %s", filepath.Base(src), err, tail(log, 300))
	}
	defer c.close()
	ks, err := c.do(ctx, "INFO", "keyspace")
	if err != nil {
		return fmt.Errorf("engine: read rdb: %w", err)
	}
	text, _ := ks.(string)
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "db") && !strings.HasPrefix(line, "db0:") {
			return fmt.Errorf("engine: read rdb %s: keys in a database other than 0 (%s)", filepath.Base(src), strings.TrimSpace(line))
		}
	}
	cursor := "0"
	for {
		r, err := c.do(ctx, "SCAN", cursor, "COUNT", strconv.Itoa(loadBatch))
		if err != nil {
			return fmt.Errorf("engine: read rdb: SCAN: %w", err)
		}
		page, _ := r.([]any)
		if len(page) != 2 {
			return fmt.Errorf("engine: read rdb: SCAN answered %v", r)
		}
		cursor, _ = page[0].(string)
		names, _ := page[1].([]any)
		cmds := make([][]string, 0, 2*len(names))
		for _, k := range names {
			key, _ := k.(string)
			cmds = append(cmds, []string{"PTTL", key}, []string{"DUMP", key})
		}
		replies, err := c.pipeline(ctx, cmds)
		if err != nil {
			return fmt.Errorf("engine: read rdb: %w", err)
		}
		batch := make([]DumpedKey, 0, len(names))
		for i, k := range names {
			ttl, _ := replies[2*i].(int64)
			payload, ok := replies[2*i+1].(string)
			if !ok {
				if e, isErr := replies[2*i+1].(respError); isErr {
					return fmt.Errorf("engine: read rdb: DUMP: %w", e)
				}
				continue // expired meanwhile
			}
			if ttl < 0 {
				ttl = 0
			}
			batch = append(batch, DumpedKey{Key: k.(string), Payload: payload, TTL: ttl})
		}
		if len(batch) > 0 {
			if err := fn(batch); err != nil {
				return err
			}
		}
		if cursor == "0" {
			return nil
		}
	}
}

var errExited = errors.New("the server exited")

// waitLoaded dials the throwaway server's socket until it has loaded its
// data set.
func waitLoaded(ctx context.Context, sock string, exited <-chan struct{}) (*respConn, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		select {
		case <-exited:
			return nil, errExited
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		nc, err := dialUnix(ctx, sock)
		if err != nil {
			continue
		}
		c := &respConn{nc: nc, br: newReader(nc), bw: newWriter(nc)}
		r, err := c.do(ctx, "INFO", "persistence")
		text, _ := r.(string)
		if err == nil && strings.Contains(text, "loading:0") {
			return c, nil
		}
		c.close()
	}
}

// removeStaleLoads removes the directories of throwaway servers that a
// crash left behind (their servers died with keyward).
func (m *Manager) removeStaleLoads() {
	old, _ := filepath.Glob(filepath.Join(m.nodesDir(), loadDirPrefix+"*"))
	for _, d := range old {
		if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.RemoveAll(d)
		}
	}
}

// RestoreKeys writes keys to node id (RESTORE with REPLACE: a key restored
// twice keeps the snapshot's value).
func (m *Manager) RestoreKeys(ctx context.Context, id string, keys []DumpedKey) error {
	n, err := m.lookup(id)
	if err != nil {
		return err
	}
	cmds := make([][]string, len(keys))
	for i, k := range keys {
		cmds[i] = []string{"RESTORE", k.Key, strconv.FormatInt(k.TTL, 10), k.Payload, "REPLACE"}
	}
	return m.withAdmin(ctx, n, func(c *respConn) error {
		replies, err := c.pipeline(ctx, cmds)
		if err != nil {
			return err
		}
		for i, r := range replies {
			if e, ok := r.(respError); ok {
				return fmt.Errorf("engine: node %s: RESTORE %s: %w", id, keys[i].Key, e)
			}
		}
		return nil
	})
}

// KeyCount returns the number of keys of node id (DBSIZE).
func (m *Manager) KeyCount(ctx context.Context, id string) (int64, error) {
	n, err := m.lookup(id)
	if err != nil {
		return 0, err
	}
	var count int64
	err = m.withAdmin(ctx, n, func(c *respConn) error {
		r, err := c.do(ctx, "DBSIZE")
		count, _ = r.(int64)
		return err
	})
	return count, err
}
