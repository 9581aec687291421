package keyward

import "context"

// Store is keyward's durable state. Implementations: package sqlite (the
// embedded default) and package postgres (several replicas, one truth).
// The storetest package holds the behaviour every implementation must show.
//
// A backend stores documents (DocTx); typed access to every kind is built
// on them once, in this package (Tx, Kind).
//
// Both methods are safe for concurrent use. fn may run more than once when a
// backend retries a transaction that lost a conflict, so it must do no I/O
// except through Tx and must not keep state across runs.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it durably if
	// fn returns nil: once Update returns nil the change survives a crash.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the store's resources.
	Close() error
}

// CacheFilter selects caches. Zero fields match everything.
type CacheFilter struct {
	ID      string
	AfterID string
	Limit   int
}

// UserFilter selects users. Zero fields match everything.
type UserFilter struct {
	ID      string // exact id
	Engine  Engine
	Name    string // exact user name
	AfterID string // only ids greater than this (pagination)
	Limit   int    // at most this many; 0 means no limit
}

// UserGroupFilter selects user groups. Zero fields match everything.
type UserGroupFilter struct {
	ID      string
	AfterID string
	Limit   int
}

// Key names one resource for the reconciler's queue.
type Key struct {
	Resource Resource
	Scope    Scope
	ID       string
}

// String returns a readable key such as "user/000000000000/us-east-1/alice".
func (k Key) String() string {
	return string(k.Resource) + "/" + k.Scope.Account + "/" + k.Scope.Region + "/" + k.ID
}
