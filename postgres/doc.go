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
// wrapped ("postgres: create user \"alice\": ...") and so count as
// EINTERNAL. PostgreSQL aborts a transaction at its first failing
// statement, which would leave a caller unable to go on after, say, an
// EEXISTS; so each write is one statement that finds its own domain error
// in its snapshot without failing: INSERT ... ON CONFLICT DO NOTHING for
// EEXISTS, and for memberships and attachments a CTE that looks for the
// first missing user or group before inserting anything (ENOTFOUND with
// ResourceUser or ResourceUserGroup). Should a unique or foreign-key
// violation still happen, it comes from a concurrent transaction: the
// method maps it to EEXISTS or ENOTFOUND, and Update runs fn again, which
// then sees the other transaction's result.
//
// Schema. Embedded migrations (migration/*.sql) are applied in name order
// at Open, each in its own transaction, and recorded in keyward_migrations.
// Open holds a session advisory lock while migrating, so replicas started
// together take turns and each migration runs once. The tables are those
// of package sqlite, keyed by scope (account, region): users, user_groups,
// the one membership relation user_group_members, tags, caches and the one
// attachment relation cache_user_groups, with foreign keys that cascade.
// User.GroupIDs, UserGroup.UserIDs, ReplicationGroups, ServerlessCaches and
// Cache.UserGroupIDs are derived in the query that reads the rows (ARRAY
// subqueries over indexed relations), never one query per row. Ids use the
// "C" collation, so ORDER BY and pagination compare bytes as Go does.
//
// Times are BIGINT nanoseconds since the Unix epoch: timestamptz keeps only
// microseconds, and keyward's times round-trip to the nanosecond. The zero
// time.Time is NULL, since no int64 of nanoseconds reaches year 1; other
// times must lie between the years 1678 and 2262. Times read back are UTC.
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
