package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"keyward/internal/atomicfile"
)

// NodeUserName is the system user nodes run as when keyward runs as root
// (Manager.RunAs overrides it). It is created, without a home or a login
// shell, if it does not exist.
const NodeUserName = "keyward-node"

// nodeCredential returns the credential nodes start with: nil when keyward
// does not run as root (nodes then run as keyward's own user), otherwise
// the node user's, so that a node that falls to a tenant (nodes run tenant
// Lua) cannot read the master secret, the CA key or the state database.
func (m *Manager) nodeCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	name := m.RunAs
	if name == "" {
		name = NodeUserName
	}
	u, err := user.Lookup(name)
	if err != nil && m.RunAs == "" {
		if cerr := createSystemUser(name); cerr != nil {
			m.log.Warn("engine: cannot create the node user; nodes run as nobody", "user", name, "err", cerr)
			name = "nobody"
		}
		u, err = user.Lookup(name)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: node user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil || uid == 0 {
		return nil, fmt.Errorf("engine: node user %q: uid %s gid %s: want an unprivileged user", name, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// reachable reports whether a process with cred can traverse every
// ancestor of dir (dir itself is prepared by prepareDataDir), and names the
// first one it cannot.
func reachable(dir string, cred *syscall.Credential) (string, bool) {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			return d, false
		}
		mode := st.Mode
		ok := mode&0o001 != 0 ||
			st.Gid == cred.Gid && mode&0o010 != 0 ||
			st.Uid == cred.Uid && mode&0o100 != 0
		if !ok {
			return d, false
		}
		if d == filepath.Dir(d) {
			return "", true
		}
	}
}

// createSystemUser adds a system user (and its group) without a home or a
// shell.
func createSystemUser(name string) error {
	var errs []error
	for _, args := range [][]string{
		{"useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name},
		{"adduser", "--system", "--group", "--no-create-home", "--home", "/nonexistent", "--shell", "/usr/sbin/nologin", name},
	} {
		path, err := exec.LookPath(args[0])
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/sbin"} {
				if _, serr := os.Stat(filepath.Join(dir, args[0])); serr == nil {
					path, err = filepath.Join(dir, args[0]), nil
					break
				}
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cmd := exec.Command(path, args[1:]...)
		cmd.Env = minimalEnv()
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %v: %s", args[0], err, tail(out, 200)))
	}
	return errors.Join(errs...)
}

// prepareDataDir lets the node user traverse the data directory and nodes/
// (group, mode 0710) and nothing more: the files directly in the data
// directory (admin.secret, state.db and its WAL, …) are made private to
// keyward's user if they were not.
func prepareDataDir(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("engine: data dir: %w", err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(filepath.Join(dir, e.Name()), fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("engine: data dir: %w", err)
			}
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "nodes")} {
		if err := os.Chown(d, -1, int(cred.Gid)); err != nil {
			return fmt.Errorf("engine: data dir: %w", err)
		}
		if err := os.Chmod(d, 0o710); err != nil {
			return fmt.Errorf("engine: data dir: %w", err)
		}
	}
	return nil
}

// ownNodeDir gives a node directory its owners before a start. Without a
// node user it stays as created (0700, keyward's). With one, the directory
// itself stays keyward's (group: the node user's, mode 0710), so the node
// cannot replace node.json or its configuration, and data/ (with the admin
// socket) is the node's, recursively, as are the files the server writes
// or reads (chowned where they are written).
func (m *Manager) ownNodeDir(dir string) error {
	cred := m.nodeCred
	if cred == nil {
		return nil
	}
	uid, gid := int(cred.Uid), int(cred.Gid)
	if err := os.Chown(dir, 0, gid); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o710); err != nil {
		return err
	}
	if tlsDir := filepath.Join(dir, "tls"); dirExists(tlsDir) {
		if err := os.Chown(tlsDir, 0, gid); err != nil {
			return err
		}
		if err := os.Chmod(tlsDir, 0o710); err != nil {
			return err
		}
	}
	return filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// writeNodeFile writes a file the node process reads: owned by the node
// user when there is one.
func (m *Manager) writeNodeFile(name string, data []byte, perm os.FileMode) error {
	if err := atomicfile.Write(name, data, perm); err != nil {
		return err
	}
	return m.chownNode(name)
}

func (m *Manager) chownNode(name string) error {
	if m.nodeCred == nil {
		return nil
	}
	return os.Chown(name, int(m.nodeCred.Uid), int(m.nodeCred.Gid))
}
