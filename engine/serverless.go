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
