// Package mcfront is the front of a Memcached cache node: a small relay that
// owns the node's client-facing port, answers ElastiCache's Auto Discovery
// from the cluster's stored node list, and relays every other byte to the
// memcached process behind it unchanged.
//
// # Why a front
//
// ElastiCache's memcached nodes, and the cluster's configuration endpoint,
// answer "config get cluster" (engines from 1.4.14; "get
// AmazonElastiCache:cluster" before), in the ASCII and the binary protocol,
// with the cluster's configuration version and its nodes:
//
//	CONFIG cluster 0 <length>\r\n
//	<version>\n
//	<host>|<ip>|<port> <host>|<ip>|<port> ...\n
//	\r\n
//	END\r\n
//
// <length> counts the two lines between the header and the "\r\n"; the
// version grows by one each time a node is added or removed. Stock memcached
// has no such command, so the front answers it, and nothing else: the
// node's data, limits and errors stay memcached's own.
//
// # What it parses
//
// The front decides the protocol from a connection's first byte (0x80:
// binary, as memcached does). In the ASCII protocol it finds command lines
// and skips the data blocks of storage commands (set, add, replace, append,
// prepend, cas, ms), so that a value that happens to read "config get
// cluster" is stored, not answered. Each read from the client is written to
// the node in one write; an incomplete command line is held until its end
// arrives (the node could not act on it earlier anyway). In the binary
// protocol it reads the 24-byte request headers and skips bodies; the
// Auto Discovery request is opcode 0x60 with key "cluster", answered with
// 4 bytes of flags and the same value as in ASCII.
//
// # Order of replies
//
// A client may pipeline "config get cluster" behind other commands; its
// answer must come after their replies. A connection that sent nothing to
// the node since it opened (or since the last such point) gets the answer at
// once. Otherwise the front sends the node a barrier and answers when the
// barrier's reply comes back, in its place: in ASCII a meta get with a
// random opaque token ("mg keyward:barrier O<token>"; the reply line, "EN
// O<token>" or "HD O<token>", is found by that token, which no client can
// know), in binary a NOOP with a random opaque, found by framing the node's
// replies. The barrier's reply never reaches the client.
//
// # Discovery data and TLS
//
// The node list comes from a JSON file (Discovery) that keyward rewrites,
// atomically, whenever a cluster's nodes change; the front reads it for each
// request, so every node and the configuration endpoint answer the same
// version at once. With TLS set, the front terminates TLS (in-transit
// encryption) with the node's certificate from keyward's CA and talks to its
// node in plain text on loopback.
//
// Run serves a front from its directory, as its own process ("keyward
// mcfront DIR"), so that it keeps serving while keyward restarts.
package mcfront
