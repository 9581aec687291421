package keyward

import (
	"strconv"
	"time"
)

// ReservedCacheNode is a purchased reservation of an offering of package
// reserved: CacheNodeCount nodes of a node type for a term. Its State is a
// function of the time (see StateAt), so no transition needs finishing and
// the document is always settled.
type ReservedCacheNode struct {
	Scope        Scope             `json:"scope"`
	ID           string            `json:"id"` // as the caller gave it (case kept)
	OfferingID   string            `json:"offering_id"`
	NodeType     string            `json:"node_type"`
	Duration     int32             `json:"duration"` // seconds
	FixedPrice   float64           `json:"fixed_price"`
	UsagePrice   float64           `json:"usage_price"`
	Count        int               `json:"count"`
	Product      string            `json:"product"`
	OfferingType string            `json:"offering_type"`
	Recurring    []RecurringCharge `json:"recurring,omitempty"`
	StartTime    time.Time         `json:"start_time"`
	// ActiveAt is when the payment is taken: payment-pending before it.
	ActiveAt time.Time `json:"active_at"`
}

// RecurringCharge is a reservation's recurring charge.
type RecurringCharge struct {
	Amount    float64 `json:"amount"`
	Frequency string  `json:"frequency"`
}

// Reservation states, as DescribeReservedCacheNodes shows them.
const (
	ReservationPaymentPending = "payment-pending"
	ReservationActive         = "active"
	ReservationRetired        = "retired"
)

// StateAt is the reservation's state at time now: payment-pending until
// its payment, active for its term, then retired.
func (r *ReservedCacheNode) StateAt(now time.Time) string {
	switch {
	case now.Before(r.ActiveAt):
		return ReservationPaymentPending
	case !now.Before(r.StartTime.Add(time.Duration(r.Duration) * time.Second)):
		return ReservationRetired
	}
	return ReservationActive
}

// ResourceReservedCacheNode and ResourceReservedCacheNodesOffering are what
// reservation errors are about.
const (
	ResourceReservedCacheNode          Resource = "reservedcachenode"
	ResourceReservedCacheNodesOffering Resource = "reservedcachenodesoffering"
	ResourceServiceUpdate              Resource = "serviceupdate"
)

// ARNReservedInstance is the ARN type of a reservation
// (arn:aws:elasticache:<region>:<account>:reserved-instance:<id>).
const ARNReservedInstance ARNType = "reserved-instance"

// ReservedCacheNodes stores reservations; they are tagged by ARN.
var ReservedCacheNodes = &Kind[ReservedCacheNode]{
	Name:    ResourceReservedCacheNode,
	Key:     func(r *ReservedCacheNode) (Scope, string) { return r.Scope, r.ID },
	TagType: ARNReservedInstance,
	Index: func(r *ReservedCacheNode) []Field {
		return []Field{
			{Name: "offering", Value: r.OfferingID}, {Name: "nodetype", Value: r.NodeType},
			{Name: "product", Value: r.Product}, {Name: "offeringtype", Value: r.OfferingType},
			{Name: "duration", Value: strconv.Itoa(int(r.Duration))},
		}
	},
}
