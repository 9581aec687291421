// Package postgres is keyward's shared store: a keyward.Store in a
// PostgreSQL database, through pgx (pgxpool), so that several keyward
// replicas serve one state. It behaves as package sqlite does; the
// storetest suite holds both to the same contract.
//
// Transactions. Update runs fn in a SERIALIZABLE transaction, so that the
// read-check-write sequences of the api package (quotas, membership
// rules) hold across replicas without explicit row locks. A transaction
// that loses a conflict (SQLSTATE 40001 or 40P01) is rolled back and fn
// runs again, as in pkgsite's Transact; hence Store's rule that fn may run
// more than once. The second run follows a short random sleep; a third
// runs alone, excluding every other Update in every replica for its
// length, so that it cannot lose again and no Update starves on a busy
// scope (optimistic concurrency with a pessimistic fallback, as lock
// elision does; see Store.Update). View runs fn in a REPEATABLE READ READ
// ONLY transaction: one snapshot, no writes, and no serialization
// failures.
//
// Errors. Domain errors from fn pass through unchanged; driver errors are
// wrapped ("postgres: insert user \"alice\": ...") and so count as
// EINTERNAL. PostgreSQL aborts a transaction at its first failing
// statement, which would leave a caller unable to go on after, say, an
// EEXISTS; so each method checks what it needs in its snapshot first and
// writes only once every check passed: the targets of a document's
// references (ENOTFOUND naming the target's kind), the Restrict references
// that hold a document being deleted (EREFERENCED), and INSERT ... ON
// CONFLICT DO NOTHING for EEXISTS. A method that returns a domain error has
// written nothing. Should a unique violation still happen, it comes from a
// concurrent transaction, and Update runs fn again, which then sees the
// other transaction's result.
//
// Schema. Embedded migrations (migration/*.sql) are applied in name order
// at Open, each in its own transaction, and recorded in keyward_migrations.
// Open holds a session advisory lock while migrating, so replicas started
// together take turns and each migration runs once. Every resource kind
// lives in the same three tables (see keyward.DocTx), as in package
// sqlite: docs (the JSON body of each resource, keyed by kind, account,
// region and id), doc_index (fields lookups filter on) and doc_refs
// (references between documents, with their delete rule), with no foreign
// keys: the methods check references inside the SERIALIZABLE transaction,
// and a concurrent change of what they checked (a group deleted while a
// cache attaches to it) is a serialization failure that Update retries.
// Both ends of a relation are derived from doc_refs in the query that
// reads the documents (ARRAY subqueries over its indexes), never one query
// per row. Migration 0002 moved the tables of 0001 into documents. Ids use
// the "C" collation, so ORDER BY and pagination compare bytes as Go does.
// Times are inside the JSON bodies, RFC 3339 with nanoseconds.
//
// Replicas. Lease (TryAcquireLease, AcquireLease) elects one holder, such
// as the reconciler's leader, through a session advisory lock on a
// connection of its own: if the holder dies, PostgreSQL releases the lock
// with its connection and another replica takes over. Listen wakes a
// replica when any replica commits a write, through LISTEN/NOTIFY on
// ChangesChannel: Update notifies inside the transaction, so a listener
// hears of a change only once it is committed and never of a rolled-back
// one. Both hold a session on a connection of their own, so they need a
// direct connection to PostgreSQL, not one through a transaction-pooling
// proxy. Advisory lock keys are pairs (a keyward constant, an FNV hash of
// the name), which keeps them apart from other applications' locks in the
// same database.
package postgres
