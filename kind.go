package keyward

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Kind declares how one resource type T is stored as documents (see
// DocTx), and gives typed access to them. A declaration is the whole cost
// of a new resource kind in the store: its name, its key, the fields
// lookups filter on, its references, and how derived fields are filled
// back from references on a read.
//
// T's body is its JSON encoding; fields that live in references (both ends
// of a relation) are tagged `json:"-"` so that they have one truth.
type Kind[T any] struct {
	// Name is the document kind and the Resource of its errors.
	Name Resource
	// Key returns the scope and id of a value.
	Key func(*T) (Scope, string)
	// TagType, if set, is the ARN type whose tags go with the resource:
	// Delete removes them too.
	TagType ARNType
	// Settled reports whether the value rests (nil: always).
	Settled func(*T) bool
	// Index returns the fields lookups filter on (nil: none). It reads
	// only what the body stores (not what Load derives), so that an
	// Update whose fields are unchanged keeps the stored index rows
	// (Doc.IndexKept); a change of what a kind indexes therefore needs
	// a migration that reindexes the stored documents.
	Index func(*T) []Field
	// Refs returns the value's references (nil: none).
	Refs func(*T) []Ref
	// Load fills derived fields from a read document's Refs and
	// Referrers (nil: nothing derived).
	Load func(*T, *Doc)
	// Changes returns the events a stored transition reports (old nil on
	// Create, cur nil on Delete); they are recorded in the same
	// transaction (nil: the kind reports none). See Event.
	Changes func(old, cur *T) []*Event
	// Clone, if set, returns a deep copy of a value, and lets reads skip
	// decoding a body they decoded before (see decodeCache).
	Clone func(*T) *T

	cache decodeCache[T]
}

// decodeCache holds, per document, the value its body last decoded to
// (before Load), so that a read of a document that has not changed since
// the last read costs a Clone instead of a JSON decode; the decode is most
// of the CPU of a point read. The body is the whole stored truth of a
// value, so a hit (the same body) is always right. Keyed by document, not
// by body, it holds one value per document however often the document
// changes. Cached values are never handed out, only their clones.
type decodeCache[T any] struct {
	mu sync.RWMutex
	m  map[DocKey]decoded[T]
}

type decoded[T any] struct {
	body []byte
	v    *T
}

// decodeCacheMax bounds the cache; it is emptied when full.
const decodeCacheMax = 1024

func (c *decodeCache[T]) get(d *Doc) *T {
	c.mu.RLock()
	e, ok := c.m[DocKey{d.Kind, d.Scope, d.ID}]
	c.mu.RUnlock()
	if !ok || !bytes.Equal(e.body, d.Body) {
		return nil
	}
	return e.v
}

func (c *decodeCache[T]) put(d *Doc, v *T) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= decodeCacheMax {
		c.m = make(map[DocKey]decoded[T])
	}
	// The store may reuse d.Body's array; the cache keeps its own copy.
	c.m[DocKey{d.Kind, d.Scope, d.ID}] = decoded[T]{body: bytes.Clone(d.Body), v: v}
	c.mu.Unlock()
}

// Get returns the value with the id, or ENOTFOUND.
func (k *Kind[T]) Get(ctx context.Context, tx Tx, s Scope, id string) (*T, error) {
	ds, err := tx.docs.ListDocs(ctx, k.query(DocQuery{Scope: s, ID: id}))
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, ErrDocNotFound(string(k.Name), id)
	}
	return k.decode(ds[0])
}

// Find returns the values q selects (q.Kind is set to the kind).
func (k *Kind[T]) Find(ctx context.Context, tx Tx, q DocQuery) ([]*T, error) {
	ds, err := tx.docs.ListDocs(ctx, k.query(q))
	if err != nil {
		return nil, err
	}
	out := make([]*T, len(ds))
	for i, d := range ds {
		if out[i], err = k.decode(d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// query completes q for the kind.
func (k *Kind[T]) query(q DocQuery) DocQuery {
	q.Kind = string(k.Name)
	q.NoRefs = k.Refs == nil
	return q
}

// Count returns how many values the scope holds.
func (k *Kind[T]) Count(ctx context.Context, tx Tx, s Scope) (int, error) {
	return tx.docs.CountDocs(ctx, string(k.Name), s)
}

// Create stores a new value: EEXISTS if its id is taken, ENOTFOUND if a
// reference points at nothing.
func (k *Kind[T]) Create(ctx context.Context, tx Tx, v *T) error {
	d, err := k.encode(v)
	if err != nil {
		return err
	}
	if err := tx.docs.InsertDoc(ctx, d); err != nil || k.Changes == nil {
		return err
	}
	return tx.RecordEvent(ctx, k.Changes(nil, v)...)
}

// Update replaces a stored value: ENOTFOUND if absent or if a reference
// points at nothing.
func (k *Kind[T]) Update(ctx context.Context, tx Tx, v *T) error {
	d, err := k.encode(v)
	if err != nil {
		return err
	}
	var old *T
	if k.Changes != nil {
		s, id := k.Key(v)
		if old, err = k.Get(ctx, tx, s, id); err != nil {
			return err
		}
		// Most updates change a status, not what lookups filter on.
		d.IndexKept = k.Index != nil && slices.Equal(k.Index(old), d.Index)
	}
	if err := tx.docs.UpdateDoc(ctx, d); err != nil || k.Changes == nil {
		return err
	}
	return tx.RecordEvent(ctx, k.Changes(old, v)...)
}

// Delete removes a value, the references it holds and its tags:
// ENOTFOUND if absent, EREFERENCED if something restricts its deletion.
func (k *Kind[T]) Delete(ctx context.Context, tx Tx, s Scope, id string) error {
	var old *T
	if k.Changes != nil {
		var err error
		if old, err = k.Get(ctx, tx, s, id); err != nil {
			return err
		}
	}
	if err := tx.docs.DeleteDoc(ctx, string(k.Name), s, id); err != nil {
		return err
	}
	if old != nil {
		if err := tx.RecordEvent(ctx, k.Changes(old, nil)...); err != nil {
			return err
		}
	}
	if k.TagType == "" {
		return nil
	}
	// The tags go with it, if it has any.
	err := tx.docs.DeleteDoc(ctx, string(Tags.Name), s, tagsID(ResourceRef{Type: k.TagType, ID: id}))
	if ErrorCode(err) == ENOTFOUND {
		return nil
	}
	return err
}

func (k *Kind[T]) encode(v *T) (*Doc, error) {
	s, id := k.Key(v)
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("keyward: encode %s %s: %w", k.Name, id, err)
	}
	d := &Doc{Kind: string(k.Name), Scope: s, ID: id, Body: body, Settled: true}
	if k.Settled != nil {
		d.Settled = k.Settled(v)
	}
	if k.Index != nil {
		d.Index = k.Index(v)
	}
	if k.Refs != nil {
		d.Refs = k.Refs(v)
	} else {
		d.NoRefs = true
	}
	return d, nil
}

func (k *Kind[T]) decode(d *Doc) (*T, error) {
	var v *T
	if k.Clone != nil {
		if c := k.cache.get(d); c != nil {
			v = k.Clone(c)
		}
	}
	if v == nil {
		v = new(T)
		if err := json.Unmarshal(d.Body, v); err != nil {
			return nil, fmt.Errorf("keyward: decode %s %s: %w", k.Name, d.ID, err)
		}
		if k.Clone != nil {
			k.cache.put(d, k.Clone(v))
		}
	}
	if k.Load != nil {
		k.Load(v, d)
	}
	return v, nil
}

// RefIDs returns the ids of the references with the relation, in order.
func RefIDs(refs []Ref, relation, kind string) []string {
	var ids []string
	for _, r := range refs {
		if r.Relation == relation && r.Kind == kind {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// refsTo builds one reference per id.
func refsTo(relation, kind string, restrict bool, ids []string) []Ref {
	refs := make([]Ref, len(ids))
	for i, id := range ids {
		refs[i] = Ref{Relation: relation, Kind: kind, ID: id, Restrict: restrict}
	}
	return refs
}
