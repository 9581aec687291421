-- 0001_init: users, user groups, their one membership relation, tags and
-- cache attachments. Every row is keyed by (account, region, ...), the
-- scope it lives in; resources in different scopes never see each other.
--
-- Times are TEXT in UTC with nanoseconds at a fixed width
-- ("2006-01-02T15:04:05.000000000Z"), so they round-trip exactly and sort.
-- Lists (password hashes, pending membership changes) are JSON arrays.

CREATE TABLE users (
	account            TEXT NOT NULL,
	region             TEXT NOT NULL,
	id                 TEXT NOT NULL,
	name               TEXT NOT NULL,
	engine             TEXT NOT NULL,
	access_string      TEXT NOT NULL,
	auth               TEXT NOT NULL,
	password_hashes    TEXT NOT NULL DEFAULT '[]',
	min_engine_version TEXT NOT NULL,
	status             TEXT NOT NULL,
	status_since       TEXT NOT NULL,
	generation         INTEGER NOT NULL,
	created_at         TEXT NOT NULL,
	PRIMARY KEY (account, region, id)
) WITHOUT ROWID;

-- FindUnsettled reads only the few rows that are not at rest.
CREATE INDEX users_unsettled ON users (status) WHERE status <> 'active';

CREATE TABLE user_groups (
	account            TEXT NOT NULL,
	region             TEXT NOT NULL,
	id                 TEXT NOT NULL,
	engine             TEXT NOT NULL,
	status             TEXT NOT NULL,
	status_since       TEXT NOT NULL,
	generation         INTEGER NOT NULL,
	created_at         TEXT NOT NULL,
	pending_add        TEXT NOT NULL DEFAULT '[]',
	pending_remove     TEXT NOT NULL DEFAULT '[]',
	min_engine_version TEXT NOT NULL,
	PRIMARY KEY (account, region, id)
) WITHOUT ROWID;

CREATE INDEX user_groups_unsettled ON user_groups (status) WHERE status <> 'active';

-- The one membership relation: User.GroupIDs and UserGroup.UserIDs are
-- both derived from it on every read, so they can never disagree.
CREATE TABLE user_group_members (
	account  TEXT NOT NULL,
	region   TEXT NOT NULL,
	group_id TEXT NOT NULL,
	user_id  TEXT NOT NULL,
	PRIMARY KEY (account, region, group_id, user_id),
	FOREIGN KEY (account, region, group_id) REFERENCES user_groups (account, region, id) ON DELETE CASCADE,
	FOREIGN KEY (account, region, user_id) REFERENCES users (account, region, id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Reads a user's groups and serves the cascade when a user is deleted.
CREATE INDEX user_group_members_user ON user_group_members (account, region, user_id, group_id);

-- Tags of any taggable resource, in the order they were added (position).
-- resource_type is the ARN type ("user", "usergroup", ...). The stores
-- delete a resource's tags together with the resource.
CREATE TABLE tags (
	account       TEXT NOT NULL,
	region        TEXT NOT NULL,
	resource_type TEXT NOT NULL,
	resource_id   TEXT NOT NULL,
	position      INTEGER NOT NULL,
	key           TEXT NOT NULL,
	value         TEXT NOT NULL,
	PRIMARY KEY (account, region, resource_type, resource_id, position)
) WITHOUT ROWID;

-- Which caches use which user group. UserGroup.ReplicationGroups and
-- UserGroup.ServerlessCaches are derived from it.
CREATE TABLE cache_user_groups (
	account    TEXT NOT NULL,
	region     TEXT NOT NULL,
	cache_type TEXT NOT NULL CHECK (cache_type IN ('replicationgroup', 'serverlesscache')),
	cache_id   TEXT NOT NULL,
	group_id   TEXT NOT NULL,
	PRIMARY KEY (account, region, cache_type, cache_id, group_id),
	FOREIGN KEY (account, region, group_id) REFERENCES user_groups (account, region, id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX cache_user_groups_group ON cache_user_groups (account, region, group_id, cache_type, cache_id);
