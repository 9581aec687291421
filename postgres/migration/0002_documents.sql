-- 0002_documents: one store for every resource kind, as in package
-- sqlite's 0003. Each resource is a document (the JSON of its domain type)
-- keyed by (kind, account, region, id); doc_index holds the fields lookups
-- filter on and doc_refs the references between documents, from which both
-- ends of a relation are derived (see keyward.DocTx). A new kind needs no
-- new table. There are no foreign keys: the store checks references in the
-- transaction, and SERIALIZABLE makes a concurrent change of what it
-- checked a conflict that Update retries.
--
-- The rows of 0001 are moved into documents, in the JSON keyward's domain
-- types read (their json tags), and the old tables dropped: a database of
-- an earlier release keeps every user, group, tag and cache.

CREATE TABLE docs (
	kind    text COLLATE "C" NOT NULL,
	account text COLLATE "C" NOT NULL,
	region  text COLLATE "C" NOT NULL,
	id      text COLLATE "C" NOT NULL,
	body    bytea NOT NULL,
	settled boolean NOT NULL,
	PRIMARY KEY (kind, account, region, id)
);

CREATE INDEX docs_unsettled ON docs (kind, account, region, id) WHERE NOT settled;

CREATE TABLE doc_index (
	kind    text COLLATE "C" NOT NULL,
	account text COLLATE "C" NOT NULL,
	region  text COLLATE "C" NOT NULL,
	field   text COLLATE "C" NOT NULL,
	value   text COLLATE "C" NOT NULL,
	id      text COLLATE "C" NOT NULL,
	PRIMARY KEY (kind, account, region, field, value, id)
);

CREATE INDEX doc_index_doc ON doc_index (kind, account, region, id);

CREATE TABLE doc_refs (
	account         text COLLATE "C" NOT NULL,
	region          text COLLATE "C" NOT NULL,
	from_kind       text COLLATE "C" NOT NULL,
	from_id         text COLLATE "C" NOT NULL,
	relation        text COLLATE "C" NOT NULL,
	to_kind         text COLLATE "C" NOT NULL,
	to_id           text COLLATE "C" NOT NULL,
	restrict_delete boolean NOT NULL,
	PRIMARY KEY (account, region, from_kind, from_id, relation, to_kind, to_id)
);

CREATE INDEX doc_refs_to ON doc_refs (account, region, to_kind, to_id, from_kind, from_id);

-- 0001's times are nanoseconds since the epoch, NULL for Go's zero time;
-- documents hold RFC 3339 text with nanoseconds.
CREATE FUNCTION pg_temp.keyward_time(ns bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN ns IS NULL THEN '0001-01-01T00:00:00Z'
	ELSE to_char(to_timestamp(div(ns, 1000000000)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
		|| '.' || lpad(mod(ns, 1000000000)::text, 9, '0') || 'Z' END
$$;

-- Lists: NULL (absent) when empty, as Go's omitempty writes them.
CREATE FUNCTION pg_temp.keyward_list(a text[]) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN cardinality(a) = 0 THEN NULL ELSE to_jsonb(a) END
$$;

INSERT INTO docs (kind, account, region, id, body, settled)
SELECT 'user', account, region, id, convert_to(jsonb_strip_nulls(jsonb_build_object(
	'scope', jsonb_build_object('account', account, 'region', region),
	'id', id, 'name', name, 'engine', engine, 'access_string', access_string, 'auth', auth,
	'password_hashes', pg_temp.keyward_list(password_hashes),
	'min_engine_version', min_engine_version, 'status', status,
	'status_since', pg_temp.keyward_time(status_since),
	'generation', generation, 'created_at', pg_temp.keyward_time(created_at),
	'leaving_groups', pg_temp.keyward_list(leaving_groups::text[])))::text, 'UTF8'), status = 'active'
FROM users;

INSERT INTO doc_index (kind, account, region, field, value, id)
SELECT 'user', account, region, 'engine', engine, id FROM users
UNION ALL
SELECT 'user', account, region, 'name', name, id FROM users;

INSERT INTO docs (kind, account, region, id, body, settled)
SELECT 'usergroup', account, region, id, convert_to(jsonb_strip_nulls(jsonb_build_object(
	'scope', jsonb_build_object('account', account, 'region', region),
	'id', id, 'engine', engine, 'status', status, 'status_since', pg_temp.keyward_time(status_since),
	'generation', generation, 'created_at', pg_temp.keyward_time(created_at),
	'pending_add', pg_temp.keyward_list(pending_add::text[]),
	'pending_remove', pg_temp.keyward_list(pending_remove::text[]),
	'min_engine_version', min_engine_version))::text, 'UTF8'), status = 'active'
FROM user_groups;

INSERT INTO doc_refs (account, region, from_kind, from_id, relation, to_kind, to_id, restrict_delete)
SELECT account, region, 'usergroup', group_id, 'member', 'user', user_id, false FROM user_group_members;

INSERT INTO docs (kind, account, region, id, body, settled)
SELECT kind, account, region, id, convert_to(jsonb_strip_nulls(jsonb_build_object(
	'kind', kind, 'scope', jsonb_build_object('account', account, 'region', region),
	'id', id, 'description', description, 'engine', engine, 'engine_version', engine_version,
	'cache_node_type', cache_node_type, 'status', status, 'status_since', pg_temp.keyward_time(status_since),
	'generation', generation, 'created_at', pg_temp.keyward_time(created_at), 'num_nodes', num_nodes,
	'transit_encryption', transit_encryption,
	'auth_token_hashes', pg_temp.keyward_list(auth_token_hashes),
	'auth_token_optional', auth_token_optional,
	'auth_token_last_modified', pg_temp.keyward_time(auth_token_last_modified),
	'pending_user_groups_add', pg_temp.keyward_list(pending_user_groups_add::text[]),
	'pending_user_groups_remove', pg_temp.keyward_list(pending_user_groups_remove::text[]),
	'nodes', nodes, 'failure_message', failure_message, 'applied_acl', applied_acl,
	'applied_default_user', applied_default_user))::text, 'UTF8'), status IN ('available', 'create-failed')
FROM caches;

INSERT INTO doc_refs (account, region, from_kind, from_id, relation, to_kind, to_id, restrict_delete)
SELECT account, region, cache_type, cache_id, 'usergroup', 'usergroup', group_id, true FROM cache_user_groups;

INSERT INTO docs (kind, account, region, id, body, settled)
SELECT 'tags', account, region, resource_type || '/' || resource_id, convert_to(jsonb_build_object(
	'scope', jsonb_build_object('account', account, 'region', region),
	'ref', jsonb_build_object('type', resource_type, 'id', resource_id),
	'tags', jsonb_agg(jsonb_build_object('key', key, 'value', value) ORDER BY position))::text, 'UTF8'), true
FROM tags
GROUP BY account, region, resource_type, resource_id;

DROP TABLE cache_user_groups;
DROP TABLE user_group_members;
DROP TABLE caches;
DROP TABLE user_groups;
DROP TABLE users;
DROP TABLE tags;
