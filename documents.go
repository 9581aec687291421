package keyward

import (
	"context"
	"strings"
)

// Every resource kind is stored the same way: as a document, the JSON of
// its domain type, keyed by (kind, account, region, id), plus two things
// the store keeps in step with each document:
//
//   - index fields, (name, value) pairs that lookups and filters use
//     without decoding documents (a user's engine and name, say);
//   - references to other documents of the same scope, each named by a
//     relation ("member", "usergroup") and carrying its delete rule.
//
// A relation lives only in the reference rows, never in the document body:
// both of its ends are derived from the same rows on every read (a group's
// UserIDs and a user's GroupIDs), so they can never disagree. The store
// enforces the rules inside the transaction: a reference to a missing
// document is refused with ENOTFOUND naming the target's kind, deleting a
// document that a Restrict reference points at is refused with
// EREFERENCED, and deleting a document drops the other (Cascade)
// references to it.
//
// DocTx is what a backend implements; everything typed is built on it once,
// in this package (see Kind). A new resource kind is a Kind declaration:
// no new SQL, no new backend code.
type DocTx interface {
	// GetDoc returns one document with its references and referrers, or
	// ENOTFOUND (with the kind as Resource) if it does not exist.
	GetDoc(ctx context.Context, kind string, s Scope, id string) (*Doc, error)
	// ListDocs returns the documents q selects, with their references and
	// referrers, ordered by id (by account, region and id across scopes).
	ListDocs(ctx context.Context, q DocQuery) ([]*Doc, error)
	// CountDocs returns how many documents of the kind the scope holds.
	CountDocs(ctx context.Context, kind string, s Scope) (int, error)
	// InsertDoc stores a new document, its index fields and its references:
	// EEXISTS if the id is taken, ENOTFOUND (the target's kind) if a
	// reference points at a missing document. d.Referrers is ignored.
	InsertDoc(ctx context.Context, d *Doc) error
	// UpdateDoc replaces a document's body, index fields and references,
	// with the same checks; ENOTFOUND if it does not exist. Referrers (the
	// references other documents hold to it) are kept.
	UpdateDoc(ctx context.Context, d *Doc) error
	// DeleteDoc removes a document, its index fields, its references and
	// the Cascade references that point at it; ENOTFOUND if absent,
	// EREFERENCED if a Restrict reference points at it.
	DeleteDoc(ctx context.Context, kind string, s Scope, id string) error
	// FindUnsettled returns the keys of every document, in every scope and
	// kind, stored with Settled false.
	FindUnsettled(ctx context.Context) ([]DocKey, error)
}

// Doc is one stored document.
type Doc struct {
	Kind  string
	Scope Scope
	ID    string
	// Body is the encoded resource, opaque to the store.
	Body []byte
	// Settled is false while the resource is in a transition that the
	// reconciler must finish (creating, modifying, deleting...).
	Settled bool
	// Index holds the fields lookups filter on.
	Index []Field
	// Refs are the document's references to others, in the order given.
	Refs []Ref
	// Referrers are the references other documents hold to this one, read
	// only: Kind and ID name the referring document. Ordered by kind, then
	// id.
	Referrers []Ref
	// NoRefs, on a write, says the kind never holds references (its
	// declaration has no Refs): a backend need not look for old ones to
	// replace.
	NoRefs bool
	// IndexKept, on UpdateDoc, says Index is what the stored document is
	// indexed by already (the caller read it in the same transaction): a
	// backend need not rewrite the index rows.
	IndexKept bool
}

// DocKey names one document.
type DocKey struct {
	Kind  string
	Scope Scope
	ID    string
}

// Field is one index entry.
type Field struct {
	Name  string
	Value string
}

// Ref is a reference from one document to another of the same scope.
type Ref struct {
	Relation string // what the reference means, e.g. "member"
	Kind     string // the other document's kind
	ID       string // the other document's id
	// Restrict forbids deleting the target while the reference exists;
	// otherwise deleting the target drops the reference (cascade).
	Restrict bool
}

// DocQuery selects documents of one kind. Zero fields match everything.
type DocQuery struct {
	Kind      string
	Scope     Scope
	AllScopes bool    // ignore Scope: every scope, ordered by account, region, id
	ID        string  // exact id
	AfterID   string  // only ids greater than this (pagination within a scope)
	Where     []Field // every field must be indexed with exactly this value
	Limit     int     // at most this many; 0 means no limit
	// NoRefs says the kind never holds references (its declaration has
	// no Refs): a backend may skip reading Doc.Refs, which stays nil.
	NoRefs bool
}

// The errors backends answer with, so that both speak alike.

// ErrDocNotFound is the ENOTFOUND of a missing document.
func ErrDocNotFound(kind, id string) error {
	return Errorf(ENOTFOUND, Resource(kind), "%s %s not found.", Resource(kind).Noun(), id)
}

// ErrDocExists is the EEXISTS of a taken id.
func ErrDocExists(kind, id string) error {
	return Errorf(EEXISTS, Resource(kind), "%s %s already exists.", Resource(kind).Noun(), id)
}

// ErrDocReferenced is the EREFERENCED of a document that another's
// Restrict reference holds.
func ErrDocReferenced(kind, id, byKind, byID string) error {
	return Errorf(EREFERENCED, Resource(kind), "%s %s is in use by %s %s.", Resource(kind).Noun(), id, Resource(byKind).Noun(), byID)
}

// Noun returns how messages name the resource ("User group").
func (r Resource) Noun() string {
	switch r {
	case ResourceUser:
		return "User"
	case ResourceUserGroup:
		return "User group"
	case ResourceReplicationGroup:
		return "Replication group"
	case ResourceServerlessCache:
		return "Serverless cache"
	case ResourceCacheCluster:
		return "Cache cluster"
	case ResourceCacheParameterGroup:
		return "Cache parameter group"
	case ResourceCacheSubnetGroup:
		return "Cache subnet group"
	case ResourceServerlessSnapshot:
		return "Serverless cache snapshot"
	case ResourceGlobalReplicationGroup:
		return "Global replication group"
	}
	if r == "" {
		return "Resource"
	}
	return strings.ToUpper(string(r[:1])) + string(r[1:])
}
