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
//   - foreign_keys=ON: kept for safety, though the schema of 0003 has no
//     foreign keys: references are checked by the store's methods.
//   - busy_timeout: another process holding the write lock (a second keyward
//     on the same file, the sqlite3 shell, a backup) makes a writer wait
//     instead of failing at once.
//
// Connections. A Store keeps one connection, which the commit loop holds
// and on which every statement is prepared once at Open; its transactions
// are prepared BEGIN IMMEDIATE and COMMIT statements, so concurrent
// Updates queue in Go for that connection instead of polling SQLite's
// lock with busy-handler sleeps, and a write transaction never fails
// half-way when upgrading a read lock. database/sql transactions are not
// used: they cost a goroutine, a context, two parses and a statement
// binding per transaction. Every pragma is given in the DSN, so it
// applies to every connection the pool opens.
//
// Reads. Every document is held in memory by version (memindex.go), so a
// View runs no SQL: it reads the last committed version, pinned while fn
// runs, as one snapshot, in parallel with other Views and with the
// writer; Updates read their own transaction's state from memory too. A
// version is published only once its COMMIT returned, that is once it is
// durable. Another process (or a second Store) committing to the file is
// seen by a View through SQLite's WAL-index change counter in the -shm
// file (shm.go), read from a read-only mapping: the View then makes the
// writer read the database again first.
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
// reopening a database applies only the new ones. Every resource kind lives
// in one table (see keyward.DocTx): docs holds each resource's JSON body
// keyed by (kind, account, region, id), with, since migration 0004, the
// fields lookups filter on (fields, a JSON array of [name, value]) and its
// references with their delete rule (refs) in the same row, so writing a
// document is one statement. The store keeps the documents, their fields
// and references in a versioned in-memory index (memindex.go), built from
// docs at Open, whose versions are counted in memory; a View reads the
// index as of the version it pinned, so reads, lookups, reference checks
// and both ends of a relation (a group's members and a user's groups, a
// cache's group and a group's caches) cost no SQL. An Update that fails is
// rolled back to its savepoint in the database and in memory (undo).
// Migration 0003 moved the tables of 0001 and 0002 into documents. A new
// resource kind needs no new table and no new SQL.
package sqlite
