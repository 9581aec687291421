// Package serviceupdates is the catalogue of ElastiCache service updates, as
// DescribeServiceUpdates shows them: engine patch updates (type
// security-update) for the engine versions keyward runs, with their
// severities, release, recommended apply-by and end dates.
//
// It is pure data, generated (updates_gen.go, by `go generate
// ./serviceupdates`) from source.tsv, a hand-written table; see its header
// for what is documented and what is modelled. An update's status depends
// on the time: available until its end date, expired after, unless it was
// cancelled.
package serviceupdates

import (
	"strings"
	"time"
)

//go:generate go run ./internal/gen

// Status values (ServiceUpdateStatus).
const (
	StatusAvailable = "available"
	StatusCancelled = "cancelled"
	StatusExpired   = "expired"
)

// Update is one service update.
type Update struct {
	Name               string
	Released           time.Time
	RecommendedApplyBy time.Time
	End                time.Time
	Severity           string // critical, important, medium, low
	Type               string // security-update
	Engine             string // redis, valkey, memcached
	EngineVersion      string // major.minor the update applies to ("7.0")
	AutoUpdate         bool   // AutoUpdateAfterRecommendedApplyByDate
	EstimatedTime      string
	Cancelled          bool
	Description        string
	Source             string
}

// StatusAt is the update's ServiceUpdateStatus at time now.
func (u Update) StatusAt(now time.Time) string {
	switch {
	case u.Cancelled:
		return StatusCancelled
	case !now.Before(u.End):
		return StatusExpired
	}
	return StatusAvailable
}

// ReleasedAt reports whether the update exists at time now (updates are not
// shown before their release date).
func (u Update) ReleasedAt(now time.Time) bool { return !now.Before(u.Released) }

// AppliesTo reports whether the update is for a cache of engine at
// version (any patch level of the update's major.minor).
func (u Update) AppliesTo(engine, version string) bool {
	return strings.EqualFold(u.Engine, engine) && (version == u.EngineVersion || strings.HasPrefix(version, u.EngineVersion+"."))
}

// All returns every update, sorted by name.
func All() []Update { return updates }

// ByName returns the update with the given name.
func ByName(name string) (Update, bool) {
	for _, u := range updates {
		if u.Name == name {
			return u, true
		}
	}
	return Update{}, false
}

// At returns the updates released by now whose status at now is one of
// statuses (all statuses when none is given), sorted by name.
func At(now time.Time, statuses ...string) []Update {
	var out []Update
	for _, u := range updates {
		if !u.ReleasedAt(now) {
			continue
		}
		if len(statuses) > 0 && !contains(statuses, u.StatusAt(now)) {
			continue
		}
		out = append(out, u)
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
