-- 0003_documents: one store for every resource kind. Each resource is a
-- document (the JSON of its domain type) keyed by (kind, account, region,
-- id); doc_index holds the fields lookups filter on and doc_refs the
-- references between documents, from which both ends of a relation are
-- derived (see keyward.DocTx). A new kind needs no new table.
--
-- The rows of 0001/0002 are moved into documents, in the JSON keyward's
-- domain types read (their json tags), and the old tables dropped: a data
-- directory of an earlier release keeps every user, group, tag and cache.

CREATE TABLE docs (
	kind    TEXT NOT NULL,
	account TEXT NOT NULL,
	region  TEXT NOT NULL,
	id      TEXT NOT NULL,
	body    BLOB NOT NULL,
	settled INTEGER NOT NULL CHECK (settled IN (0, 1)),
	PRIMARY KEY (kind, account, region, id)
) WITHOUT ROWID;

-- FindUnsettled reads only the few documents in a transition.
CREATE INDEX docs_unsettled ON docs (kind, account, region, id) WHERE settled = 0;

CREATE TABLE doc_index (
	kind    TEXT NOT NULL,
	account TEXT NOT NULL,
	region  TEXT NOT NULL,
	field   TEXT NOT NULL,
	value   TEXT NOT NULL,
	id      TEXT NOT NULL,
	PRIMARY KEY (kind, account, region, field, value, id)
) WITHOUT ROWID;

-- The key of a document's own index rows, to replace them.
CREATE INDEX doc_index_doc ON doc_index (kind, account, region, id);

CREATE TABLE doc_refs (
	account         TEXT NOT NULL,
	region          TEXT NOT NULL,
	from_kind       TEXT NOT NULL,
	from_id         TEXT NOT NULL,
	relation        TEXT NOT NULL,
	to_kind         TEXT NOT NULL,
	to_id           TEXT NOT NULL,
	restrict_delete INTEGER NOT NULL CHECK (restrict_delete IN (0, 1)),
	PRIMARY KEY (account, region, from_kind, from_id, relation, to_kind, to_id)
) WITHOUT ROWID;

-- A document's referrers: derived lists, restrict checks, cascades.
CREATE INDEX doc_refs_to ON doc_refs (account, region, to_kind, to_id, from_kind, from_id);

INSERT INTO docs (kind, account, region, id, body, settled)
SELECT 'user', account, region, id, json_object(
	'scope', json_object('account', account, 'region', region),
	'id', id, 'name', name, 'engine', engine, 'access_string', access_string, 'auth', auth,
	'password_hashes', json(nullif(password_hashes, '[]')),
	'min_engine_version', min_engine_version, 'status', status, 'status_since', status_since,
	'generation', generation, 'created_at', created_at,
	'leaving_groups', json(nullif(leaving_groups, '[]'))), status = 'active'
FROM users;

INSERT INTO doc_index (kind, account, region, field, value, id)
SELECT 'user', account, region, 'engine', engine, id FROM users
UNION ALL
SELECT 'user', account, region, 'name', name, id FROM users;

INSERT INTO docs (kind, account, region, id, body, settled)
SELECT 'usergroup', account, region, id, json_object(
	'scope', json_object('account', account, 'region', region),
	'id', id, 'engine', engine, 'status', status, 'status_since', status_since,
	'generation', generation, 'created_at', created_at,
	'pending_add', json(nullif(pending_add, '[]')), 'pending_remove', json(nullif(pending_remove, '[]')),
	'min_engine_version', min_engine_version), status = 'active'
FROM user_groups;

INSERT INTO doc_refs (account, region, from_kind, from_id, relation, to_kind, to_id, restrict_delete)
SELECT account, region, 'usergroup', group_id, 'member', 'user', user_id, 0 FROM user_group_members;

INSERT INTO docs (kind, account, region, id, body, settled)
SELECT kind, account, region, id, json_object(
	'kind', kind, 'scope', json_object('account', account, 'region', region),
	'id', id, 'description', description, 'engine', engine, 'engine_version', engine_version,
	'cache_node_type', cache_node_type, 'status', status, 'status_since', status_since,
	'generation', generation, 'created_at', created_at, 'num_nodes', num_nodes,
	'transit_encryption', json(CASE WHEN transit_encryption THEN 'true' ELSE 'false' END),
	'auth_token_hashes', json(nullif(auth_token_hashes, '[]')),
	'auth_token_optional', json(CASE WHEN auth_token_optional THEN 'true' ELSE 'false' END),
	'auth_token_last_modified', auth_token_last_modified,
	'pending_user_groups_add', json(nullif(pending_user_groups_add, '[]')),
	'pending_user_groups_remove', json(nullif(pending_user_groups_remove, '[]')),
	'nodes', json(nodes), 'failure_message', failure_message, 'applied_acl', applied_acl,
	'applied_default_user', applied_default_user), status IN ('available', 'create-failed')
FROM caches;

-- Only attachments of caches that exist (0001's table did not reference
-- the cache).
INSERT INTO doc_refs (account, region, from_kind, from_id, relation, to_kind, to_id, restrict_delete)
SELECT a.account, a.region, a.cache_type, a.cache_id, 'usergroup', 'usergroup', a.group_id, 1
FROM cache_user_groups a
JOIN caches c ON c.account = a.account AND c.region = a.region AND c.kind = a.cache_type AND c.id = a.cache_id;

INSERT INTO docs (kind, account, region, id, body, settled)
SELECT 'tags', account, region, resource_type || '/' || resource_id, json_object(
	'scope', json_object('account', account, 'region', region),
	'ref', json_object('type', resource_type, 'id', resource_id),
	'tags', json_group_array(json_object('key', key, 'value', value) ORDER BY position)), 1
FROM tags
GROUP BY account, region, resource_type, resource_id;

DROP TABLE cache_user_groups;
DROP TABLE user_group_members;
DROP TABLE caches;
DROP TABLE user_groups;
DROP TABLE users;
DROP TABLE tags;
