package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ReplUser is the ACL user a replica authenticates as to its primary. It
// may only replicate (PSYNC, REPLCONF, PING): replicas connect over TCP, so
// what they send can reach an impostor on a dead primary's port, and it
// must open nothing else.
const ReplUser = "keyward-repl"

// adminSocket is the name of a node's admin socket in its data directory
// (see renderConfig).
const adminSocket = "admin.sock"

// scheme is the admin-channel scheme of node.json for nodes started by this
// keyward; see legacy.go for the older ones.
const scheme = 2

// nodeSecret derives a node's credential for purpose from the master
// secret: distinct for every node and purpose, so a leaked one opens one
// node for one thing, and never written to a file the node can read
// (only its SHA-256, in the node's ACL file).
func nodeSecret(master, purpose, id string) string {
	h := hmac.New(sha256.New, []byte(master))
	h.Write([]byte(purpose + "\x00" + id))
	return hex.EncodeToString(h.Sum(nil))
}

func (m *Manager) adminPass(id string) string { return nodeSecret(m.secret, "admin", id) }
func (m *Manager) replPass(id string) string  { return nodeSecret(m.secret, "repl", id) }

// ownReplPass is the password of the node's own ReplUser: the node's, or
// its replication group's (NodeSpec.ReplGroup), which every member shares
// so that any of them can replicate from whichever is primary.
func (m *Manager) ownReplPass(s NodeSpec) string {
	if s.ReplGroup != "" {
		return nodeSecret(m.secret, "repl-group", s.ReplGroup)
	}
	return m.replPass(s.ID)
}

// primaryReplPass is the node's masterauth: its group's password, or its
// primary's own; "" for a primary outside a group.
func (m *Manager) primaryReplPass(s NodeSpec) string {
	switch {
	case s.ReplGroup != "":
		return nodeSecret(m.secret, "repl-group", s.ReplGroup)
	case s.ReplicaOf != "":
		return m.replPass(s.ReplicaOf)
	}
	return ""
}

// NodeAdminPassword returns the password of AdminUser on node id of the
// Manager whose DataDir is dataDir, for operators and tests. keyward
// itself only uses it over the node's private socket (NodeAdminSocket).
func NodeAdminPassword(dataDir, id string) (string, error) {
	if err := validateID(id); err != nil {
		return "", err
	}
	master, err := loadOrCreateSecret(filepath.Join(dataDir, "admin.secret"), false)
	if err != nil {
		return "", err
	}
	return nodeSecret(master, "admin", id), nil
}

// NodeAdminSocket returns the path of node id's admin socket.
func NodeAdminSocket(dataDir, id string) string {
	return filepath.Join(dataDir, "nodes", id, "data", adminSocket)
}

// sunPathMax is the room for a socket path in struct sockaddr_un (Linux),
// less the terminating NUL.
const sunPathMax = 107

// dialUnix connects to the socket at path. A path longer than sockaddr_un
// allows is reached through a descriptor of its directory.
func dialUnix(ctx context.Context, path string) (*net.UnixConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	target := path
	if len(path) > sunPathMax {
		dir, err := os.Open(filepath.Dir(path))
		if err != nil {
			return nil, err
		}
		defer dir.Close()
		target = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	}
	c, err := d.DialContext(ctx, "unix", target)
	if err != nil {
		return nil, err
	}
	return c.(*net.UnixConn), nil
}

// peerPID returns the pid of the process that bound the socket c is
// connected to, as the kernel reports it (SO_PEERCRED): it cannot be
// forged by the peer.
func peerPID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return int(cred.Pid), nil
}

// errNotOurs is returned when a node's socket is served by a process that is
// not the node's server; no credential was sent to it.
var errNotOurs = errors.New("admin socket served by another process")

// dialNode opens n's admin channel: its private socket, checked to be
// served by pid (or, with pid 0, by a server started from n's
// configuration) before anything is sent, then AUTH as AdminUser with n's
// own password.
func (m *Manager) dialNode(ctx context.Context, n *node, pid int) (*respConn, error) {
	m.mu.Lock()
	rec := n.rec
	m.mu.Unlock()
	if rec.Scheme < scheme {
		if pid == 0 && ownsProcess(rec.PID, m.confPath(n)) {
			pid = rec.PID
		}
		return m.dialLegacy(ctx, n, rec, pid)
	}
	uc, err := dialUnix(ctx, filepath.Join(n.dir, "data", adminSocket))
	if err != nil {
		return nil, err
	}
	peer, err := peerPID(uc)
	if err == nil && (pid != 0 && peer != pid || pid == 0 && !ownsProcess(peer, m.confPath(n))) {
		err = fmt.Errorf("%w (pid %d)", errNotOurs, peer)
	}
	if err != nil {
		uc.Close()
		return nil, err
	}
	c := &respConn{nc: uc, br: newReader(uc), bw: newWriter(uc)}
	if _, err := c.do(ctx, "AUTH", AdminUser, m.adminPass(n.id)); err != nil {
		c.close()
		return nil, fmt.Errorf("auth as %s: %w", AdminUser, err)
	}
	return c, nil
}

// minimalEnv is the environment of a node process: nothing of keyward's own
// (which may hold credentials, e.g. KEYWARD_SECRET_ACCESS_KEY), since
// nodes run tenant Lua.
func minimalEnv() []string {
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	if tz, ok := os.LookupEnv("TZ"); ok && !strings.ContainsRune(tz, 0) {
		env = append(env, "TZ="+tz)
	}
	return env
}
