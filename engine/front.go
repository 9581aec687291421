package engine

import "path/filepath"

// NodeCertFiles returns the paths of TLS node id's certificate and key,
// which the node's authenticating front (package fronts) presents too, so
// clients verify the front exactly as they would the node.
func (m *Manager) NodeCertFiles(id string) (cert, key string) {
	dir := m.nodeDir(id)
	return filepath.Join(dir, "tls", "server.pem"), filepath.Join(dir, "tls", "server.key")
}
