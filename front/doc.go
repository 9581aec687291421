// Package front is the authenticating front of a cache node: a small RESP
// proxy that owns the node's client-facing TLS port, lets IAM-enabled users
// log in with ElastiCache IAM authentication tokens, and otherwise relays
// bytes unchanged.
//
// # What it does
//
// For each client connection the front completes the TLS handshake, opens
// one backend connection to the node (its private Unix socket, checked to
// be served by the node's own server; or TLS, verified against keyward's
// CA, for a node without one) and then relays both ways in large reads:
// each read from the client is written to the node in one write, and the
// node's replies are copied back as they come. From the client's bytes the
// front only finds where commands begin (RESP array and bulk headers, and
// inline commands), without copying them, so that it sees AUTH and HELLO
// ... AUTH wherever they come: a client may log in at any point, and
// re-authenticate with a fresh token to extend its connection's 12 hours,
// as ElastiCache documents. Input redis-server refuses (a malformed header)
// is relayed as it is from then on: the node closes such a connection.
//
// When AUTH <user> <password> or HELLO <ver> AUTH <user> <password> carries
// a password that has the shape of an IAM token, the front verifies it with
// package iamauth against the node's cache. A valid token is replaced by
// the user's internal secret (Secret), so the node authenticates the
// connection as that ACL user: the node, not the front, decides whether the
// user exists, is on, and what its access string allows. An invalid token,
// and every other password, is forwarded as sent, so the client gets the
// node's own answer (WRONGPASS for a bad token: IAM users' ACL entries
// hold only the hash of their internal secret, which no client knows).
// Replies therefore stay in order even when logins are pipelined.
//
// # Revocation and the 12-hour limit
//
// The backend connection of an IAM login is the node's connection of that
// ACL user, so everything keyward does to users' connections on the node
// (ACL DELUSER, CLIENT KILL USER, a swap of the default user) closes it; the
// front closes the client side whenever the backend side ends. An IAM
// login's connection is closed 12 hours (MaxIAMConnAge) after its last
// successful IAM AUTH, as on ElastiCache; re-authenticating with a fresh
// token extends it.
//
// # Internal secrets
//
// Secret derives a user's internal secret from a key known only to keyward
// and its fronts (HMAC-SHA256 of the cache's identity and the user name), so
// that keyward can put the secret's SHA-256 on the nodes and the front can
// compute it after verifying a token, without any per-user state to hand
// over. Secrets never leave keyward and the fronts.
package front
