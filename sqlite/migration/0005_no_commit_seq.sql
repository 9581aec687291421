-- 0005_no_commit_seq: the version of the in-memory index (memindex.go)
-- is counted in memory from 1 at Open, and another connection's commit
-- is found by SQLite's WAL-index change counter alone (shm.go), so no
-- write transaction updates a row of its own any more: commit_seq,
-- written as the first statement of every one since 0004, goes.

DROP TABLE commit_seq;
