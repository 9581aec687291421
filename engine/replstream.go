package engine

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A replication stream read by keyward itself: ReplicaStream attaches to a
// node as one of its replicas (REPLCONF, PSYNC), exactly as a redis-server
// replica would, and hands the caller what a replica receives: on a full
// resynchronisation the RDB's keys (loaded through a throwaway server, as
// ReadRDB does), then every command the node propagates, with the
// replication offset reached after them. It is how a Redis Cluster, whose
// nodes refuse REPLICAOF, is replicated into another cluster (a global
// datastore's secondary, see reconcile/globalcluster.go): the caller
// applies the commands to the other cluster's node serving the same slots.
//
// The stream is read on a connection of its own, authenticated as
// AdminUser over the node's private socket, so it needs no network
// credential; the node counts it as a connected replica. The caller's
// offset moves only as it applies commands, so a dropped link resumes
// with PSYNC <replid> <offset+1> (a partial resynchronisation, +CONTINUE)
// when the node's backlog still holds what was missed.

// ReplPosition is where a replica stands in a node's replication history.
// A zero ReplPosition asks for a full resynchronisation.
type ReplPosition struct {
	ReplID string
	Offset int64 // the offset of the last byte applied
}

// StreamHandler receives a replication stream. FullSync is called when the
// node starts a full resynchronisation (the caller discards what it
// applied: it receives everything again), Keys with the RDB's keys, batch
// by batch, then Commands with each batch of propagated write commands and
// the position reached after them (PING, REPLCONF and SELECT are the
// stream's own and not handed out). An error from a handler ends the
// stream with that error.
type StreamHandler struct {
	FullSync func(ctx context.Context, at ReplPosition) error
	Keys     func(ctx context.Context, keys []DumpedKey) error
	Commands func(ctx context.Context, cmds [][]string, at ReplPosition) error
}

// streamBatch is how many commands Commands gets at most at once.
const streamBatch = 512

// streamTimeout is how long a stream may stay silent: a node pings its
// replicas every 10 s (repl-ping-replica-period) and sends newlines while
// it prepares an RDB, so silence this long (repl-timeout's default) means
// the node hangs; rdbTimeout bounds the transfer of an RDB.
const (
	streamTimeout = 60 * time.Second
	rdbTimeout    = 10 * time.Minute
)

// ReplicaStream reads node id's replication stream from pos until ctx ends
// or the link fails, and returns why it stopped.
func (m *Manager) ReplicaStream(ctx context.Context, id string, pos ReplPosition, h StreamHandler) error {
	n, err := m.lookup(id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	inst, engine := n.inst, n.rec.Spec.Engine
	m.mu.Unlock()
	if inst == nil || inst.dead() {
		return ErrNodeNotRunning
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := m.dialNode(dctx, n, inst.pid)
	cancel()
	if err != nil {
		return fmt.Errorf("engine: replicate %s: %w", id, err)
	}
	defer c.close()
	stop := context.AfterFunc(ctx, func() { c.close() })
	defer stop()
	if _, err := c.do(ctx, "REPLCONF", "capa", "psync2"); err != nil {
		return fmt.Errorf("engine: replicate %s: REPLCONF: %w", id, err)
	}
	replid, off := "?", "-1"
	if pos.ReplID != "" {
		replid, off = pos.ReplID, strconv.FormatInt(pos.Offset+1, 10)
	}
	c.nc.SetDeadline(time.Time{})
	c.nc.SetReadDeadline(time.Now().Add(streamTimeout))
	writeCommand(c.bw, []string{"PSYNC", replid, off})
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("engine: replicate %s: PSYNC: %w", id, err)
	}
	line, err := keepaliveLine(c.br)
	if err != nil {
		return fmt.Errorf("engine: replicate %s: PSYNC: %w", id, err)
	}
	var at ReplPosition
	switch f := strings.Fields(line); {
	case len(f) == 3 && f[0] == "+FULLRESYNC":
		at.ReplID = f[1]
		if at.Offset, err = strconv.ParseInt(f[2], 10, 64); err != nil {
			return fmt.Errorf("engine: replicate %s: %q: %w", id, line, errProtocol)
		}
		if err := h.FullSync(ctx, at); err != nil {
			return err
		}
		c.nc.SetReadDeadline(time.Now().Add(rdbTimeout))
		if err := m.receiveRDB(ctx, c.br, engine, func(keys []DumpedKey) error { return h.Keys(ctx, keys) }); err != nil {
			return fmt.Errorf("engine: replicate %s: %w", id, err)
		}
		// The keys are in: the position is the snapshot's, even before a
		// command follows.
		if err := h.Commands(ctx, nil, at); err != nil {
			return err
		}
	case len(f) >= 1 && f[0] == "+CONTINUE":
		at = pos
		if len(f) == 2 {
			at.ReplID = f[1] // the node's history moved on (a failover) and includes ours
		}
	case strings.HasPrefix(line, "-"):
		return fmt.Errorf("engine: replicate %s: PSYNC: %w", id, respError(line[1:]))
	default:
		return fmt.Errorf("engine: replicate %s: PSYNC answered %q: %w", id, line, errProtocol)
	}
	return m.followStream(ctx, c, at, h)
}

// keepaliveLine reads the reply line to PSYNC or SYNC, skipping the bare
// newlines a node sends while it prepares the RDB.
func keepaliveLine(br *bufio.Reader) (string, error) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			return line, nil
		}
	}
}

// receiveRDB reads the "$<length>" RDB payload of a full resynchronisation
// into a private file and hands its keys to fn (ReadRDB's throwaway
// server loads it).
func (m *Manager) receiveRDB(ctx context.Context, br *bufio.Reader, engine string, fn func([]DumpedKey) error) error {
	line, err := keepaliveLine(br)
	if err != nil {
		return fmt.Errorf("rdb: %w", err)
	}
	if !strings.HasPrefix(line, "$") || strings.HasPrefix(line, "$EOF:") {
		return fmt.Errorf("rdb header %q: %w", line, errProtocol)
	}
	size, err := strconv.ParseInt(line[1:], 10, 64)
	if err != nil || size < 0 {
		return fmt.Errorf("rdb header %q: %w", line, errProtocol)
	}
	b := make([]byte, 8)
	rand.Read(b)
	dir := filepath.Join(m.nodesDir(), loadDirPrefix+"repl-"+hex.EncodeToString(b))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "stream.rdb")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, br, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rdb: %w", err)
	}
	return m.ReadRDB(ctx, engine, path, fn)
}

// followStream reads the command stream after the position at, hands it
// out in batches, and acknowledges the applied offset every second (and
// when the node asks, REPLCONF GETACK), as a replica does: a node drops a
// replica that stays silent for repl-timeout.
func (m *Manager) followStream(ctx context.Context, c *respConn, at ReplPosition, h StreamHandler) error {
	var applied atomic.Int64
	applied.Store(at.Offset)
	var wmu sync.Mutex
	ack := func() error {
		wmu.Lock()
		defer wmu.Unlock()
		writeCommand(c.bw, []string{"REPLCONF", "ACK", strconv.FormatInt(applied.Load(), 10)})
		return c.bw.Flush()
	}
	if err := ack(); err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if ack() != nil {
					c.close()
					return
				}
			}
		}
	}()
	var batch [][]string
	for {
		if c.br.Buffered() == 0 {
			c.nc.SetReadDeadline(time.Now().Add(streamTimeout))
		}
		cmd, size, err := readCommand(c.br)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("engine: replication stream: %w", err)
		}
		at.Offset += size
		switch strings.ToUpper(cmd[0]) {
		case "PING", "SELECT":
		case "REPLCONF":
			if len(cmd) > 1 && strings.EqualFold(cmd[1], "GETACK") {
				if err := h.Commands(ctx, batch, at); err != nil {
					return err
				}
				batch = nil
				applied.Store(at.Offset)
				if err := ack(); err != nil {
					return err
				}
			}
		default:
			batch = append(batch, cmd)
		}
		// Hand out what arrived together, and at once when nothing more
		// is waiting (a quiet stream is applied as it comes).
		if len(batch) >= streamBatch || c.br.Buffered() == 0 {
			if err := h.Commands(ctx, batch, at); err != nil {
				return err
			}
			batch = nil
			applied.Store(at.Offset)
		}
	}
}

// readCommand reads one propagated command (a RESP array of bulk strings)
// and returns it with its size on the wire, which the replication offset
// counts.
func readCommand(br *bufio.Reader) ([]string, int64, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, 0, err
	}
	size := int64(len(line))
	if len(line) < 4 || line[0] != '*' || line[len(line)-2] != '\r' {
		return nil, 0, fmt.Errorf("command header %q: %w", line, errProtocol)
	}
	n, err := strconv.Atoi(line[1 : len(line)-2])
	if err != nil || n < 1 {
		return nil, 0, fmt.Errorf("command header %q: %w", line, errProtocol)
	}
	cmd := make([]string, n)
	for i := range cmd {
		h, err := br.ReadString('\n')
		if err != nil {
			return nil, 0, err
		}
		if len(h) < 4 || h[0] != '$' || h[len(h)-2] != '\r' {
			return nil, 0, fmt.Errorf("argument header %q: %w", h, errProtocol)
		}
		l, err := strconv.Atoi(h[1 : len(h)-2])
		if err != nil || l < 0 {
			return nil, 0, fmt.Errorf("argument header %q: %w", h, errProtocol)
		}
		buf := make([]byte, l+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, 0, err
		}
		cmd[i] = string(buf[:l])
		size += int64(len(h) + l + 2)
	}
	return cmd, size, nil
}

// ErrStreamStopped is what a handler may return to end a stream on
// purpose.
var ErrStreamStopped = errors.New("engine: replication stream stopped")
