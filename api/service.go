// Package api implements the ElastiCache API (ecapi.Service) on top of the
// keyward domain and a keyward.Store. It is the one package that speaks both
// vocabularies: it converts generated wire types to domain values and back,
// and maps domain error kinds to the model's faults (errors.go).
//
// Handlers validate, then record an accepted change in one transaction and
// enqueue the resource for the reconciler; they never sleep and never
// complete a transition themselves.
package api

import (
	"context"
	"keyward/s3dir"
	"sync"
	"time"

	"keyward"
	"keyward/awsquery"
	"keyward/ecapi"
)

// Service implements ecapi.Service. Operations not implemented yet answer
// NotImplemented (HTTP 501) through the embedded UnimplementedService.
type Service struct {
	ecapi.UnimplementedService

	Store  keyward.Store
	Quotas keyward.Quotas
	Now    func() time.Time
	// PaymentPending is how long a purchased reservation stays
	// payment-pending (0: 2 s).
	PaymentPending time.Duration
	// TransitionDelay is how long the reconciler holds intermediate
	// statuses (server.Config.TransitionDelay). With none, DeleteUser
	// removes a user that is in no user group at once, in its own
	// transaction: the reconciler would only remove it, with nothing to
	// wait for (DescribeUsers then answers UserNotFound, which clients
	// take as deleted, as they take deleting).
	TransitionDelay time.Duration

	// Notify is called with every resource whose stored state changed, after
	// the change committed (the reconciler's Enqueue). Optional.
	Notify func(keyward.Key)

	// NodeUp reports whether an engine node (keyward.Cache.NodeID) runs
	// and answers; known is false where this process runs no engine.
	// Describe calls show a known-down member of an available cache as
	// being recovered. Optional.
	NodeUp func(nodeID string) (up, known bool)

	// Buckets are where snapshots are exported to and restored from
	// (TargetBucket, S3 ARNs); "" when keyward has none (--s3-dir).
	Buckets s3dir.Dir

	seeded sync.Map // keyward.Scope → true once the scope's default user exists
}

var _ ecapi.Service = (*Service)(nil)

// New returns a Service with default quotas.
func New(store keyward.Store) *Service {
	return &Service{Store: store, Quotas: keyward.DefaultQuotas(), Now: time.Now}
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// scope returns the caller's scope (account and region from its credential)
// and makes sure the scope has its built-in default user.
func (s *Service) scope(ctx context.Context) (keyward.Scope, error) {
	sc := keyward.DefaultScope
	if c, ok := awsquery.CallerFrom(ctx); ok {
		if c.AccountID != "" {
			sc.Account = c.AccountID
		}
		if c.Region != "" {
			sc.Region = c.Region
		}
	}
	if _, ok := s.seeded.Load(sc); ok {
		return sc, nil
	}
	err := s.Store.Update(ctx, func(tx keyward.Tx) error {
		_, err := tx.FindUserByID(ctx, sc, keyward.DefaultUserID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			err = tx.CreateUser(ctx, keyward.NewDefaultUser(sc, s.now()))
		}
		return err
	})
	if err != nil && keyward.ErrorCode(err) != keyward.EEXISTS {
		return sc, err
	}
	s.seeded.Store(sc, true)
	return sc, nil
}

func (s *Service) notify(keys ...keyward.Key) {
	if s.Notify == nil {
		return
	}
	for _, k := range keys {
		s.Notify(k)
	}
}

func userKey(sc keyward.Scope, id string) keyward.Key {
	return keyward.Key{Resource: keyward.ResourceUser, Scope: sc, ID: id}
}

func userGroupKey(sc keyward.Scope, id string) keyward.Key {
	return keyward.Key{Resource: keyward.ResourceUserGroup, Scope: sc, ID: id}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

// nonNil makes an empty list encode as an empty element rather than be
// omitted: real ElastiCache answers "UserGroupIds": [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// cacheKeys returns the caches a group is attached to, so that a change of
// the group reaches their nodes without waiting for the group's own pass.
func cacheKeys(g *keyward.UserGroup) []keyward.Key {
	var keys []keyward.Key
	for _, id := range g.ReplicationGroups {
		keys = append(keys, keyward.Key{Resource: keyward.ResourceReplicationGroup, Scope: g.Scope, ID: id})
	}
	for _, id := range g.ServerlessCaches {
		keys = append(keys, keyward.Key{Resource: keyward.ResourceServerlessCache, Scope: g.Scope, ID: id})
	}
	return keys
}
