-- 0004_columns: a document's index fields and references move into its
-- own row (fields: a JSON array of [name, value]; refs: "relation kind id
-- restrict" joined by commas), so that writing a document is one
-- statement; the store keeps both in memory for lookups (memindex.go).
-- commit_seq holds the version of the database, which every write
-- transaction increments: the in-memory index is kept per version, and a
-- snapshot reads the version it is at.

ALTER TABLE docs ADD COLUMN fields TEXT NOT NULL DEFAULT '[]';
ALTER TABLE docs ADD COLUMN refs TEXT NOT NULL DEFAULT '';

UPDATE docs SET fields = coalesce((
	SELECT json_group_array(json_array(i.field, i.value)) FROM (
		SELECT field, value FROM doc_index i
		WHERE i.kind = docs.kind AND i.account = docs.account AND i.region = docs.region AND i.id = docs.id
		ORDER BY field, value) i), '[]');

UPDATE docs SET refs = coalesce((
	SELECT group_concat(r.relation || ' ' || r.to_kind || ' ' || r.to_id || ' ' || r.restrict_delete, ',') FROM (
		SELECT relation, to_kind, to_id, restrict_delete FROM doc_refs r
		WHERE r.account = docs.account AND r.region = docs.region AND r.from_kind = docs.kind AND r.from_id = docs.id
		ORDER BY relation, to_kind, to_id) r), '');

DROP TABLE doc_index;
DROP TABLE doc_refs;

CREATE TABLE commit_seq (n INTEGER NOT NULL);
INSERT INTO commit_seq (n) VALUES (1);
