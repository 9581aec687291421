// Package reserved is ElastiCache's catalogue of reserved cache node
// offerings, as DescribeReservedCacheNodesOfferings lists them: node types ×
// 1- and 3-year terms × offering types ("No Upfront", "Partial Upfront",
// "All Upfront", and the legacy "Heavy/Medium/Light Utilization" of
// previous-generation node types) × product descriptions (redis, memcached,
// valkey), with their fixed, usage and recurring prices.
//
// The catalogue is pure data. It is generated (offerings_gen.go, by
// `go generate ./reserved`) from source.tsv, a hand-written table whose rows
// each say whether their numbers are documented (and where) or derived and
// how; every Offering carries that provenance in Source. Offerings AWS
// documents keep their documented ids; the others get a stable id derived
// from their attributes.
package reserved

import (
	"fmt"
	"strconv"
	"strings"
)

//go:generate go run ./internal/gen

// Term lengths in seconds, as the API reports Duration.
const (
	OneYear   int32 = 31536000
	ThreeYear int32 = 94608000
)

// Offering is one reserved cache node offering.
type Offering struct {
	ID           string
	NodeType     string
	Duration     int32 // seconds
	FixedPrice   float64
	UsagePrice   float64
	Product      string // ProductDescription: redis, memcached, valkey
	OfferingType string
	Recurring    []Charge
	Source       string // "documented …", "derived …" or "assumed …"
}

// Charge is a recurring charge.
type Charge struct {
	Amount    float64
	Frequency string // "Hourly"
}

// All returns every offering, sorted by id (the order DescribeReservedCacheNodesOfferings pages in).
func All() []Offering { return offerings }

// ByID returns the offering with the given id.
func ByID(id string) (Offering, bool) {
	for _, o := range offerings {
		if o.ID == id {
			return o, true
		}
	}
	return Offering{}, false
}

// Filter selects offerings; empty fields match everything.
type Filter struct {
	ID           string
	NodeType     string
	Duration     string // years ("1", "3") or seconds ("31536000"), as the API takes it
	Product      string
	OfferingType string
}

// ParseDuration reads the Duration filter of the API: a number of years
// (1 or 3) or of seconds. The ISO 8601 forms P1Y and P3Y, which the
// Terraform offering data source takes, are read too.
func ParseDuration(s string) (int32, error) {
	s = strings.TrimSpace(s)
	switch strings.ToUpper(s) {
	case "P1Y":
		return OneYear, nil
	case "P3Y":
		return ThreeYear, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid duration %q: give 1 or 3 (years) or %d or %d (seconds)", s, OneYear, ThreeYear)
	}
	switch {
	case n == 1 || n == 3:
		return int32(n) * OneYear, nil
	case n == int64(OneYear) || n == int64(ThreeYear):
		return int32(n), nil
	}
	return 0, fmt.Errorf("invalid duration %q: give 1 or 3 (years) or %d or %d (seconds)", s, OneYear, ThreeYear)
}

// Find returns the offerings f selects, in catalogue order.
func Find(f Filter) ([]Offering, error) {
	var dur int32
	if f.Duration != "" {
		d, err := ParseDuration(f.Duration)
		if err != nil {
			return nil, err
		}
		dur = d
	}
	var out []Offering
	for _, o := range offerings {
		if f.ID != "" && o.ID != f.ID ||
			f.NodeType != "" && o.NodeType != f.NodeType ||
			dur != 0 && o.Duration != dur ||
			f.Product != "" && o.Product != f.Product ||
			f.OfferingType != "" && o.OfferingType != f.OfferingType {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}
