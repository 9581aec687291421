// Package sqlite is keyward's embedded store: a keyward.Store kept in one
// SQLite database file, through the pure-Go modernc.org/sqlite driver (no
// cgo).
//
// Durability. An Update that returned nil survives a crash of the process
// (kill -9) and a loss of power of the machine:
//
//   - journal_mode=WAL: commits append to the write-ahead log, readers keep
//     reading their snapshot while the one writer writes, and a commit costs
//     one sequential write and one fsync.
//   - synchronous=FULL: the WAL is fsynced before every COMMIT returns. WAL's
//     usual synchronous=NORMAL syncs only at checkpoints, which survives a
//     process crash but may lose the last commits on power loss, breaking
//     Store.Update's promise.
//   - foreign_keys=ON: the membership and attachment relations cascade when
//     a user or group is deleted, and cannot point at rows that do not exist.
//   - busy_timeout: another process holding the write lock (a second keyward
//     on the same file, the sqlite3 shell, a backup) makes a writer wait
//     instead of failing at once.
//
// Connections. A Store keeps two pools of the same file. The writer has one
// connection, which the commit loop holds and on which every statement is
// prepared once at Open; its transactions are prepared BEGIN IMMEDIATE and
// COMMIT statements, so concurrent Updates queue in Go for that connection
// instead of polling SQLite's lock with busy-handler sleeps, and a write
// transaction never fails half-way when upgrading a read lock. The readers
// are connections opened with query_only, kept by the store (readers.go),
// each preparing its statements on first use: a View takes one, runs a
// prepared BEGIN, fn and ROLLBACK on it, so Views run in parallel with each
// other and with the writer on their own WAL snapshot, and cannot write.
// database/sql transactions are not used on either path: they cost a
// goroutine, a context, two parses and a statement binding per
// transaction. Every pragma is given in the DSN, so it applies to every
// connection either pool opens.
//
// Methods. A document method (InsertDoc, UpdateDoc, DeleteDoc) finds its
// domain errors (EEXISTS, ENOTFOUND, EREFERENCED) before it writes, so
// they leave the transaction as it was; if a write itself fails, the whole
// Update fails, even if fn returns nil, so that nothing half-applied is
// committed.
//
// Group commit. An fsync costs far more than the statements of an Update, so
// one goroutine owns the write connection and runs the Updates waiting for
// it in one transaction, each inside its own SAVEPOINT (an Update that fails
// or panics rolls back to it, and the others go on), then commits and
// fsyncs once for all of them. Each fn still runs on its caller's goroutine,
// one at a time, and no Update returns before the commit holding it is
// durable. If a shared commit fails, each of its Updates runs again alone,
// which is why fn may run more than once. Under one client this is plain
// one-transaction-per-Update; under many it multiplies write throughput.
//
// Schema. Embedded migrations (migration/*.sql) are applied in name order at
// Open, each in its own transaction, and recorded in the migrations table;
// reopening a database applies only the new ones. Every row is keyed by the
// scope (account, region) it lives in. Memberships are one relation
// (user_group_members) from which both User.GroupIDs and UserGroup.UserIDs are
// derived on every read. Replication groups and serverless caches share one
// table keyed by (account, region, kind, id), so the same id names two
// unrelated caches of different kinds; attachments are one relation too
// (cache_user_groups), from which both Cache.UserGroupIDs and
// UserGroup.ReplicationGroups/ServerlessCaches are derived. Deleting a cache
// deletes its attachments and tags; deleting a group drops its attachments
// by cascade. Lists and cache nodes are JSON arrays. Times are stored as
// fixed-width RFC 3339 text in UTC with nanoseconds and read back as UTC.
package sqlite
