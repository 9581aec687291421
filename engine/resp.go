package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// The admin side of the engine speaks RESP2 through this small client rather
// than go-redis: it needs exactly AUTH, a handful of commands, pipelines and
// MULTI/EXEC with per-command replies, and it must never retry on its own
// (a retried SHUTDOWN or ACL SETUSER would be wrong), negotiate protocol
// features or log. Tenants' clients are go-redis in the tests.

// respError is an error reply ("-ERR ...", "-NOPERM ...").
type respError string

func (e respError) Error() string { return string(e) }

// defaultOpTimeout bounds an admin operation whose context has no deadline.
const defaultOpTimeout = 10 * time.Second

// respConn is one RESP2 connection. It is not safe for concurrent use.
type respConn struct {
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer

	// rendered caches, for ApplyACL, the engine's ACL GETUSER rendering of
	// a user's rules (joined with NUL), or the engine's refusal of them.
	// The engine's rendering of the same rules is not stable over a
	// server's life (the order of the commands it lists can change), so a
	// cached rendering that disagrees with the node is confirmed by a
	// fresh one before anything is written (see applyACL).
	rendered map[string]any
	// last is what the last ApplyACL on this connection applied: the
	// desired users, and those among them that the engine refused (left
	// off the node), so that the next one can revoke the users it drops
	// before anything else (see applyACL). last is nil before the first.
	last        []ACLUser
	lastRefused map[string]string
	// list is the node's ACL LIST right after the last apply that
	// compared every user (nil: unknown), so that the next apply of the
	// same users, the periodic resync's, is one ACL LIST when nothing
	// drifted.
	list []string
	// listRaw is the last ACL LIST reply, as the node sent it, that
	// matched list (nil: none yet), and rawBuf the buffer raw reads into;
	// see listUnchanged.
	listRaw, rawBuf []byte
}

// setList records v, an ACL LIST reply, as the node's list after a full
// comparison (nil: unknown).
func (c *respConn) setList(v any) {
	c.list, c.listRaw = nil, c.listRaw[:0]
	if v != nil {
		c.list, _ = stringList(v)
	}
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
func newWriter(c net.Conn) *bufio.Writer { return bufio.NewWriter(c) }

func (c *respConn) close() error { return c.nc.Close() }

// do sends one command and returns its reply; an error reply is returned
// as a respError.
func (c *respConn) do(ctx context.Context, args ...string) (any, error) {
	replies, err := c.pipeline(ctx, [][]string{args})
	if err != nil {
		return nil, err
	}
	if e, ok := replies[0].(respError); ok {
		return nil, e
	}
	return replies[0], nil
}

// pipeline sends cmds at once and reads one reply per command. Error
// replies are returned in place as respError values; the error result is
// for I/O and protocol failures only, after which c must be closed.
func (c *respConn) pipeline(ctx context.Context, cmds [][]string) (replies []any, err error) {
	err = c.exchange(ctx, cmds, func() error {
		replies = make([]any, len(cmds))
		for i := range cmds {
			if replies[i], err = readReply(c.br); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return replies, nil
}

// raw sends one command and returns its reply's bytes as the node sent
// them, unparsed, in a buffer that the next raw call reuses.
func (c *respConn) raw(ctx context.Context, args ...string) ([]byte, error) {
	err := c.exchange(ctx, [][]string{args}, func() (err error) {
		c.rawBuf, err = readRaw(c.br, c.rawBuf[:0])
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.rawBuf, nil
}

// exchange sends cmds at once and calls read to read the replies, within
// ctx's deadline (or defaultOpTimeout).
func (c *respConn) exchange(ctx context.Context, cmds [][]string, read func() error) (err error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultOpTimeout)
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return err
	}
	// Unblock the read if ctx is cancelled before the deadline.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		// If the AfterFunc ran, the deadline is poisoned (maybe only
		// later): report the cancellation so that the caller drops c.
		if !stop() {
			err = ctx.Err()
		}
	}()
	for _, args := range cmds {
		writeCommand(c.bw, args)
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	return read()
}

// tx runs cmds inside MULTI/EXEC, so no other client observes the
// intermediate states, and returns one reply per command (error replies as
// respError values). A command refused while queueing (syntax, unknown
// command) aborts the whole transaction with that error.
func (c *respConn) tx(ctx context.Context, cmds [][]string) ([]any, error) {
	all := make([][]string, 0, len(cmds)+2)
	all = append(all, []string{"MULTI"})
	all = append(all, cmds...)
	all = append(all, []string{"EXEC"})
	replies, err := c.pipeline(ctx, all)
	if err != nil {
		return nil, err
	}
	for i, r := range replies[:len(replies)-1] {
		if e, ok := r.(respError); ok {
			if i == 0 {
				return nil, e
			}
			return nil, fmt.Errorf("%s: %w", cmds[i-1][0], e)
		}
	}
	switch exec := replies[len(replies)-1].(type) {
	case []any:
		if len(exec) != len(cmds) {
			return nil, fmt.Errorf("exec: %d replies for %d commands", len(exec), len(cmds))
		}
		return exec, nil
	case respError:
		return nil, exec
	default:
		return nil, fmt.Errorf("exec: unexpected reply %v", exec)
	}
}

func writeCommand(w *bufio.Writer, args []string) {
	w.WriteByte('*')
	w.WriteString(strconv.Itoa(len(args)))
	w.WriteString("\r\n")
	for _, a := range args {
		w.WriteByte('$')
		w.WriteString(strconv.Itoa(len(a)))
		w.WriteString("\r\n")
		w.WriteString(a)
		w.WriteString("\r\n")
	}
}

var errProtocol = errors.New("resp: protocol error")

// readReply reads one RESP2 reply: simple and bulk strings as string,
// integers as int64, arrays as []any, nulls as nil, errors as respError.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errProtocol
	}
	typ, body := line[0], line[1:len(line)-2]
	switch typ {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, errProtocol
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, errProtocol
		}
		if n < 0 {
			return nil, nil
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, errProtocol
}

// readRaw appends one whole reply, unparsed, to dst.
func readRaw(r *bufio.Reader, dst []byte) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return dst, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return dst, errProtocol
	}
	dst = append(dst, line...)
	typ, n := line[0], parseLen(line[1:len(line)-2])
	switch {
	case typ == '+' || typ == '-' || typ == ':':
		return dst, nil
	case n < -1:
		return dst, errProtocol
	case typ == '$' && n >= 0:
		start := len(dst)
		dst = slices.Grow(dst, n+2)[:start+n+2]
		_, err := io.ReadFull(r, dst[start:])
		return dst, err
	case typ == '*':
		for range n {
			if dst, err = readRaw(r, dst); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case typ == '$':
		return dst, nil // null
	}
	return dst, errProtocol
}

// parseLen parses a RESP length ("-1" for null); -2 if b is not one.
func parseLen(b []byte) int {
	if string(b) == "-1" {
		return -1
	}
	if len(b) == 0 || len(b) > 9 {
		return -2
	}
	n := 0
	for _, d := range b {
		if d < '0' || d > '9' {
			return -2
		}
		n = n*10 + int(d-'0')
	}
	return n
}

// replyEqual reports whether two replies of readReply are the same, as
// reflect.DeepEqual would (an empty array is not a nil reply), without
// reflection: reconcileACL compares every desired user's ACL GETUSER
// reply with its rendering on each pass, which reflect made a tenth of
// keyward's CPU in a revocation across 300 nodes.
func replyEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case respError:
		y, ok := b.(respError)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for i := range x {
			if !replyEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
