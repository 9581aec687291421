package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"keyward/internal/atomicfile"
)

// Node addresses. With Manager.Addresses set, every new node gets a
// loopback address of its own from that range (on Linux every 127.x.y.z is
// loopback and needs no setup) and listens there on the port its spec asks
// for, so that the nodes of every cache can all serve 6379, as
// ElastiCache's do, and differ by address. The address is kept in
// node.json (record.Host) and never changes, like the port. A node of an
// earlier keyward has no Host and keeps 127.0.0.1 and its port.
//
// The Manager owns each address it hands out: a node's, or one reserved
// with ReserveAddress (a replication group's primary or reader endpoint,
// which moves from node to node with the roles, see NodeSpec.Binds). An
// address:port another process holds is skipped (the next address is
// tried), so several keywards, or other servers, can share the range.
//
// If the platform cannot bind such addresses (macOS, some containers:
// probed once by Open), or Addresses is unset, every node listens on
// 127.0.0.1 on a free port, as before, and ReserveAddress returns "".

// DefaultAddresses is the range keyward's server allocates node addresses
// from unless configured otherwise.
const DefaultAddresses = "127.10.0.0/16"

// legacyHost is where nodes listen without an address of their own.
const legacyHost = "127.0.0.1"

// addressesFile keeps the reservations of ReserveAddress.
const addressesFile = "addresses.json"

// listenAt is where a process of keyward's listens: Host ("" for
// legacyHost, as an earlier keyward recorded it) at Port. The memcached
// records embed it, so its fields keep their JSON names there.
type listenAt struct {
	Host string `json:"host,omitempty"`
	Port int    `json:"port"`
}

// host returns the address the process listens on.
func (l listenAt) host() string {
	if l.Host == "" {
		return legacyHost
	}
	return l.Host
}

// addr returns the process's address, host:port.
func (l listenAt) addr() string { return net.JoinHostPort(l.host(), strconv.Itoa(l.Port)) }

// host returns the address the node listens on.
func (r record) host() string { return listenAt{r.Host, r.Port}.host() }

// addr returns the node's client address, host:port.
func (r record) addr() string { return listenAt{r.Host, r.Port}.addr() }

// ParseAddresses parses a node address range such as "127.10.0.0/16": an
// IPv4 prefix inside 127.0.0.0/8, at most /30.
func ParseAddresses(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("engine: node addresses %q: %w", s, err)
	}
	p = p.Masked()
	if !p.Addr().Is4() || p.Addr().As4()[0] != 127 || p.Bits() < 8 || p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("engine: node addresses %q: want an IPv4 range inside 127.0.0.0/8 of at least 4 addresses, e.g. %s", s, DefaultAddresses)
	}
	return p, nil
}

// usable reports whether a of the range may be handed out: not the
// range's first or last address, not 127.0.0.1 (shared by everything),
// not one ending in .0 or .255 (some tools take those for network and
// broadcast addresses).
func usable(p netip.Prefix, a netip.Addr) bool {
	b := a.As4()
	return p.Contains(a) && a != p.Addr() && b[3] != 0 && b[3] != 255 && a.String() != legacyHost
}

// probeAddresses decides, once per Open, whether nodes get addresses of
// their own; it logs why not when the platform refuses.
func (m *Manager) probeAddresses() {
	if !m.Addresses.IsValid() {
		return
	}
	for a := m.Addresses.Addr(); m.Addresses.Contains(a); a = a.Next() {
		if !usable(m.Addresses, a) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(a.String(), "0"))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			m.log.Warn("engine: this platform cannot bind loopback addresses other than 127.0.0.1, so every node listens on 127.0.0.1 on a free port (endpoints then differ by port, and the requested Port is not honoured)", "range", m.Addresses.String(), "probe", a.String(), "err", err)
			return
		}
		l.Close()
		m.ownHosts = true
		return
	}
}

// ownedHost reports whether host (an address of the range) is taken by a
// node or a reservation. Requires m.mu.
func (m *Manager) ownedHost(host string) bool {
	_, ok := m.hosts[host]
	return ok
}

// claimHost records host for owner. Requires m.mu.
func (m *Manager) claimHost(host, owner string) {
	if host != "" && host != legacyHost {
		m.hosts[host] = owner
	}
}

// free reports whether nothing listens on host:port (port 0: whether host
// has a free port, which it returns).
func free(host string, port int) (int, bool) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return 0, false
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p, true
}

// allocateAddr gives the new node n its address, port and (for a Cluster
// node) bus port: the spec's Port on an address of its own, the next
// address if that port is taken there; or 127.0.0.1 and a free port
// without addresses of its own. FrontPort, when set, must be free on the
// address too (the node's front listens there).
func (m *Manager) allocateAddr(n *node) error {
	m.mu.Lock()
	spec := n.rec.Spec
	own := m.ownHosts
	m.mu.Unlock()
	if !own {
		port, err := m.allocatePort(n.id)
		if err != nil {
			return err
		}
		m.setRecord(n, func(r *record) { r.Host, r.Port = "", port })
		return m.allocateBusPort(n)
	}
	if shared, err := m.sharedAddr(n); shared || err != nil { // serverless.go
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	host, port, bus, err := m.pickHost(n.id, spec.Port, spec.FrontPort, spec.Cluster)
	if err != nil {
		return err
	}
	n.rec.Host, n.rec.Port, n.rec.BusPort = host, port, bus
	m.ports[n.rec.addr()] = n.id
	if bus != 0 {
		m.ports[net.JoinHostPort(host, strconv.Itoa(bus))] = n.id
	}
	return nil
}

// pickHost claims for owner the first address of the range that is free
// where nothing listens on port (0: returns a free port of it), nor on
// frontPort if set; with bus, it also finds a bus port (port + 10000, or a
// free one). Requires m.mu and m.ownHosts.
func (m *Manager) pickHost(owner string, port, frontPort int, bus bool) (string, int, int, error) {
	skipped := 0
	for a := m.Addresses.Addr(); m.Addresses.Contains(a); a = a.Next() {
		host := a.String()
		if !usable(m.Addresses, a) || m.ownedHost(host) || m.busy[host] {
			continue
		}
		got, ok := free(host, port)
		if ok && frontPort != 0 {
			_, ok = free(host, frontPort)
		}
		busPort := 0
		if ok && bus {
			// Redis's own convention, port + 10000, when it fits and is free.
			busPort = got + 10000
			if _, fits := free(host, busPort); busPort > 65535 || !fits {
				busPort, ok = free(host, 0)
			}
		}
		if !ok {
			// Someone else's server holds it: leave the address alone.
			m.busy[host] = true
			if skipped++; skipped == 1 {
				m.log.Info("engine: node address busy, trying the next one", "node", owner, "addr", host, "port", port)
			}
			continue
		}
		m.claimHost(host, owner)
		return host, got, busPort, nil
	}
	return "", 0, 0, fmt.Errorf("engine: node %s: no free address left in %s for port %d", owner, m.Addresses, port)
}

// AllocateHost gives a node of another manager (memcached's) an address
// of its own where port is free (port 0: a free port of it, returned), so
// that every node of this host draws from one range. It returns "" when
// nodes get no addresses of their own (see above).
func (m *Manager) AllocateHost(owner string, port int) (string, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateOpen {
		return "", 0, ErrClosed
	}
	if !m.ownHosts {
		return "", 0, nil
	}
	host, got, _, err := m.pickHost(owner, port, 0, false)
	return host, got, err
}

// ClaimHost records an address a node of another manager already has (one
// found on disk); ReleaseHost returns it, and with busy set never hands it
// out again (another process took its port).
func (m *Manager) ClaimHost(owner, host string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claimHost(host, owner)
}

// ReleaseHost: see ClaimHost.
func (m *Manager) ReleaseHost(owner, host string, busy bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hosts[host] == owner {
		delete(m.hosts, host)
	}
	if busy && host != "" {
		m.busy[host] = true
	}
}

// releaseAddr returns n's address and ports. Requires m.mu.
func (m *Manager) releaseAddr(n *node) {
	if n.rec.Host != "" && m.hosts[n.rec.Host] == n.id {
		delete(m.hosts, n.rec.Host)
	}
	if n.rec.Port != 0 && m.ports[n.rec.addr()] == n.id {
		delete(m.ports, n.rec.addr())
	}
	if n.rec.BusPort != 0 {
		bus := net.JoinHostPort(n.rec.host(), strconv.Itoa(n.rec.BusPort))
		if m.ports[bus] == n.id {
			delete(m.ports, bus)
		}
	}
}

// registerAddr records the address and ports of a node found on disk.
// Requires m.mu.
func (m *Manager) registerAddr(n *node) {
	m.claimHost(n.rec.Host, n.id)
	m.ports[n.rec.addr()] = n.id
	if n.rec.BusPort != 0 {
		m.ports[net.JoinHostPort(n.rec.host(), strconv.Itoa(n.rec.BusPort))] = n.id // a cluster node's bus
	}
}

// ReserveAddress returns the address reserved for owner (a name of the
// caller's, e.g. a replication group's primary endpoint), reserving one of
// the range where nothing listens on port first; the reservation is kept
// in DataDir/addresses.json until ReleaseAddress. Without addresses of its
// own (see above) it returns "".
func (m *Manager) ReserveAddress(owner string, port int) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateOpen {
		return "", ErrClosed
	}
	if !m.ownHosts {
		return "", nil
	}
	if a, ok := m.reserved[owner]; ok {
		return a, nil
	}
	for a := m.Addresses.Addr(); m.Addresses.Contains(a); a = a.Next() {
		host := a.String()
		if !usable(m.Addresses, a) || m.ownedHost(host) || m.busy[host] {
			continue
		}
		if _, ok := free(host, port); !ok {
			m.busy[host] = true
			continue
		}
		m.reserved[owner] = host
		if err := m.saveReserved(); err != nil {
			delete(m.reserved, owner)
			return "", err
		}
		m.claimHost(host, "reserved:"+owner)
		return host, nil
	}
	return "", fmt.Errorf("engine: no free address left in %s", m.Addresses)
}

// ReleaseAddress drops owner's reservation; releasing none is no error.
func (m *Manager) ReleaseAddress(owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.reserved[owner]
	if !ok {
		return nil
	}
	delete(m.reserved, owner)
	if err := m.saveReserved(); err != nil {
		m.reserved[owner] = a
		return err
	}
	if m.hosts[a] == "reserved:"+owner {
		delete(m.hosts, a)
	}
	return nil
}

// reservedHost reports whether host is reserved (by any owner). Requires m.mu.
func (m *Manager) reservedHost(host string) bool {
	owner, ok := m.hosts[host]
	return ok && len(owner) > 9 && owner[:9] == "reserved:"
}

// loadReserved reads the reservations. Requires m.mu.
func (m *Manager) loadReserved() error {
	m.reserved = map[string]string{}
	b, err := os.ReadFile(filepath.Join(m.DataDir, addressesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(b, &m.reserved)
	}
	if err != nil {
		return fmt.Errorf("engine: %s: %w", addressesFile, err)
	}
	for owner, host := range m.reserved {
		m.claimHost(host, "reserved:"+owner)
	}
	return nil
}

// saveReserved writes the reservations. Requires m.mu.
func (m *Manager) saveReserved() error {
	b, _ := json.MarshalIndent(m.reserved, "", "  ")
	if err := atomicfile.Write(filepath.Join(m.DataDir, addressesFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("engine: %s: %w", addressesFile, err)
	}
	return nil
}

// OwnAddresses reports whether new nodes get addresses of their own (see
// above). Valid after Open.
func (m *Manager) OwnAddresses() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ownHosts
}
