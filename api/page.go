package api

import (
	"encoding/base64"
	"strings"

	"keyward"
)

// Paging bounds. The model documents 20–100 (default 100) only for
// DescribeReplicationGroups; the spec applies the same range to users and
// groups (Q11). Out-of-range values get InvalidParameterCombination, the only
// client fault these operations declare.
const (
	minRecords     = 20
	maxRecords     = 100
	defaultRecords = 100
	markerPrefix   = "kw1:"
)

type page struct {
	max   int
	after string // last id of the previous page
}

func parsePage(limit *int32, marker *string) (page, error) {
	p := page{max: defaultRecords}
	if limit != nil {
		n := int(*limit)
		if n < minRecords || n > maxRecords {
			return p, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, "MaxRecords must be between %d and %d.", minRecords, maxRecords)
		}
		p.max = n
	}
	if marker != nil && *marker != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*marker)
		if err != nil || !strings.HasPrefix(string(raw), markerPrefix) {
			return p, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, "Invalid marker %s.", *marker)
		}
		p.after = strings.TrimPrefix(string(raw), markerPrefix)
	}
	return p, nil
}

// encodeMarker makes an opaque marker pointing after id. Markers are opaque
// to callers but stable: a page boundary is an id, not an offset, so
// creations and deletions between calls never skip or repeat an item.
func encodeMarker(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(markerPrefix + id))
}
