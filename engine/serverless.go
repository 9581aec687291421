package engine

import (
	"fmt"
	"net"
	"strconv"
)

// A node that becomes a Redis Cluster node after it was made (a serverless
// cache's node of an earlier release, which ran standalone, or one that ran
// standalone while an online migration replicated into it: see package
// reconcile's serverless.go) is restarted with its data by Ensure, as for
// any change of NodeSpec.Cluster. It needs a cluster bus port first, which
// only new Cluster nodes got (allocateAddr): clusterBusPort gives it one on
// its own address, port + 10000 when free there (Redis's convention), else
// a free one. The port is kept in node.json like the client port, so a
// later standalone spell and return keeps it.

// A serverless cache's reader is a replica on the address of the cache's
// endpoint, at the next port (ElastiCache's 6380 beside 6379), so that
// CLUSTER SLOTS names both at the endpoint: NodeSpec.ShareHost gives a new
// node the address of another node (not one of its own), its client port
// (or its front's, FrontPort) there, and a bus port there. The address
// stays its first owner's; both nodes go together (a cache's deletion).

// sharedAddr allocates a new node's address and ports on the address of
// the node its spec's ShareHost names, if any. It reports whether it did.
// Requires own addresses (Manager.ownHosts).
func (m *Manager) sharedAddr(n *node) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	spec := n.rec.Spec
	if spec.ShareHost == "" {
		return false, nil
	}
	other := m.nodes[spec.ShareHost]
	if other == nil || other.rec.Host == "" {
		return false, nil // gone, or on 127.0.0.1: an address of its own
	}
	host := other.rec.Host
	taken := func(p int) bool { _, used := m.ports[net.JoinHostPort(host, strconv.Itoa(p))]; return used }
	port, ok := free(host, spec.Port)
	if ok && spec.Port != 0 && taken(port) {
		ok = false
	}
	if ok && spec.FrontPort != 0 {
		_, ok = free(host, spec.FrontPort)
		ok = ok && !taken(spec.FrontPort)
	}
	if !ok {
		return false, fmt.Errorf("engine: node %s: port %d or %d taken on %s, the address of %s", n.id, spec.Port, spec.FrontPort, host, spec.ShareHost)
	}
	bus := 0
	if spec.Cluster {
		bus = port + 10000
		if _, fits := free(host, bus); bus > 65535 || !fits || taken(bus) {
			if bus, ok = free(host, 0); !ok || taken(bus) {
				return false, fmt.Errorf("engine: node %s: no free cluster bus port on %s", n.id, host)
			}
		}
	}
	n.rec.Host, n.rec.Port, n.rec.BusPort = host, port, bus
	m.ports[n.rec.addr()] = n.id
	if bus != 0 {
		m.ports[net.JoinHostPort(host, strconv.Itoa(bus))] = n.id
	}
	return true, nil
}

// clusterBusPort gives n, about to start as a Cluster node, a bus port if it
// has none.
func (m *Manager) clusterBusPort(n *node) error {
	m.mu.Lock()
	need := n.rec.Spec.Cluster && n.rec.BusPort == 0
	host, port := n.rec.Host, n.rec.Port
	m.mu.Unlock()
	if !need {
		return nil
	}
	if host == "" {
		// A node on 127.0.0.1 (no addresses of its own): any free port.
		return m.allocateBusPort(n)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	bus := port + 10000
	taken := func(p int) bool { _, used := m.ports[net.JoinHostPort(host, strconv.Itoa(p))]; return used }
	if _, ok := free(host, bus); bus > 65535 || !ok || taken(bus) {
		var ok bool
		if bus, ok = free(host, 0); !ok || taken(bus) {
			return fmt.Errorf("engine: node %s: no free cluster bus port on %s", n.id, host)
		}
	}
	n.rec.BusPort = bus
	m.ports[net.JoinHostPort(host, strconv.Itoa(bus))] = n.id
	return nil
}
