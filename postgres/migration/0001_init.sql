-- 0001_init: users, user groups, their one membership relation, tags,
-- caches and cache attachments: the schema of package sqlite's 0001 and
-- 0002 in one step, in PostgreSQL's types. Every row is keyed by
-- (account, region, ...), the scope it lives in; resources in different
-- scopes never see each other.
--
-- Times are BIGINT nanoseconds since the Unix epoch (UTC), because
-- timestamptz keeps only microseconds and keyward's times carry
-- nanoseconds. NULL stands for Go's zero time.Time (e.g. a cache that never
-- had an AUTH token), which no int64 of nanoseconds can hold.
--
-- Identifiers and other key columns use the "C" collation, so that ORDER BY
-- id and the pagination predicate id > $after compare bytes, as Go's
-- slices.Sort and SQLite do, whatever the database's default collation.
--
-- Lists of strings are text[]; cache nodes are a jsonb array.

CREATE TABLE users (
	account            text COLLATE "C" NOT NULL,
	region             text COLLATE "C" NOT NULL,
	id                 text COLLATE "C" NOT NULL,
	name               text COLLATE "C" NOT NULL,
	engine             text NOT NULL,
	access_string      text NOT NULL,
	auth               text NOT NULL,
	password_hashes    text[] NOT NULL DEFAULT '{}',
	min_engine_version text NOT NULL,
	status             text NOT NULL,
	status_since       bigint,
	generation         bigint NOT NULL,
	created_at         bigint,
	leaving_groups     text[] COLLATE "C" NOT NULL DEFAULT '{}',
	PRIMARY KEY (account, region, id)
);

-- FindUnsettled reads only the few rows that are not at rest; the query
-- repeats the condition so that the planner can use the index.
CREATE INDEX users_unsettled ON users (account, region, id) WHERE status <> 'active';

CREATE TABLE user_groups (
	account            text COLLATE "C" NOT NULL,
	region             text COLLATE "C" NOT NULL,
	id                 text COLLATE "C" NOT NULL,
	engine             text NOT NULL,
	status             text NOT NULL,
	status_since       bigint,
	generation         bigint NOT NULL,
	created_at         bigint,
	pending_add        text[] COLLATE "C" NOT NULL DEFAULT '{}',
	pending_remove     text[] COLLATE "C" NOT NULL DEFAULT '{}',
	min_engine_version text NOT NULL,
	PRIMARY KEY (account, region, id)
);

CREATE INDEX user_groups_unsettled ON user_groups (account, region, id) WHERE status <> 'active';

-- The one membership relation: User.GroupIDs and UserGroup.UserIDs are
-- both derived from it on every read, so they can never disagree. The
-- primary key serves a group's members; user_group_members_user serves a
-- user's groups and the cascade when a user is deleted.
CREATE TABLE user_group_members (
	account  text COLLATE "C" NOT NULL,
	region   text COLLATE "C" NOT NULL,
	group_id text COLLATE "C" NOT NULL,
	user_id  text COLLATE "C" NOT NULL,
	PRIMARY KEY (account, region, group_id, user_id),
	FOREIGN KEY (account, region, group_id) REFERENCES user_groups (account, region, id) ON DELETE CASCADE,
	FOREIGN KEY (account, region, user_id) REFERENCES users (account, region, id) ON DELETE CASCADE
);

CREATE INDEX user_group_members_user ON user_group_members (account, region, user_id, group_id);

-- Tags of any taggable resource, in the order they were added (position,
-- from 1). resource_type is the ARN type ("user", "usergroup", ...). The
-- store deletes a resource's tags together with the resource.
CREATE TABLE tags (
	account       text COLLATE "C" NOT NULL,
	region        text COLLATE "C" NOT NULL,
	resource_type text COLLATE "C" NOT NULL,
	resource_id   text COLLATE "C" NOT NULL,
	position      integer NOT NULL,
	key           text NOT NULL,
	value         text NOT NULL,
	PRIMARY KEY (account, region, resource_type, resource_id, position)
);

-- Replication groups and serverless caches, in one table keyed by
-- (account, region, kind, id): the same id names a replication group and a
-- serverless cache that have nothing to do with each other. kind is the ARN
-- resource type, as cache_user_groups.cache_type and tags.resource_type
-- spell it.
CREATE TABLE caches (
	account                    text COLLATE "C" NOT NULL,
	region                     text COLLATE "C" NOT NULL,
	kind                       text COLLATE "C" NOT NULL CHECK (kind IN ('replicationgroup', 'serverlesscache')),
	id                         text COLLATE "C" NOT NULL,
	description                text NOT NULL,
	engine                     text NOT NULL,
	engine_version             text NOT NULL,
	cache_node_type            text NOT NULL,
	status                     text NOT NULL,
	status_since               bigint,
	generation                 bigint NOT NULL,
	created_at                 bigint,
	num_nodes                  integer NOT NULL,
	transit_encryption         boolean NOT NULL,
	auth_token_hashes          text[] NOT NULL DEFAULT '{}',
	auth_token_optional        boolean NOT NULL,
	auth_token_last_modified   bigint,
	pending_user_groups_add    text[] COLLATE "C" NOT NULL DEFAULT '{}',
	pending_user_groups_remove text[] COLLATE "C" NOT NULL DEFAULT '{}',
	-- [{"cluster_id": ..., "role": ..., "port": ...}, ...], primary first.
	nodes                      jsonb NOT NULL DEFAULT '[]',
	failure_message            text NOT NULL,
	applied_acl                text NOT NULL,
	applied_default_user       text NOT NULL,
	PRIMARY KEY (account, region, kind, id)
);

CREATE INDEX caches_unsettled ON caches (account, region, kind, id)
	WHERE status NOT IN ('available', 'create-failed');

-- Which caches use which user group. Cache.UserGroupIDs and
-- UserGroup.ReplicationGroups/ServerlessCaches are both derived from it.
-- Unlike SQLite's, it references the cache too, so deleting either end
-- deletes the attachment.
CREATE TABLE cache_user_groups (
	account    text COLLATE "C" NOT NULL,
	region     text COLLATE "C" NOT NULL,
	cache_type text COLLATE "C" NOT NULL,
	cache_id   text COLLATE "C" NOT NULL,
	group_id   text COLLATE "C" NOT NULL,
	PRIMARY KEY (account, region, cache_type, cache_id, group_id),
	FOREIGN KEY (account, region, cache_type, cache_id) REFERENCES caches (account, region, kind, id) ON DELETE CASCADE,
	FOREIGN KEY (account, region, group_id) REFERENCES user_groups (account, region, id) ON DELETE CASCADE
);

CREATE INDEX cache_user_groups_group ON cache_user_groups (account, region, group_id, cache_type, cache_id);

-- keyward_update_lock holds no rows: every Update locks it first thing in
-- ROW SHARE mode, and an Update that lost conflicts twice runs alone by
-- locking it in EXCLUSIVE mode (see Store.Update).
CREATE TABLE keyward_update_lock ();
