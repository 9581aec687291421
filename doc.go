// Package keyward is the domain of keyward, a self-hosted control plane that
// speaks the Amazon ElastiCache API and turns ElastiCache users, user groups
// and caches into real Redis/Valkey servers with real ACLs.
//
// This package holds only the vocabulary: users, user groups, their
// validation rules, error kinds, ARNs and the Store interface that the
// sqlite and postgres packages implement. It imports nothing of keyward's
// own and nothing outside the standard library, so reading it tells what
// keyward is; the sibling packages tell what it uses.
//
// Glossary:
//   - Scope: the AWS account and region a resource lives in. Every resource
//     belongs to exactly one scope, as on AWS.
//   - Status: the API-visible lifecycle state ("creating", "active",
//     "modifying", "deleting"). Transitions out of the intermediate states are
//     made only by the reconciler, never by request handlers.
//   - Generation: a counter bumped on every accepted change; the reconciler
//     completes a transition only for the generation it looked at.
package keyward
