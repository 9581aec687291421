// Package fronts runs the authenticating fronts (package front) of keyward's
// TLS nodes: one front per node, each owning the node's client-facing port,
// and supervises and adopts them the way package engine does the nodes.
//
// # Files
//
// A Manager keeps its state under DataDir/fronts:
//
//   - key (0600): the 32-byte key IAM users' internal secrets are derived
//     from (front.Secret), generated once;
//   - <node-id>/front.json: the front's configuration (its port, the node's
//     socket and the configuration file its server names, or its TLS
//     address, the node's certificate, the cache it serves);
//   - <node-id>/front.pid: the pid of the front process.
//
// # Processes
//
// By default each front is its own process, "keyward front <dir>" (Command),
// in its own process group, so that it keeps serving while keyward is
// stopped or restarted, as the nodes do. Open adopts every front whose
// process still runs (its command line names its directory) and restarts
// the others on their recorded ports; while open, the Manager restarts a
// front whose process died. Close leaves fronts running; Stop ends one and
// removes its directory. A front's port never changes once assigned;
// Reserve assigns it before the front starts, when the node must know it
// (a Cluster node announces it) or when the front takes over its node's
// port.
//
// A front process runs with GOMAXPROCS=1 (KEYWARD_FRONT_GOMAXPROCS
// overrides it): it waits on sockets, hundreds of them run on one machine,
// and more Ps only add threads, memory and wakeups (docs/bench.md).
//
// A front process gets keyward's SigV4 credentials on its standard input
// at start, so they are never written to disk (the key file is the only
// secret there, like the engine's admin secret); front.json records a
// keyed fingerprint of them, and a front started with other credentials
// than the current ones is restarted.
//
// InProcess runs fronts as goroutines of the calling process instead (for
// tests, which cannot exec keyward); they end with Close.
package fronts
