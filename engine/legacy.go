package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Nodes started by a keyward before the private admin socket (record
// scheme 0) listen on their TCP port only, and know the master secret as
// the admin password and masterauth. Open adopts them in place, so that
// their clients keep their connections: keyward reaches them over TCP, but
// only after the kernel's socket tables show that the connection it opened
// was accepted by the node's own server process (nothing is sent before),
// and it moves them at once to per-node credentials (record scheme 1). Their
// next start puts them on the socket (scheme 2).
const (
	schemeLegacy   = 0 // TCP admin channel, master secret on every node
	schemeMigrated = 1 // TCP admin channel checked by peer, per-node credentials
)

// dialLegacy opens the admin channel of a node of scheme 0 or 1 over TCP,
// checking before anything is sent that the connection is served by pid.
func (m *Manager) dialLegacy(ctx context.Context, n *node, rec record, pid int) (*respConn, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("%w: no recorded pid to check the port against", errNotOurs)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", rec.addr())
	if err != nil {
		return nil, err
	}
	if err := acceptedBy(ctx, nc.(*net.TCPConn), pid); err != nil {
		nc.Close()
		return nil, err
	}
	if rec.Spec.TLS {
		conf := m.ca.TLSConfig()
		conf.ServerName = "127.0.0.1"
		tc := tls.Client(nc, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	pass := m.secret
	if rec.Scheme == schemeMigrated {
		pass = m.adminPass(n.id)
	}
	c := &respConn{nc: nc, br: newReader(nc), bw: newWriter(nc)}
	_, err = c.do(ctx, "AUTH", AdminUser, pass)
	if rec.Scheme == schemeLegacy && errors.As(err, new(respError)) {
		// A migration interrupted before its record was written.
		_, err = c.do(ctx, "AUTH", AdminUser, m.adminPass(n.id))
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("auth as %s: %w", AdminUser, err)
	}
	return c, nil
}

// acceptedBy waits (briefly: the server accepts at once) until the
// loopback connection c shows, in /proc/net/tcp, as accepted by a socket in
// pid's descriptor table, and fails if it does not.
func acceptedBy(ctx context.Context, c *net.TCPConn, pid int) error {
	local := c.LocalAddr().(*net.TCPAddr)
	remote := c.RemoteAddr().(*net.TCPAddr)
	// The server's side: local = the node's port, remote = our port.
	want := fmt.Sprintf("0100007F:%04X 0100007F:%04X", remote.Port, local.Port)
	deadline := time.Now().Add(time.Second)
	for {
		if inode := tcpInode(want); inode != "" && hasSocket(pid, inode) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%w: port %d: connection not accepted by pid %d", errNotOurs, remote.Port, pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tcpInode returns the inode of the socket in /proc/net/tcp whose local and
// remote addresses are addrs ("0100007F:1F90 0100007F:C350"), "" if none.
func tcpInode(addrs string) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 9 && fs[1]+" "+fs[2] == addrs {
			return fs[9]
		}
	}
	return ""
}

// hasSocket reports whether pid has socket inode open.
func hasSocket(pid int, inode string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && l == want {
			return true
		}
	}
	return false
}

// migrate moves an adopted node of scheme 0 to per-node credentials over
// its checked admin connection: its own admin password, the
// replication-only user, and (for a replica) its primary's replication
// password. The master secret then opens nothing on it.
func (m *Manager) migrate(ctx context.Context, n *node, c *respConn) error {
	m.mu.Lock()
	rec := n.rec
	m.mu.Unlock()
	cmds := [][]string{
		append([]string{"ACL", "SETUSER", ReplUser, "reset"}, m.replRules(rec.Spec)...),
		append([]string{"ACL", "SETUSER", AdminUser, "reset"}, m.adminRules(n.id)...),
		{"CONFIG", "SET", "masteruser", ReplUser},
	}
	if rec.Spec.ReplicaOf != "" {
		cmds = append(cmds, []string{"CONFIG", "SET", "masterauth", m.replPass(rec.Spec.ReplicaOf)})
	} else {
		cmds = append(cmds, []string{"CONFIG", "SET", "masterauth", ""})
	}
	for _, cmd := range cmds {
		if _, err := c.do(ctx, cmd...); err != nil {
			return fmt.Errorf("%s %s: %w", cmd[0], cmd[1], err)
		}
	}
	return nil
}

// migrateLegacy moves adopted node n of scheme 0 to scheme 1 and rewrites
// its files, so that no file holds the master secret any more. Requires
// n.life.
func (m *Manager) migrateLegacy(ctx context.Context, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := m.dialNode(ctx, n, 0)
	if err != nil {
		return err
	}
	defer c.close()
	if err := m.migrate(ctx, n, c); err != nil {
		return fmt.Errorf("move to per-node credentials: %w", err)
	}
	m.setRecord(n, func(r *record) { r.Scheme = schemeMigrated })
	if err := m.writeNodeFiles(n); err != nil {
		return err
	}
	m.log.Info("engine: node of an older keyward moved to per-node credentials; its next start puts it on the private socket", "node", n.id)
	return nil
}
