// Package engine runs keyward's cache nodes: real redis-server (or
// valkey-server) processes, one per ElastiCache cache node, and the ACL
// users on them.
//
// # Processes
//
// A Manager owns the nodes under DataDir/nodes/<id>/. Each node directory
// holds the rendered server configuration (server.conf, mode 0600: a
// replica's carries its primary's replication password as masterauth), the
// ACL file the node starts with (users.acl), the data directory (data/,
// append-only file on, and the admin socket), the server's log (server.log,
// plus stdout.log for what the server prints before it opens its log) and
// node.json, the record of the node's spec, port, pid and admin scheme.
//
// Nodes start with a minimal environment (nothing of keyward's, whose
// environment may hold credentials). When keyward runs as root they run as
// the unprivileged NodeUserName (created if absent): the node directory
// stays keyward's (group the node user's, mode 0710), data/ and the files
// the server reads are the node user's, and the data directory and nodes/
// get that group with mode 0710 so the node can reach its directory and
// nothing else.
//
// Nodes run in their own process groups and outlive keyward: Close stops
// supervising but leaves them running, and the next Open adopts every node
// whose process still answers; the others are restarted on the same address
// and port with their data. While open, the Manager restarts a node whose
// process died, with a backoff that Ensure respects too, and then calls
// OnRestart so that the caller re-applies its desired state. A node whose
// process runs but leaves keyward's commands unanswered (CLIENT PAUSE, a
// script SCRIPT KILL cannot end, SIGSTOP) gets SCRIPT KILL, FUNCTION KILL
// and CLIENT UNPAUSE, and is killed and restarted after StuckTimeout. A
// node's address and port never change once assigned.
//
// # Addresses and endpoints
//
// With Addresses set (keyward's server sets DefaultAddresses,
// 127.10.0.0/16, or --node-addresses), every new node gets a loopback
// address of its own and listens there on the port its spec asks for
// (6379 unless the cache asked otherwise), so that endpoints differ by
// address, as ElastiCache's do, and not by port. The address is kept in
// node.json (Host); a node of an earlier keyward has none and keeps
// 127.0.0.1 and its port. An address whose port another process holds is
// skipped for good (another keyward on the same range, a server of the
// operator's). Open probes once whether the platform binds such
// addresses; if not (macOS, some sandboxes) it logs why and every node gets
// 127.0.0.1 and a free port, as before. Redis Cluster nodes announce their
// own address (cluster-announce-ip), and their bus listens there on port
// + 10000 when free; replicas replicate their primary's address.
// Memcached nodes (Memcached.Hosts) draw their addresses from the same
// range, through AllocateHost.
//
// A replication group's PrimaryEndpoint and ReaderEndpoint are stable
// addresses of their own, reserved with ReserveAddress (kept in
// DataDir/addresses.json until ReleaseAddress) and served at the group's
// port by whichever node holds the role: NodeSpec.Binds makes the node
// listen on them too, applied to a running node with CONFIG SET bind
// (Redis 7.0 rebinds its listeners at runtime, several addresses
// included), so a failover moves the primary endpoint's address to the
// promoted node without a restart; a node taking an address waits briefly
// for the node it leaves to let go of it. For a TLS node the front owns
// the client side: it listens on the node's address at the group's port
// and on the endpoint addresses (a change restarts the front), while the
// node itself listens on a free port of its own address behind it
// (NodeSpec.FrontPort keeps the group's port free for the front).
// Certificates name 127.0.0.1, localhost, the node's address and the
// group's endpoint addresses (NodeSpec.CertHosts), so that clients verify
// the node, its front and the endpoints alike, whichever node serves them
// now. The reader endpoint is on one running replica (it stays there while
// that replica runs), or on the primary when none runs.
//
// # Automatic failover
//
// The primary of a cluster-mode-disabled group with automatic failover
// has NodeSpec.Failover. When its process dies (kill -9, a crash),
// supervision does not restart it at once: it holds it down for
// FailoverHold and calls OnExit, and the caller (package reconcile)
// promotes the replica with the highest replication offset: it records
// the new roles and ElastiCache's failover event, then ensures every node
// again: REPLICAOF NO ONE on the promoted replica, which also takes the
// primary endpoint's address; REPLICAOF of it on the other replicas; and
// the old primary started again at once (Ensure is not held back) as a
// replica of the new primary, with its address, port and data. If no
// replica can take over, the caller ensures the old primary as it was;
// without any caller the hold ends and supervision restarts it. A Failover
// primary found dead by Open (it died while keyward was down) is held the
// same way. Without Failover a dead primary is restarted in place.
//
// # The admin channel
//
// keyward talks to a node only over a Unix socket in the node's private
// data directory, after checking with SO_PEERCRED that the node's own
// server process is listening on it, and then authenticates as the ACL
// user AdminUser ("keyward-admin") with a password of that node only. It
// never sends a credential to a node's TCP port, where an impostor may
// listen once the node died. Every node password is derived (HMAC-SHA256)
// from a master secret generated once and kept in DataDir/admin.secret
// (mode 0600), which no node can read. Replicas authenticate to their
// primary over TCP as ReplUser ("keyward-repl") with that primary's own
// replication password, which allows only PSYNC, REPLCONF and PING.
//
// Every start writes an ACL file with keyward's users and a default user
// that is off, so a node always starts closed: a restarted node gets the
// last users ApplyACL asked for before it counts as running (a new
// Manager, which knows none yet, leaves that to OnRestart). Nodes of an
// older keyward (TCP admin channel, one shared secret) are adopted in
// place over a TCP connection that the kernel's socket tables show their
// own server accepted, and moved to per-node credentials; their next start
// puts them on the socket (see legacy.go). The names AdminUser, ReplUser
// and "keyward-scratch" are reserved (see IsReservedUserName): they can
// never be tenant users.
//
// # ACLs
//
// ApplyACL makes a node's ACL users exactly the given ones (plus keyward's),
// writing only what differs and deleting the rest. A user whose rules the
// engine refuses is left off the node (so denied) and reported in a
// RulesRefusedError; every other user is applied all the same.
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
// On Open the Manager creates (or loads) a CA in DataDir/tls, name-
// constrained to 127.0.0.0/8 and localhost when created; each TLS node gets
// a server certificate signed by it for 127.0.0.1, localhost, its own
// address and its group's endpoint addresses (see above). Clients verify
// nodes with CAFile or TLSConfig.
//
// # IAM authentication: an authenticating front per TLS node
//
// A plain Redis/Valkey server cannot check an ElastiCache IAM token (a SigV4
// presigned "connect" URL), so IAM users log in through a front: a small
// RESP proxy (package front) that owns the node's client-facing port, and
// whose port is the one the API reports for the node (endpoints, node
// addresses). This Manager only provides the node's certificate for it
// (NodeCertFiles); package fronts runs and supervises the fronts, and
// server wires both into the reconciler. The choices:
//
//   - Every TLS node gets a front (serverless caches always, replication
//     groups with in-transit encryption, cluster mode included), so
//     endpoints never change when an IAM user joins later; nodes without
//     TLS have none, since ElastiCache accepts IAM only over TLS. The front
//     presents the node's certificate, so clients verify it with the same
//     CA.
//   - The front reaches its node over the node's private Unix socket (the
//     admin channel's, mode 0700 in the node's private data directory; no
//     TLS on that hop), after checking with SO_PEERCRED that the node's
//     own server serves it (Node.Socket, Node.ConfFile), as keyward does.
//     A node of an older keyward has no socket until its next start; its
//     front reaches it over TLS meanwhile.
//   - The front finds command boundaries only, to see AUTH and HELLO ...
//     AUTH wherever they come (a client re-authenticates with a fresh
//     token to extend its connection, as ElastiCache documents); every
//     read is written to the node in one write, unchanged but for a
//     verified token, and replies are copied back as they come. Password
//     users, default and AUTH-token mode behave exactly as on the node. A
//     password with the shape of an IAM token is verified by package
//     iamauth against keyward's SigV4 credentials (service elasticache,
//     the cache's name as host, Action=connect, User, ResourceType for
//     serverless, X-Amz-Expires at most 900 s, clock skew, the key's
//     account owning the cache, its region). A valid token is replaced by
//     the user's internal secret; an invalid one is relayed as sent, and
//     the node answers WRONGPASS.
//   - Authorization stays on the node: an IAM user's ACL entry holds only
//     the SHA-256 of its internal secret (front.Secret, an HMAC of the
//     cache's ARN and the user name under a key in DATA-DIR/fronts/key that
//     only keyward and its fronts read), plus its access string. The front's
//     backend connection is that ACL user's connection, so the access
//     string applies, and DeleteUser, removal from the group, a default
//     swap and CLIENT KILL USER close it like any other; the front then
//     closes the client. Fronts need no per-user state: nothing to hand
//     over when users change.
//   - The 12-hour limit of IAM connections is the front's (counted from the
//     last successful IAM AUTH, as re-authenticating extends it on
//     ElastiCache).
//   - Serverless caches: their shard's replica shares the primary's
//     address (NodeSpec.ShareHost, serverless.go) and its front listens
//     at the next port (6380), so CLUSTER SLOTS names both at the cache's
//     endpoint, as ElastiCache Serverless's does.
//   - Cluster mode: a Cluster node announces its front's port
//     (NodeSpec.AnnouncePort, cluster-announce-tls-port), so CLUSTER SLOTS,
//     SHARDS and NODES and MOVED/ASK redirections name the fronts and
//     cluster clients reach every node through its front; replicas
//     replicate through their primary's front too (cluster.go).
//   - Each front is its own process ("keyward front DIR", own process
//     group, minimal environment), so it keeps serving, and keeps verifying
//     new IAM logins, while keyward is stopped or restarted, like the nodes.
//     fronts.Manager records each front's address, port and pid under
//     DATA-DIR/fronts/<node>/, adopts running fronts on Open, restarts dead
//     ones on the same address and port, and stops them with their node. A front gets
//     keyward's SigV4 credentials on its stdin, never on disk; one started
//     with other credentials is restarted.
//   - A node made by a keyward without fronts serves its clients on the
//     port the API reports. Its front takes that port over: MovePort gives
//     the node a new port with CONFIG SET (tls-port), which closes only its
//     listening socket, so its open connections stay, and the front binds
//     the old port right after (a Cluster node keeps announcing it): new
//     connections are refused only while the front process starts (0.2-0.5
//     s in cmd/keyward's upgrade test). Endpoints do not move; IAM users
//     can log in from then on. A node of a release before the private
//     socket is reached over TLS until its next start. The way back (the
//     cache's in-transit encryption turned off) is MovePortTo: a Cluster
//     node restarts announcing the port it then moves back to
//     (cluster-announce-port), as CONFIG SET port does not change the
//     port a Redis 7.0 node names for itself.
//   - Cost: one more hop. Figures are in docs/bench.md.
//
// # Redis Cluster and memcached
//
// A node with NodeSpec.Cluster is a Redis Cluster node (cluster.go): its
// bus on a port of its own, its cluster state kept in data/nodes.conf; the
// caller forms the cluster through Do and DoPipeline. Redis Cluster fails
// shards over by itself, so every node of a cluster shares one replication
// password (NodeSpec.ReplGroup): whichever node is primary, the others can
// replicate from it. On cluster nodes ReplUser may also RESTORE-ASKING:
// MigrateSlotKeys moves a slot's keys with MIGRATE, which logs in to the
// target node as ReplUser (AUTH2) over TCP, TLS when the cluster bus is;
// that credential could read every key with PSYNC already. OnExit tells
// the caller of a node's death before it is restarted, so that a replica
// can take over first. Memcached (memcached.go) runs
// memcached nodes under DataDir/memcached/ the same way, process groups,
// adoption and supervision (the same restart loop) included, without ACLs
// or configuration files; each node sits behind a front (package mcfront,
// memcached_front.go) that answers ElastiCache's Auto Discovery and serves
// TLS, and each cluster has a configuration endpoint of its own.
//
// All Manager methods are safe for concurrent use.
package engine
