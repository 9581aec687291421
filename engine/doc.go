// Package engine runs keyward's cache nodes: real redis-server (or
// valkey-server) processes, one per ElastiCache cache node, and the ACL
// users on them.
//
// # Processes
//
// A Manager owns the nodes under DataDir/nodes/<id>/. Each node directory
// holds the rendered server configuration (server.conf, mode 0600: it
// carries the admin secret as masterauth), the ACL file (users.acl), the
// data directory (data/, append-only file on), the server's log
// (server.log, plus stdout.log for what the server prints before it opens
// its log) and node.json, the record of the node's spec, port and pid.
//
// Nodes run in their own process groups and outlive keyward: Close stops
// supervising but leaves them running, and the next Open adopts every node
// whose process still answers on its port; the others are restarted on the
// same port with their data. While open, the Manager restarts a node whose
// process died, with a backoff, and then calls OnRestart so that the caller
// re-applies its desired state. A node's port never changes once assigned.
//
// # The admin user
//
// keyward talks to its nodes as the ACL user AdminUser ("keyward-admin"),
// whose password is a random secret generated once and kept in
// DataDir/admin.secret (mode 0600). Replicas also use it to authenticate to
// their primary (masteruser/masterauth). A new node starts with only that
// user and a default user that is off, so it is closed until the caller
// applies users with ApplyACL. The names AdminUser and "keyward-scratch"
// are reserved (see IsReservedUserName): they can never be tenant users.
//
// # ACLs
//
// ApplyACL makes a node's ACL users exactly the given ones (plus the admin
// user), writing only what differs, deleting the rest, and saving the ACL
// file so that a restarted node comes back with the last applied users.
// Every tenant user gets TenantDenials appended to its rules (and to each of
// its selectors), so that no tenant can rewrite ACLs, read other users'
// password hashes or reconfigure, replicate or stop the node, whatever its
// access string says.
//
// ACLs are per node and not replicated: apply them to primaries and
// replicas alike.
//
// # TLS
//
// On Open the Manager creates (or loads) a CA in DataDir/tls; each TLS node
// gets a server certificate for 127.0.0.1 and localhost signed by it.
// Clients verify nodes with CAFile or TLSConfig.
//
// # Redis Cluster and memcached
//
// A node with NodeSpec.Cluster is a Redis Cluster node (cluster.go): its
// bus on a port of its own, its cluster state kept in data/nodes.conf; the
// caller forms the cluster through Do. Memcached (memcached.go) runs
// memcached nodes under DataDir/memcached/ the same way, process groups,
// adoption and supervision included, without ACLs or configuration files.
//
// All Manager methods are safe for concurrent use.
package engine
