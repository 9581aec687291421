-- 0002_caches: replication groups and serverless caches, and the groups a
-- deleting user was taken out of.
--
-- Both kinds of cache live in one table keyed by (account, region, kind,
-- id): the same id names a replication group and a serverless cache that
-- have nothing to do with each other. kind is the ARN resource type, as
-- cache_user_groups.cache_type and tags.resource_type spell it. Attachments
-- stay in cache_user_groups (0001), from which both Cache.UserGroupIDs and
-- UserGroup.ReplicationGroups/ServerlessCaches are derived; the stores
-- delete a cache's attachments and tags together with the cache.
--
-- Times, lists and nodes follow 0001: fixed-width UTC text with
-- nanoseconds, JSON arrays. Booleans are 0 or 1.

ALTER TABLE users ADD COLUMN leaving_groups TEXT NOT NULL DEFAULT '[]';

CREATE TABLE caches (
	account                    TEXT NOT NULL,
	region                     TEXT NOT NULL,
	kind                       TEXT NOT NULL CHECK (kind IN ('replicationgroup', 'serverlesscache')),
	id                         TEXT NOT NULL,
	description                TEXT NOT NULL,
	engine                     TEXT NOT NULL,
	engine_version             TEXT NOT NULL,
	cache_node_type            TEXT NOT NULL,
	status                     TEXT NOT NULL,
	status_since               TEXT NOT NULL,
	generation                 INTEGER NOT NULL,
	created_at                 TEXT NOT NULL,
	num_nodes                  INTEGER NOT NULL,
	transit_encryption         INTEGER NOT NULL CHECK (transit_encryption IN (0, 1)),
	auth_token_hashes          TEXT NOT NULL DEFAULT '[]',
	auth_token_optional        INTEGER NOT NULL CHECK (auth_token_optional IN (0, 1)),
	auth_token_last_modified   TEXT NOT NULL,
	pending_user_groups_add    TEXT NOT NULL DEFAULT '[]',
	pending_user_groups_remove TEXT NOT NULL DEFAULT '[]',
	-- [{"cluster_id": ..., "role": ..., "port": ...}, ...], primary first.
	nodes                      TEXT NOT NULL DEFAULT '[]',
	failure_message            TEXT NOT NULL,
	applied_acl                TEXT NOT NULL,
	applied_default_user       TEXT NOT NULL,
	PRIMARY KEY (account, region, kind, id)
) WITHOUT ROWID;

-- FindUnsettled reads only the few caches that are not at rest. The query
-- repeats this condition word for word so that SQLite uses the index.
CREATE INDEX caches_unsettled ON caches (status) WHERE status NOT IN ('available', 'create-failed');
